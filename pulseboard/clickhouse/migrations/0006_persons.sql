-- Persons. A row's person_key is the hash of the first of its user_id, anonymous_id and
-- distinct_id (migration 0001); every rollup is keyed by it. When an anonymous id is
-- merged into a user's person, that is recorded as an override of the anonymous id's key
-- (person_overrides) and applied when figures are computed, so no stored row ever changes:
-- a query maps each key through the overrides (apps/query/persons.py), and reads the
-- rollups as they are. Merges are rare next to events, so the override table stays small.
--
-- The tables below are kept by materialised views on every insert into events, like the
-- rollups of 0002-0004, and deduplicate repeated inserts the same way (see 0005).

-- When each user id was first seen as a user id: (time, event id) of its first event.
-- A merge of an anonymous id that was already a user id is refused.
CREATE TABLE IF NOT EXISTS identity_users
(
    project_id UInt64,
    user_key   UInt64,
    first_seen SimpleAggregateFunction(min, Tuple(DateTime64(3, 'UTC'), String))
)
ENGINE = AggregatingMergeTree
ORDER BY (project_id, user_key)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS identity_users_mv TO identity_users AS
SELECT project_id, cityHash64(user_id) AS user_key, min((timestamp, toString(event_id))) AS first_seen
FROM events
WHERE user_id != ''
GROUP BY project_id, user_key;

-- Every pair of an anonymous id and a user id seen on one event (an identify, an alias,
-- or any event that carries both), with the first time it was seen.
CREATE TABLE IF NOT EXISTS identity_merges
(
    project_id   UInt64,
    anon_key     UInt64,
    user_key     UInt64,
    anonymous_id SimpleAggregateFunction(any, String),
    user_id      SimpleAggregateFunction(any, String),
    first_seen   SimpleAggregateFunction(min, Tuple(DateTime64(3, 'UTC'), String))
)
ENGINE = AggregatingMergeTree
ORDER BY (project_id, anon_key, user_key)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS identity_merges_mv TO identity_merges AS
SELECT project_id, cityHash64(anon) AS anon_key, cityHash64(user) AS user_key,
       any(anon) AS anonymous_id, any(user) AS user_id, min((timestamp, toString(event_id))) AS first_seen
FROM (SELECT project_id, anonymous_id AS anon, user_id AS user, timestamp, event_id FROM events
      WHERE user_id != '' AND anonymous_id != '' AND user_id != anonymous_id)
GROUP BY project_id, anon_key, user_key;

-- The decided merges: the key of an anonymous id and the key of the person it belongs to
-- (new_key; 0 when a later look at the facts undid a merge). Written by the flush
-- (apps/persons/services.py), the newest version of a key wins.
CREATE TABLE IF NOT EXISTS person_overrides
(
    project_id UInt64,
    old_key    UInt64,
    new_key    UInt64,
    old_id     String,
    version    UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, old_key);

-- The ids seen under each key, with the first and last time.
CREATE TABLE IF NOT EXISTS person_ids
(
    project_id  UInt64,
    person_key  UInt64,
    distinct_id String,
    first_seen  SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_seen   SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (project_id, person_key, distinct_id)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS person_ids_mv TO person_ids AS
SELECT project_id, person_key, if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, distinct_id)) AS distinct_id,
       min(timestamp) AS first_seen, max(timestamp) AS last_seen
FROM events
GROUP BY project_id, person_key, distinct_id;

-- Person properties per key (replaced by 0007): $set (the latest event wins per property) and $set_once (the
-- earliest wins), values as JSON text. Ties in time go to the greater event id. A person's
-- value of a property is its latest $set over all its keys, or else its earliest $set_once.
CREATE TABLE IF NOT EXISTS person_props
(
    project_id     UInt64,
    person_key     UInt64,
    key            String,
    set_value      AggregateFunction(argMax, String, Tuple(DateTime64(3, 'UTC'), String)),
    set_once_value AggregateFunction(argMin, String, Tuple(DateTime64(3, 'UTC'), String))
)
ENGINE = AggregatingMergeTree
ORDER BY (project_id, person_key, key)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS person_props_mv TO person_props AS
SELECT project_id, person_key, p.1 AS key,
       argMaxStateIf(p.2, (timestamp, toString(event_id)), p.3 = 1) AS set_value,
       argMinStateIf(p.2, (timestamp, toString(event_id)), p.3 = 2) AS set_once_value
FROM events
ARRAY JOIN arrayConcat(
    arrayMap(x -> (x.1, x.2, 1), JSONExtractKeysAndValuesRaw(properties, '$set')),
    arrayMap(x -> (x.1, x.2, 2), JSONExtractKeysAndValuesRaw(properties, '$set_once'))
) AS p
WHERE position(properties, '"$set') > 0
GROUP BY project_id, person_key, key;

-- Backfill from the events stored before this migration (the aggregates merge, so running
-- it again changes nothing).
INSERT INTO identity_users
SELECT project_id, cityHash64(user_id) AS user_key, min((timestamp, toString(event_id)))
FROM events WHERE user_id != '' GROUP BY project_id, user_key;

INSERT INTO identity_merges
SELECT project_id, cityHash64(anon) AS anon_key, cityHash64(user) AS user_key, any(anon), any(user), min((timestamp, toString(event_id)))
FROM (SELECT project_id, anonymous_id AS anon, user_id AS user, timestamp, event_id FROM events
      WHERE user_id != '' AND anonymous_id != '' AND user_id != anonymous_id)
GROUP BY project_id, anon_key, user_key;

INSERT INTO person_ids
SELECT project_id, person_key, if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, distinct_id)) AS distinct_id,
       min(timestamp), max(timestamp)
FROM events GROUP BY project_id, person_key, distinct_id;

INSERT INTO person_props
SELECT project_id, person_key, p.1 AS key,
       argMaxStateIf(p.2, (timestamp, toString(event_id)), p.3 = 1), argMinStateIf(p.2, (timestamp, toString(event_id)), p.3 = 2)
FROM events
ARRAY JOIN arrayConcat(
    arrayMap(x -> (x.1, x.2, 1), JSONExtractKeysAndValuesRaw(properties, '$set')),
    arrayMap(x -> (x.1, x.2, 2), JSONExtractKeysAndValuesRaw(properties, '$set_once'))
) AS p
WHERE position(properties, '"$set') > 0
GROUP BY project_id, person_key, key;
