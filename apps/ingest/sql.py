"""ClickHouse SQL of the ingest path."""

EVENTS_TABLE = "events"

# Which of a redelivered batch's events are already stored? A flush that crashed after its
# INSERT but before its ack leaves entries that another worker reclaims; this query lets it
# write only the missing ones. The time bounds let ClickHouse prune partitions and skip
# granules by the sort key, which starts (project_id, toDate(timestamp)).
EXISTING_EVENT_IDS = """
SELECT event_id
FROM events
WHERE has({project_ids:Array(UInt64)}, project_id)
  AND timestamp >= {ts_from:DateTime64(3, 'UTC')}
  AND timestamp <= {ts_to:DateTime64(3, 'UTC')}
  AND has({event_ids:Array(UUID)}, event_id)
"""

# The event names of a project, most frequent first, from the per-slot counts, but for
# the names in ``hidden``.
EVENT_NAMES_BY_VOLUME = """
SELECT event
FROM event_counts_15m
WHERE project_id = {project_id:UInt64}
  AND event NOT IN {hidden:Array(String)}
GROUP BY event
ORDER BY sum(events) DESC, event
LIMIT {limit:UInt32}
"""


# --- Rollups and their reconciliation ---------------------------------------------------------
#
# Every rollup that the materialised views of migrations 0002-0004 and 0011 fill from
# events, as the reconciler (apps/ingest/reconcile.py) sees it. For each, two fingerprint
# queries give, per bucket (an hour, or a UTC day for the day tables), how many keys the
# table holds and a hash of them: one reads the rollup, the other computes the same from
# events. Where they differ the rollup has drifted, and the bucket is rebuilt: its rows
# deleted and computed again from events, with the same expressions as the view.
# Parameters: project_id, and the bucket range [start, end) as DateTime.
#
# Fingerprints hash each key with cityHash64 and add the hashes up (the sum wraps, which a
# fingerprint does not mind); times enter as Unix seconds and names as String, so both sides
# hash the same values whatever their column types.

EVENTS_RANGE = """project_id = {project_id:UInt64}
  AND timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')}"""

SLOT_RANGE = """project_id = {project_id:UInt64}
  AND slot >= {start:DateTime64(3, 'UTC')} AND slot < {end:DateTime64(3, 'UTC')}"""

DAY_RANGE = """project_id = {project_id:UInt64}
  AND day >= toDate({start:DateTime64(3, 'UTC')}) AND day < toDate({end:DateTime64(3, 'UTC')})"""

# funnel_events.order_key is milliseconds * 2^22 + id bits: seconds * 4194304000.
ORDER_KEY_RANGE = """project_id = {project_id:UInt64}
  AND order_key >= toUInt64(toUnixTimestamp({start:DateTime64(3, 'UTC')})) * 4194304000
  AND order_key < toUInt64(toUnixTimestamp({end:DateTime64(3, 'UTC')})) * 4194304000"""

# Events are counted by distinct id: a row written twice is one event (events is a
# ReplacingMergeTree that merges such rows away in time).
EVENT_COUNTS_FROM_EVENTS = f"""
SELECT project_id, toStartOfFifteenMinutes(timestamp) AS slot, event, uniqExact(event_id) AS events
FROM events
WHERE {EVENTS_RANGE}
GROUP BY project_id, slot, event
"""

EVENT_COUNTS_FINGERPRINT = """
SELECT toDateTime(toStartOfHour(slot), 'UTC') AS bucket, sum(events) AS n,
       sum(cityHash64(toUnixTimestamp(slot), toString(event), events)) AS h
FROM ({source})
GROUP BY bucket
"""

EVENT_COUNTS_ROLLUP = f"""
SELECT slot, event, sum(events) AS events
FROM event_counts_15m
WHERE {SLOT_RANGE}
GROUP BY slot, event
"""

PERSON_SLOTS_FROM_EVENTS = f"""
SELECT DISTINCT project_id, toStartOfFifteenMinutes(timestamp) AS slot, event, person_key
FROM events
WHERE {EVENTS_RANGE}
"""

PERSON_SLOTS_FINGERPRINT = """
SELECT toDateTime(toStartOfHour(slot), 'UTC') AS bucket, count() AS n,
       sum(cityHash64(toUnixTimestamp(slot), toString(event), person_key)) AS h
FROM (SELECT DISTINCT slot, event, person_key FROM ({source}))
GROUP BY bucket
"""

PERSON_SLOTS_ROLLUP = f"SELECT slot, event, person_key FROM person_slots_15m WHERE {SLOT_RANGE}"

SESSION_SLOTS_FROM_EVENTS = f"""
SELECT DISTINCT project_id, toStartOfFifteenMinutes(timestamp) AS slot, cityHash64(session_id) AS session_key
FROM events
WHERE {EVENTS_RANGE} AND session_id != ''
"""

SESSION_SLOTS_FINGERPRINT = """
SELECT toDateTime(toStartOfHour(slot), 'UTC') AS bucket, count() AS n,
       sum(cityHash64(toUnixTimestamp(slot), session_key)) AS h
FROM (SELECT DISTINCT slot, session_key FROM ({source}))
GROUP BY bucket
"""

SESSION_SLOTS_ROLLUP = f"SELECT slot, session_key FROM session_slots_15m WHERE {SLOT_RANGE}"

