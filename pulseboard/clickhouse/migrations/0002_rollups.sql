-- Rollups that the dashboards read instead of the raw events, kept up to date by
-- materialised views on every insert into events.
--
-- Their time unit is a 15-minute slot in UTC. Every timezone in use today is a whole
-- number of 15-minute steps away from UTC, so a project's local hours, days and weeks are
-- always whole sets of slots: bucketing a rollup in the project's timezone is exact.
--
-- Apply this with the flush stopped (make run and the compose migrate service do): the
-- backfill at the end copies what events already holds, and an insert racing it would be
-- counted twice in event_counts_15m.

-- How many events of each name per slot.
CREATE TABLE IF NOT EXISTS event_counts_15m
(
    project_id UInt64,
    slot       DateTime('UTC'),
    event      LowCardinality(String),
    events     UInt64
)
ENGINE = SummingMergeTree(events)
PARTITION BY toYYYYMM(slot)
ORDER BY (project_id, slot, event);

CREATE MATERIALIZED VIEW IF NOT EXISTS event_counts_15m_mv TO event_counts_15m AS
SELECT project_id, toStartOfFifteenMinutes(timestamp) AS slot, event, count() AS events
FROM events
GROUP BY project_id, slot, event;

-- Who did which event in which slot: a set (duplicates are harmless, every reader counts
-- distinct person_key). DAU/WAU/MAU and unique-user figures read this.
CREATE TABLE IF NOT EXISTS person_slots_15m
(
    project_id UInt64,
    slot       DateTime('UTC'),
    event      LowCardinality(String),
    person_key UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(slot)
ORDER BY (project_id, slot, event, person_key);

CREATE MATERIALIZED VIEW IF NOT EXISTS person_slots_15m_mv TO person_slots_15m AS
SELECT DISTINCT project_id, toStartOfFifteenMinutes(timestamp) AS slot, event, person_key
FROM events;

-- Which sessions were active in which slot (a set, as above).
CREATE TABLE IF NOT EXISTS session_slots_15m
(
    project_id  UInt64,
    slot        DateTime('UTC'),
    session_key UInt64
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(slot)
ORDER BY (project_id, slot, session_key);

CREATE MATERIALIZED VIEW IF NOT EXISTS session_slots_15m_mv TO session_slots_15m AS
SELECT DISTINCT project_id, toStartOfFifteenMinutes(timestamp) AS slot, cityHash64(session_id) AS session_key
FROM events
WHERE session_id != '';

-- Backfill from the events stored before this migration. The counts only into an empty
-- table, so that repeating an interrupted run cannot count anything twice.
INSERT INTO event_counts_15m
SELECT project_id, toStartOfFifteenMinutes(timestamp) AS slot, event, count() AS events
FROM events
WHERE (SELECT count() FROM event_counts_15m) = 0
GROUP BY project_id, slot, event;

INSERT INTO person_slots_15m
SELECT DISTINCT project_id, toStartOfFifteenMinutes(timestamp) AS slot, event, person_key
FROM events;

INSERT INTO session_slots_15m
SELECT DISTINCT project_id, toStartOfFifteenMinutes(timestamp) AS slot, cityHash64(session_id) AS session_key
FROM events
WHERE session_id != '';
