-- Person properties as plain columns, sorted by property first.
--
-- 0006 kept an argMax / argMin aggregate state per key and property. A filter or a
-- breakdown reads one property of every person, and has to merge those states per
-- person across the keys merged into it: on 10M events that took ~100 ms for one
-- property, most of it copying and merging states through the join with the overrides.
-- Here each row holds the winning (time, event id, value) tuple itself, as a plain
-- column that max() and min() merge: the latest $set wins (ties to the greater event
-- id), the earliest $set_once wins (ties to the smaller), as before. One property of
-- every person is one range of the table, and merging it per person is a max() over
-- tuples (~15 ms for the same property). Repeated rows change nothing (max and min),
-- so the backfill may meet rows the view has already written.
DROP TABLE IF EXISTS person_props_mv;

DROP TABLE IF EXISTS person_props;

CREATE TABLE IF NOT EXISTS person_props
(
    project_id UInt64,
    key        String,
    person_key UInt64,
    op         UInt8,  -- 1: $set, 2: $set_once
    latest     SimpleAggregateFunction(max, Tuple(DateTime64(3, 'UTC'), String, String)),
    earliest   SimpleAggregateFunction(min, Tuple(DateTime64(3, 'UTC'), String, String))
)
ENGINE = AggregatingMergeTree
ORDER BY (project_id, key, person_key, op)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS person_props_mv TO person_props AS
SELECT project_id, p.1 AS key, person_key, p.3 AS op,
       max((timestamp, toString(event_id), p.2)) AS latest, min((timestamp, toString(event_id), p.2)) AS earliest
FROM events
ARRAY JOIN arrayConcat(
    arrayMap(x -> (x.1, x.2, toUInt8(1)), JSONExtractKeysAndValuesRaw(properties, '$set')),
    arrayMap(x -> (x.1, x.2, toUInt8(2)), JSONExtractKeysAndValuesRaw(properties, '$set_once'))
) AS p
WHERE position(properties, '"$set') > 0
GROUP BY project_id, key, person_key, op;

INSERT INTO person_props
SELECT project_id, p.1 AS key, person_key, p.3 AS op,
       max((timestamp, toString(event_id), p.2)), min((timestamp, toString(event_id), p.2))
FROM events
ARRAY JOIN arrayConcat(
    arrayMap(x -> (x.1, x.2, toUInt8(1)), JSONExtractKeysAndValuesRaw(properties, '$set')),
    arrayMap(x -> (x.1, x.2, toUInt8(2)), JSONExtractKeysAndValuesRaw(properties, '$set_once'))
) AS p
WHERE position(properties, '"$set') > 0
GROUP BY project_id, key, person_key, op;
