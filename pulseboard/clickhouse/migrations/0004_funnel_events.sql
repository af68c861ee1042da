-- The narrow copy of events that funnels read: who did which event when, and nothing else.
--
-- A funnel reads every event of its steps' names for the people who started it. In events
-- those rows sit in one range per day and name, next to the wide columns; here the sort key
-- starts with the name, so each step's events are one range, sorted by person and time.
-- Reading them and testing person_key against the set of starters costs about half as
-- much. Property filters and breakdowns still read properties from events.
--
-- order_key is the time in milliseconds times 2^22 plus the first 22 bits of the event id
-- (as text, 0-9a-f): it sorts events by time and, within a millisecond, almost always by
-- event id, which is the order funnels need. A funnel sorts on it alone, and reads event_id
-- only in the rare case where two events of a person share the millisecond and those 22 bits
-- (see apps/funnels/sql.py). It also gives the partition, by month, so that a time range
-- on order_key prunes partitions.
--
-- Like events, it is a ReplacingMergeTree whose sort key ends in event_id: the flush writes
-- each event once (a redelivered batch only writes the rows events does not hold yet, and
-- the view copies exactly what was written), and a row written twice all the same is
-- collapsed when parts merge.

CREATE TABLE IF NOT EXISTS funnel_events
(
    project_id UInt64,
    event      LowCardinality(String),
    person_key UInt64,
    order_key  UInt64 CODEC(T64, LZ4),
    event_id   UUID
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(toDateTime(intDiv(order_key, 4194304000), 'UTC'))
ORDER BY (project_id, event, person_key, order_key, event_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS funnel_events_mv TO funnel_events AS
SELECT project_id, event, person_key,
       toUInt64(toUnixTimestamp64Milli(timestamp)) * 4194304 + bitShiftRight(reinterpretAsUInt64(event_id), 42) AS order_key,
       event_id
FROM events;

-- Backfill from the events stored before this migration. Rows already copied (by the view,
-- or by an interrupted earlier run of this statement) are skipped, so repeating it adds
-- nothing twice.
INSERT INTO funnel_events
SELECT project_id, event, person_key,
       toUInt64(toUnixTimestamp64Milli(timestamp)) * 4194304 + bitShiftRight(reinterpretAsUInt64(event_id), 42) AS order_key,
       event_id
FROM events
WHERE (project_id, event_id) NOT IN (SELECT project_id, event_id FROM funnel_events);
