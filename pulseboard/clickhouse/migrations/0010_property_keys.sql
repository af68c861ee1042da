-- Which top-level keys an event's properties have, as a 64-bit signature: bit CRC32(key) % 64
-- is set for each key. A clear bit proves the key absent (apps/query/materialized.py,
-- keys_may_hold): on 10M events the JSON is 890 MB and this column 4 MB. A set bit proves
-- nothing (about one key in 13 shares a bit with one of five others), and the JSON decides.
--
-- A trends breakdown by a property that few events have reads the JSON of those events only
-- (a condition on this column becomes a PREWHERE, and granules where no bit is set are never
-- decompressed); the others count under '' without it (apps/analytics/sql.py).
--
-- ClickHouse computes it on insert (about 0.1 us an event); the stored rows get it from a
-- background mutation, and compute it on read until then.
ALTER TABLE events ADD COLUMN IF NOT EXISTS property_keys UInt64
    MATERIALIZED arrayReduce('groupBitOr', arrayMap(k -> bitShiftLeft(toUInt64(1), CRC32(k) % 64), JSONExtractKeys(properties)));

ALTER TABLE events MATERIALIZE COLUMN property_keys;
