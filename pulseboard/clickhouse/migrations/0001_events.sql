-- The events table. Tenancy first: the sort key starts with project_id, and every query
-- filters on it. person_key is the one definition of "who is a user" (the first of
-- user_id, anonymous_id and distinct_id that is set), hashed to a number so that exact
-- distinct counts and per-person scans stay cheap. ReplacingMergeTree collapses rows that
-- share the full sort key, event_id included, as a last line of defence against a
-- duplicate write; the flush itself never writes an event_id twice.
CREATE TABLE IF NOT EXISTS events
(
    project_id   UInt64,
    event_id     UUID,
    event        LowCardinality(String),
    timestamp    DateTime64(3, 'UTC'),
    distinct_id  String,
    user_id      String DEFAULT '',
    anonymous_id String DEFAULT '',
    person_key   UInt64 MATERIALIZED cityHash64(if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, distinct_id))),
    session_id   String DEFAULT '',
    source       LowCardinality(String) DEFAULT '',
    page_url     String DEFAULT '',
    referrer     String DEFAULT '',
    user_agent   String DEFAULT '',
    ip_hash      String DEFAULT '',
    properties   String DEFAULT '{}' CODEC(ZSTD(3)),
    received_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (project_id, toDate(timestamp), event, person_key, timestamp, event_id);
