-- Who was active on which UTC day, and in which of its 96 quarter hours: one row per
-- project, UTC day and person (and event name in person_event_days), once merged. The
-- quarter hours are a 96-bit set split in two words: slots_lo holds quarters 0..63 of the
-- day, slots_hi quarters 64..95. Since every timezone in use is a whole number of quarter
-- hours away from UTC, the quarters say exactly which local day (or hour) of any timezone
-- a person was active in, so these tables serve every project whatever its timezone, and
-- a change of timezone needs no rebuild (see apps/analytics/daymap.py).
--
-- Unique-user figures over days and weeks read these instead of the 15-minute rollups:
-- about one row per person and day instead of one per person, quarter hour and event.
-- Merging ORs the sets, so writing a row twice changes nothing.

CREATE TABLE IF NOT EXISTS person_days
(
    project_id UInt64,
    day        Date,
    person_key UInt64,
    slots_lo   SimpleAggregateFunction(groupBitOr, UInt64),
    slots_hi   SimpleAggregateFunction(groupBitOr, UInt32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (project_id, day, person_key);

CREATE MATERIALIZED VIEW IF NOT EXISTS person_days_mv TO person_days AS
SELECT project_id, toDate(timestamp) AS day, person_key,
       groupBitOr(if(quarter < 64, bitShiftLeft(toUInt64(1), quarter % 64), toUInt64(0))) AS slots_lo,
       groupBitOr(toUInt32(if(quarter >= 64, bitShiftLeft(toUInt64(1), quarter % 64), toUInt64(0)))) AS slots_hi
FROM (SELECT project_id, timestamp, person_key, toHour(timestamp) * 4 + intDiv(toMinute(timestamp), 15) AS quarter FROM events)
GROUP BY project_id, day, person_key;

CREATE TABLE IF NOT EXISTS person_event_days
(
    project_id UInt64,
    event      LowCardinality(String),
    day        Date,
    person_key UInt64,
    slots_lo   SimpleAggregateFunction(groupBitOr, UInt64),
    slots_hi   SimpleAggregateFunction(groupBitOr, UInt32)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (project_id, event, day, person_key);

CREATE MATERIALIZED VIEW IF NOT EXISTS person_event_days_mv TO person_event_days AS
SELECT project_id, event, toDate(timestamp) AS day, person_key,
       groupBitOr(if(quarter < 64, bitShiftLeft(toUInt64(1), quarter % 64), toUInt64(0))) AS slots_lo,
       groupBitOr(toUInt32(if(quarter >= 64, bitShiftLeft(toUInt64(1), quarter % 64), toUInt64(0)))) AS slots_hi
FROM (SELECT project_id, event, timestamp, person_key, toHour(timestamp) * 4 + intDiv(toMinute(timestamp), 15) AS quarter FROM events)
GROUP BY project_id, event, day, person_key;

-- Backfill from the events stored before this migration (idempotent: sets are ORed).
INSERT INTO person_days
SELECT project_id, toDate(timestamp) AS day, person_key,
       groupBitOr(if(quarter < 64, bitShiftLeft(toUInt64(1), quarter % 64), toUInt64(0))),
       groupBitOr(toUInt32(if(quarter >= 64, bitShiftLeft(toUInt64(1), quarter % 64), toUInt64(0))))
FROM (SELECT project_id, timestamp, person_key, toHour(timestamp) * 4 + intDiv(toMinute(timestamp), 15) AS quarter FROM events)
GROUP BY project_id, day, person_key;

INSERT INTO person_event_days
SELECT project_id, event, toDate(timestamp) AS day, person_key,
       groupBitOr(if(quarter < 64, bitShiftLeft(toUInt64(1), quarter % 64), toUInt64(0))),
       groupBitOr(toUInt32(if(quarter >= 64, bitShiftLeft(toUInt64(1), quarter % 64), toUInt64(0))))
FROM (SELECT project_id, event, timestamp, person_key, toHour(timestamp) * 4 + intDiv(toMinute(timestamp), 15) AS quarter FROM events)
GROUP BY project_id, event, day, person_key;
