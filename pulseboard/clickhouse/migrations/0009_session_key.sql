-- The session an event names, as a number: sessions, the web overview's entry and exit pages
-- and paths group events by it (apps/web/sessionize.py), and reading and hashing the
-- 36-character session_id of every event scanned cost them 10-20% of their time on 10M
-- events. 0 for an event without a session_id (a session_id whose hash is 0, one in 2^64,
-- would be taken for none: its events would be grouped by their person and the 30-minute
-- gap instead). The same hash as session_slots_15m's session_key (0002).
--
-- ClickHouse computes it on insert; the stored rows get it from a background mutation, and
-- compute it on read until then.
ALTER TABLE events ADD COLUMN IF NOT EXISTS session_key UInt64
    MATERIALIZED if(session_id = '', 0, cityHash64(session_id));

ALTER TABLE events MATERIALIZE COLUMN session_key;