# A pageview's place in time order (the millisecond, then the event id as ClickHouse orders
# UUIDs) above the hash of its page_url, as session_parts_15m keeps its first and last
# (migration 0011); a row without a pageview keeps NO_ENTRY as its entry and 0 as its exit.
PAGEVIEW_PACKED = (
    "bitShiftLeft(toUInt256(toUnixTimestamp64Milli(timestamp)), 192) + bitShiftLeft(toUInt256(reinterpretAsUInt128(event_id)), 64)"
    " + if(page_url = '', 0, cityHash64(page_url))"
)
NO_ENTRY = "toUInt256('115792089237316195423570985008687907853269984665640564039457584007913129639935')"
# The page hash of a packed pageview (its last 64 bits), as SQL around ``{packed}``.
PACKED_PAGE_HASH = "toUInt64(bitAnd({packed}, toUInt256('18446744073709551615')))"

# Each event once: a row written twice is one event, as for the counts above.
SESSION_PARTS_FROM_EVENTS = f"""
SELECT project_id, toStartOfFifteenMinutes(timestamp) AS slot, session_key, person_key,
       min(timestamp) AS started, max(timestamp) AS ended,
       count() AS events,
       countIf(event = '$pageview') AS pageviews,
       countIf(event IN ('$pageview', '$screen')) AS bounceable,
       if(pageviews = 0, {NO_ENTRY}, minIf({PAGEVIEW_PACKED}, event = '$pageview')) AS entry,
       maxIf({PAGEVIEW_PACKED}, event = '$pageview') AS exit
FROM (SELECT DISTINCT project_id, timestamp, session_key, person_key, event, event_id, page_url
      FROM events WHERE {EVENTS_RANGE} AND session_key != 0)
GROUP BY project_id, slot, session_key, person_key
"""

SESSION_PARTS_FINGERPRINT = """
SELECT toDateTime(toStartOfHour(slot), 'UTC') AS bucket, count() AS n,
       sum(cityHash64(toUnixTimestamp(slot), session_key, person_key, toUnixTimestamp64Milli(started), toUnixTimestamp64Milli(ended),
                      events, pageviews, bounceable, toString(entry), toString(exit))) AS h
FROM ({source})
GROUP BY bucket
"""

SESSION_PARTS_ROLLUP = f"""
SELECT slot, session_key, person_key, min(started) AS started, max(ended) AS ended, sum(events) AS events,
       sum(pageviews) AS pageviews, sum(bounceable) AS bounceable, min(entry) AS entry, max(exit) AS exit
FROM session_parts_15m
WHERE {SLOT_RANGE}
GROUP BY slot, session_key, person_key
"""

# The quarter-hour sets of person_days, as its view computes them.
_QUARTER_BITS = """groupBitOr(if(quarter < 64, bitShiftLeft(toUInt64(1), quarter % 64), toUInt64(0))) AS slots_lo,
       groupBitOr(toUInt32(if(quarter >= 64, bitShiftLeft(toUInt64(1), quarter % 64), toUInt64(0)))) AS slots_hi"""

PERSON_DAYS_FROM_EVENTS = f"""
SELECT project_id, day, person_key, {_QUARTER_BITS}
FROM (SELECT project_id, toDate(timestamp) AS day, person_key, toHour(timestamp) * 4 + intDiv(toMinute(timestamp), 15) AS quarter
      FROM events WHERE {EVENTS_RANGE})
GROUP BY project_id, day, person_key
"""

PERSON_DAYS_FINGERPRINT = """
SELECT toDateTime(day, 'UTC') AS bucket, count() AS n, sum(cityHash64(person_key, slots_lo, slots_hi)) AS h
FROM ({source})
GROUP BY bucket
"""

PERSON_DAYS_ROLLUP = f"""
SELECT day, person_key, groupBitOr(slots_lo) AS slots_lo, groupBitOr(slots_hi) AS slots_hi
FROM person_days
WHERE {DAY_RANGE}
GROUP BY day, person_key
"""

PERSON_EVENT_DAYS_FROM_EVENTS = f"""
SELECT project_id, event, day, person_key, {_QUARTER_BITS}
FROM (SELECT project_id, event, toDate(timestamp) AS day, person_key,
             toHour(timestamp) * 4 + intDiv(toMinute(timestamp), 15) AS quarter
      FROM events WHERE {EVENTS_RANGE})
GROUP BY project_id, event, day, person_key
"""

PERSON_EVENT_DAYS_FINGERPRINT = """
SELECT toDateTime(day, 'UTC') AS bucket, count() AS n, sum(cityHash64(toString(event), person_key, slots_lo, slots_hi)) AS h
FROM ({source})
GROUP BY bucket
"""

PERSON_EVENT_DAYS_ROLLUP = f"""
SELECT event, day, person_key, groupBitOr(slots_lo) AS slots_lo, groupBitOr(slots_hi) AS slots_hi
FROM person_event_days
WHERE {DAY_RANGE}
GROUP BY event, day, person_key
"""

FUNNEL_EVENTS_FROM_EVENTS = f"""
SELECT DISTINCT project_id, event, person_key,
       toUInt64(toUnixTimestamp64Milli(timestamp)) * 4194304 + bitShiftRight(reinterpretAsUInt64(event_id), 42) AS order_key,
       event_id
FROM events
WHERE {EVENTS_RANGE}
"""

FUNNEL_EVENTS_FINGERPRINT = """
SELECT toDateTime(toStartOfHour(toDateTime(intDiv(order_key, 4194304000), 'UTC')), 'UTC') AS bucket, count() AS n,
       sum(cityHash64(toString(event), person_key, order_key, event_id)) AS h
FROM (SELECT DISTINCT event, person_key, order_key, event_id FROM ({source}))
GROUP BY bucket
"""

FUNNEL_EVENTS_ROLLUP = f"SELECT event, person_key, order_key, event_id FROM funnel_events WHERE {ORDER_KEY_RANGE}"
