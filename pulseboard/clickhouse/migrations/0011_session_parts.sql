-- What the sessions insight needs of each session with an id, a quarter hour at a time.
--
-- The insight groups every event of its reach by session (apps/web/sessionize.py); over 30
-- days of 10M events that is 1.8M sessions, and grouping the raw events was most of its
-- time. Here each (quarter hour, session, person key) keeps numbers only: the first and
-- last event's time, the events, the pageviews, the events that can bounce ($pageview,
-- $screen), and the first and last pageview, each as one number that sorts as the events
-- do (the millisecond, then the event id as ClickHouse orders UUIDs) and ends in the hash
-- of its page_url (0 for an empty one). A session's figures are min, max and sums of its
-- rows: the insight groups about 2.3M rows instead of 10M events, with the same result.
--
-- The quarter hour and the person key are in the sort key so that the insight reads only
-- its reach, a person's deletion deletes the rows of its keys, and the reconciler can
-- compare and rebuild a quarter hour as it does the other rollups (apps/ingest/reconcile.py).
-- Events without a session id are sessionized per person at query time, as before.
--
-- entry is 2^256-1 and exit 0 for a row without a pageview, so that min and max skip it.
-- Like every table the flush's inserts reach, it keeps the deduplication tokens of its
-- recent inserts (0005), so that a batch written again after a crash adds nothing twice.
-- Apply this with the flush stopped, as 0002: the backfill copies what events holds into
-- an empty table, and an insert racing it would be counted twice (the reconciler would
-- repair it).

CREATE TABLE IF NOT EXISTS session_parts_15m
(
    project_id  UInt64,
    slot        DateTime('UTC'),
    session_key UInt64,
    person_key  UInt64,
    started     SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    ended       SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    events      SimpleAggregateFunction(sum, UInt64),
    pageviews   SimpleAggregateFunction(sum, UInt64),
    bounceable  SimpleAggregateFunction(sum, UInt64),
    entry       SimpleAggregateFunction(min, UInt256),
    exit        SimpleAggregateFunction(max, UInt256)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(slot)
ORDER BY (project_id, slot, session_key, person_key)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS session_parts_15m_mv TO session_parts_15m AS
SELECT project_id, toStartOfFifteenMinutes(timestamp) AS slot, session_key, person_key,
       min(timestamp) AS started, max(timestamp) AS ended,
       count() AS events,
       countIf(event = '$pageview') AS pageviews,
       countIf(event IN ('$pageview', '$screen')) AS bounceable,
       if(pageviews = 0, toUInt256('115792089237316195423570985008687907853269984665640564039457584007913129639935'),
          minIf(bitShiftLeft(toUInt256(toUnixTimestamp64Milli(timestamp)), 192) + bitShiftLeft(toUInt256(reinterpretAsUInt128(event_id)), 64)
                + if(page_url = '', 0, cityHash64(page_url)), event = '$pageview')) AS entry,
       maxIf(bitShiftLeft(toUInt256(toUnixTimestamp64Milli(timestamp)), 192) + bitShiftLeft(toUInt256(reinterpretAsUInt128(event_id)), 64)
             + if(page_url = '', 0, cityHash64(page_url)), event = '$pageview') AS exit
FROM events
WHERE session_key != 0
GROUP BY project_id, slot, session_key, person_key;

INSERT INTO session_parts_15m
SELECT project_id, toStartOfFifteenMinutes(timestamp) AS slot, session_key, person_key,
       min(timestamp) AS started, max(timestamp) AS ended,
       count() AS events,
       countIf(event = '$pageview') AS pageviews,
       countIf(event IN ('$pageview', '$screen')) AS bounceable,
       if(pageviews = 0, toUInt256('115792089237316195423570985008687907853269984665640564039457584007913129639935'),
          minIf(bitShiftLeft(toUInt256(toUnixTimestamp64Milli(timestamp)), 192) + bitShiftLeft(toUInt256(reinterpretAsUInt128(event_id)), 64)
                + if(page_url = '', 0, cityHash64(page_url)), event = '$pageview')) AS entry,
       maxIf(bitShiftLeft(toUInt256(toUnixTimestamp64Milli(timestamp)), 192) + bitShiftLeft(toUInt256(reinterpretAsUInt128(event_id)), 64)
             + if(page_url = '', 0, cityHash64(page_url)), event = '$pageview') AS exit
FROM events
WHERE session_key != 0 AND (SELECT count() FROM session_parts_15m) = 0
GROUP BY project_id, slot, session_key, person_key;
