"""ClickHouse SQL of the analytics area: named queries and small builders.

Conventions shared by every query here:

* Tenancy first: ``project_id = {project_id:UInt64}`` in every WHERE.
* Time ranges are half-open ``[date_from, date_to)`` in UTC and always made of whole
  buckets of the project's timezone (see ``params.DateRange``).
* Buckets come back as ``toUnixTimestamp`` of their start, so that Python can place them
  exactly even when a local hour repeats at the end of summer time.
* Every figure that counts people counts persons: rows carry ``person_key`` (the hash of
  their own first id), and queries aggregate per key, then map keys to persons through the
  person overrides (``apps.query.persons.with_persons``). Distinct counts are exact.
* Figures without property filters or a breakdown read rollups that materialised views
  keep up to date on every insert: event counts, persons and sessions per 15-minute slot
  (``event_counts_15m``, ``person_slots_15m``, ``session_slots_15m``), and persons per UTC
  day with the quarter hours they were active in (``person_days``,
  ``person_event_days``), which serve every figure over local days and weeks. The rest
  read ``events``.
"""

from __future__ import annotations

from apps.analytics.params import QUANTILES
from apps.query.materialized import keys_may_hold, may_hold
from apps.query.persons import person_property_values, with_persons
from apps.query.sql import ID_BITS, NARROW_TIME, bucket, narrow_range, property_text


# --- Counting over time ----------------------------------------------------------------------

RANGE = "{date_from:DateTime64(3, 'UTC')}", "{date_to:DateTime64(3, 'UTC')}"


def slot_range(since: str = "date_from", until: str = "date_to") -> str:
    """``slot`` (a DateTime) in ``[since, until)``. The bounds are cast to DateTime once,
    so the rows are compared as they are stored instead of each being widened to
    DateTime64 (whole buckets have no fraction of a second to lose)."""
    return f"slot >= toDateTime({{{since}:DateTime64(3, 'UTC')}}) AND slot < toDateTime({{{until}:DateTime64(3, 'UTC')}})"


def event_counts(interval: str, *, names: bool = True, since: str = "date_from") -> str:
    """Events per bucket and name from the rollup, from ``since`` to ``date_to``; of the
    names in ``events``, or of every name. Cheap at any volume."""
    name_filter = "\n  AND event IN {events:Array(String)}" if names else ""
    return f"""
SELECT {bucket(interval, 'slot')} AS bucket, event, sum(events) AS value
FROM event_counts_15m
WHERE project_id = {{project_id:UInt64}}
  AND {slot_range(since)}{name_filter}
GROUP BY bucket, event
"""


def unique_persons(interval: str) -> str:
    """Distinct persons per bucket and event name, from the 15-minute rollup (hour buckets).
    Its rows are already distinct per key and slot, so each meets the person overrides
    directly (taking the distinct keys per bucket first cost more than it saved)."""
    keys = f"""
    SELECT {bucket(interval, 'slot')} AS bucket, event, person_key
    FROM person_slots_15m
    WHERE project_id = {{project_id:UInt64}}
      AND {slot_range()}
      AND event IN {{events:Array(String)}}"""
    return f"""
SELECT bucket, event, uniqExact(person) AS value
FROM ({with_persons(keys)})
GROUP BY bucket, event
"""


# A breakdown by an event property without a column of its own reads its key's bit in
# ``property_keys`` first, and the JSON of the events whose bit is set only (``raw_series``
# with ``rare``), when under this share of a sample of the events have the bit: the rest
# count under '' from 8 bytes each, but in a second pass. On 5.5M pageviews a breakdown by a
# key no event has took 100 ms instead of 257, one that 73% of them have 936 ms instead of 866.
KEYED_SHARE = 0.5


def keyed_share() -> str:
    """The share of the range's events of one name (the first 65,536 rows read) whose
    ``property_keys`` allow the breakdown's key (NULL or NaN when there are none)."""
    return f"""
SELECT avg({keys_may_hold("{breakdown:String}")})
FROM
(
    SELECT property_keys
    FROM events
    WHERE project_id = {{project_id:UInt64}}
      AND event = {{event:String}}
      AND timestamp >= {RANGE[0]} AND timestamp < {RANGE[1]}
    LIMIT 65536
)
"""


def raw_series(
    interval: str, math: str, filters_sql: str, breakdown: str | None, *, breakdown_key: str | None = None, narrow: bool = False, rare: bool = False
) -> str:
    """One event's count or distinct persons per bucket from the raw events, optionally
    broken down by a property of the event (``breakdown="event"``) or of its person
    (``"person"``): the 10 values with the most events in the range, the rest as
    ``$other``. Events without the property have the value ''.

    ``narrow``: no event property is needed (``filters_sql`` holds conditions on
    ``person_key`` only, and the breakdown, if any, is by person), so the rows come from
    ``funnel_events``: one range per name, a quarter of the bytes of ``events`` to read.

    ``rare``: few events have the breakdown's key (:data:`KEYED_SHARE`): the events whose
    ``property_keys`` allow it are read with their JSON, the others counted under '' without
    it, in two passes.

    Distinct persons are counted from the distinct keys of each bucket (and value), mapped
    to their persons."""
    if narrow:
        time, where = NARROW_TIME, f"""project_id = {{project_id:UInt64}}
  AND event = {{event:String}}
  AND {narrow_range()}{filters_sql}"""
        table = "funnel_events"
    else:
        time, where = "timestamp", f"""project_id = {{project_id:UInt64}}
  AND event = {{event:String}}
  AND timestamp >= {RANGE[0]} AND timestamp < {RANGE[1]}{filters_sql}"""
        table = "events"
    if breakdown is None:
        if math == "total":
            return f"""
SELECT {bucket(interval, time)} AS bucket, '' AS breakdown_value, count() AS value
FROM {table}
WHERE {where}
GROUP BY bucket
"""
        keys = f"SELECT DISTINCT {bucket(interval, time)} AS bucket, person_key FROM {table} WHERE {where}"
        return f"""
SELECT bucket, '' AS breakdown_value, uniqExact(person) AS value
FROM ({with_persons(keys)})
GROUP BY bucket
"""
    if breakdown == "person":
        counted = f"SELECT {bucket(interval, time)} AS bucket, person_key, count() AS n FROM {table} WHERE {where} GROUP BY bucket, person_key"
        return _person_breakdown_series(math, counted)
    # One pass over the events (their properties are the costly column): per bucket and
    # value (and key, for distinct persons), then the values ranked by their events. The
    # distinct persons of a bucket and value are gathered into one uniqExact state before
    # the ranking, so that it orders a row per bucket and value, not one per person (388 ->
    # 335 ms on 5.5M pageviews); the states of the values folded into ``$other`` merge.
    who = "" if math == "total" else ", person_key"

    def per_value(value: str, condition: str, group: str) -> str:
        return f"""
            SELECT {bucket(interval, time)} AS bucket, {value} AS raw_value{who}, count() AS n
            FROM {table}
            WHERE {where}{condition}
            GROUP BY {group}{who}"""

    value = property_text("breakdown", breakdown_key)
    if rare:
        # The JSON of the events that may have the key; '' for the rest, from 8 bytes each.
        keyed = keys_may_hold("{breakdown:String}")
        rows = per_value(value, f" AND {keyed}", "bucket, raw_value") + "\n            UNION ALL" + per_value("''", f" AND NOT {keyed}", "bucket")
    else:
        rows = per_value(value, "", "bucket, raw_value")
    if math == "total":
        return _folded(rows, "sum(n)")
    counted = f"SELECT bucket, raw_value, uniqExactState(person) AS people, sum(n) AS n FROM ({with_persons(rows)}) GROUP BY bucket, raw_value"
    return _folded(counted, "uniqExactMerge(people)")


# --- Maths of a numeric property ---------------------------------------------------------------

# A numeric string: digits, an optional fraction and an optional exponent, an optional
# leading minus; nothing else (no spaces, "+", ".5", "inf" or "nan"). In ClickHouse's regex
# syntax (re2) without a backslash; tests/reference.py holds the same rule in Python.
NUMBER_TEXT = "-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?"


def property_number(key_param: str) -> str:
    """The event property named by the parameter ``key_param`` as a Float64, or NULL: a JSON
    number as it is, a string written as a number (:data:`NUMBER_TEXT`) as that number;
    missing, null, booleans, other strings, arrays and objects are NULL, and so is a value
    beyond Float64 (``"1e999"``).

    The value's JSON text is read once, without parsing the whole object where that is
    safe. Stored properties are compact JSON written from a parsed object, so no key
    occurs twice in one object, and ``"key":`` (a quote then a colon, unescaped) occurs only
    as a key, never inside a string. In an object with no nested object (no ``{`` after the
    first character), its one occurrence is the top-level key: a scan for it
    (``simpleJSONExtractRaw``) finds the same text that ``JSONExtractRaw`` parses out. Any
    other object is parsed. The text of a number starts with a digit or a minus, that of a
    string with its quote."""
    key = f"{{{key_param}:String}}"
    # A key with a quote or a backslash is written escaped in the JSON: the scan would miss it.
    plain_key = f"position({key}, '\"') = 0 AND position({key}, '\\\\') = 0"
    raw = f"if({may_hold(key)}, if({plain_key} AND position(properties, '{{', 2) = 0, simpleJSONExtractRaw(properties, {key}), JSONExtractRaw(properties, {key})), '')"
    return (
        f"multiIf(match({raw}, '^-?[0-9]'), toFloat64OrNull({raw}), "
        f"match({raw}, '^\"{NUMBER_TEXT}\"$'), toFloat64OrNull(substring({raw}, 2, length({raw}) - 2)), NULL)"
    )


def _aggregate(math: str, combinator: str = "") -> str:
    """The ClickHouse aggregate of a property math, with ``combinator`` (``State``,
    ``MergeState``, ``Merge``): percentiles are exact (``quantileExact``: the value at
    0-based position floor(level * n) of the n sorted values)."""
    if math in QUANTILES:
        return f"quantileExact{combinator}({QUANTILES[math]})"
    return {"sum": "sum", "avg": "avg", "min": "min", "max": "max"}[math] + combinator


def metric_series(interval: str, math: str, filters_sql: str, breakdown: str | None, *, breakdown_key: str | None = None) -> str:
    """One event's ``math`` (sum, avg, min, max, p50 .. p99) of a numeric property (the
    parameter ``math_property``, read by :func:`property_number`) per bucket, over the
    events where it is a finite number; the rest are left out. Rows ``(bucket,
    breakdown_value, value, events, whole)``: ``events`` is how many events had the
    property; ``whole`` = 1 marks the row of the whole range (its bucket is meaningless),
    computed in the same pass (``GROUPING SETS``). Buckets without such events have no row.

    ``breakdown`` as in :func:`raw_series`: the 10 values with the most events that have the
    property, the rest folded into ``$other``. The events are aggregated per bucket and
    value (and key, for a person breakdown) into aggregate states first, merged per folded
    value after: a percentile of ``$other`` is one over all its events."""
    where = f"""project_id = {{project_id:UInt64}}
  AND event = {{event:String}}
  AND timestamp >= {RANGE[0]} AND timestamp < {RANGE[1]}{filters_sql}"""
    number = property_number("math_property")
    if breakdown is None:
        return f"""
SELECT bucket, '' AS breakdown_value, {_aggregate(math)}(assumeNotNull(v)) AS value, count() AS events, grouping(bucket) AS whole
FROM
(
    SELECT {bucket(interval, 'timestamp')} AS bucket, {number} AS v
    FROM events
    WHERE {where}
)
WHERE v IS NOT NULL AND isFinite(v)
GROUP BY GROUPING SETS ((bucket), ())
"""
    time = bucket(interval, "timestamp")
    if breakdown == "person":
        per_key = f"""
            SELECT bucket, person_key, {_aggregate(math, 'State')}(assumeNotNull(v)) AS state, count() AS n
            FROM (SELECT {time} AS bucket, person_key, {number} AS v FROM events WHERE {where})
            WHERE v IS NOT NULL AND isFinite(v)
            GROUP BY bucket, person_key"""
        counted = f"""
        SELECT k.bucket AS bucket, pv.value AS raw_value, {_aggregate(math, 'MergeState')}(k.state) AS state, sum(k.n) AS n
        FROM ({with_persons(per_key)}) AS k
        LEFT JOIN ({person_property_values("breakdown")}) AS pv ON pv.person = k.person
        GROUP BY bucket, raw_value"""
    else:
        counted = f"""
        SELECT bucket, raw_value, {_aggregate(math, 'State')}(assumeNotNull(v)) AS state, count() AS n
        FROM (SELECT {time} AS bucket, {property_text('breakdown', breakdown_key)} AS raw_value, {number} AS v FROM events WHERE {where})
        WHERE v IS NOT NULL AND isFinite(v)
        GROUP BY bucket, raw_value"""
    return f"""
SELECT bucket, if(value_rank <= 10, raw_value, '$other') AS breakdown_value, {_aggregate(math, 'Merge')}(state) AS value, sum(n) AS events,
       grouping(bucket) AS whole
FROM
(
    SELECT *, dense_rank() OVER (ORDER BY value_events DESC, raw_value ASC) AS value_rank
    FROM
    (
        SELECT *, sum(n) OVER (PARTITION BY raw_value) AS value_events
        FROM ({counted})
    )
)
GROUP BY GROUPING SETS ((bucket, breakdown_value), (breakdown_value))
"""


def numeric_property_keys() -> str:
    """The event properties that hold a number (:func:`property_number`'s rule) in a sample
    of the range's events of ``events`` (the first ``sample`` rows read, not a random
    sample: enough to name the keys a team sends), with how many of the sampled events had
    each, most first."""
    return f"""
SELECT kv.1 AS key, count() AS n
FROM
(
    SELECT arrayJoin(JSONExtractKeysAndValuesRaw(properties)) AS kv
    FROM
    (
        SELECT properties
        FROM events
        WHERE project_id = {{project_id:UInt64}}
          AND event IN {{events:Array(String)}}
          AND timestamp >= {RANGE[0]} AND timestamp < {RANGE[1]}
        LIMIT {{sample:UInt32}}
    )
)
WHERE match(kv.2, '^-?[0-9]') OR match(kv.2, '^"{NUMBER_TEXT}"$')
GROUP BY key
ORDER BY n DESC, key ASC
LIMIT {{limit:UInt32}}
"""


def _folded(counted: str, aggregate: str) -> str:
    """``counted`` (rows of ``bucket``, ``raw_value`` and their ``n`` events) summed with
    ``aggregate`` per bucket and value, the 10 values with the most events in the range
    kept and the rest folded into ``$other``."""
    return f"""
SELECT bucket, if(value_rank <= 10, raw_value, '$other') AS breakdown_value, {aggregate} AS value
FROM
(
    SELECT *, dense_rank() OVER (ORDER BY value_events DESC, raw_value ASC) AS value_rank
    FROM
    (
        SELECT *, sum(n) OVER (PARTITION BY raw_value) AS value_events
        FROM ({counted})
    )
)
GROUP BY bucket, breakdown_value
"""


def _person_breakdown_series(math: str, counted: str) -> str:
    """:func:`raw_series` broken down by a person property, in one pass over the events:
    ``counted`` (events per bucket and key, a few rows per person) is mapped to persons,
    meets the persons' values, and is summed per bucket and value. The 10 values with the
    most events are ranked over those sums; the rest are folded into ``$other``. A person
    has one value, so the persons of different values never overlap, and the distinct
    persons of ``$other`` are the sum of those of the values folded into it."""
    aggregate = "events" if math == "total" else "persons"
    return f"""
SELECT bucket, if(value_rank <= 10, raw_value, '$other') AS breakdown_value, sum({aggregate}) AS value
FROM
(
    SELECT *, dense_rank() OVER (ORDER BY value_events DESC, raw_value ASC) AS value_rank
    FROM
    (
        SELECT *, sum(events) OVER (PARTITION BY raw_value) AS value_events
        FROM
        (
            SELECT k.bucket AS bucket, pv.value AS raw_value, sum(k.n) AS events, uniqExact(k.person) AS persons
            FROM ({with_persons(counted)}) AS k
            LEFT JOIN ({person_property_values("breakdown")}) AS pv ON pv.person = k.person
            GROUP BY bucket, raw_value
        )
    )
)
GROUP BY bucket, breakdown_value
"""


# --- Persons over days: the person_days rollups ---------------------------------------------
#
# person_days (all events) and person_event_days (one row per event name too) hold, per UTC
# day and person, the set of the day's quarter hours the person was active in (slots_lo:
# quarters 0..63, slots_hi: 64..95). ``daymap`` says which quarters of which UTC day make up
# each local day, or fall inside a range of instants; those few values reach each row
# through a short ``multiIf`` on its day (a per-row lookup in an array parameter costs
# several times more).

ROLLUPS = {"all": "person_days", "event": "person_event_days"}


def _meets(lo: str, hi: str) -> str:
    """Whether the row's quarters meet the quarter set (``lo``, ``hi``)."""
    return f"(bitAnd(slots_lo, {lo}) != 0 OR bitAnd(slots_hi, {hi}) != 0)"


def _by_segment(segments: int, name: str, type_: str) -> str:
    """The value ``g<k>_<name>`` of the segment the row's day falls in."""
    if segments == 1:
        return f"{{g0_{name}:{type_}}}"
    branches = ", ".join(f"day < {{g{k}_from:Date}}, {{g{k - 1}_{name}:{type_}}}" for k in range(1, segments))
    return f"multiIf({branches}, {{g{segments - 1}_{name}:{type_}}})"


MASK_BITS = (64, 128, 256)


def _smears(lengths: list[int]) -> tuple[list[str], dict[int, str]]:
    """``s<w>``: the person's day set smeared over ``w`` days (bit d set when any of days
    d-w+1 .. d is): OR-ing the set with itself shifted by 1, 2, 4, ... doubles the reach
    each time, so a 30-day smear takes five shifts. Returns the SELECT items and, per
    length, the alias that holds it."""
    items: list[str] = []
    names: dict[int, str] = {}
    for w in lengths:
        current, reach, k = "m", 1, 0
        while reach < w:
            step = min(reach, w - reach)
            alias = f"s{w}_{k}"
            items.append(f"bitOr({current}, bitShiftLeft({current}, {step})) AS {alias}")
            current, reach, k = alias, reach + step, k + 1
        names[w] = current
    return items, names


def _person_day_sets(*, bits: int, source: str, segments: int, parts: int, filters_sql: str) -> str:
    """Per person, ``m``: the local days of the span the person was active on, as a
    ``bits``-bit set (bit d: ``origin`` + d days).

    Every row (a person's UTC day) lands on up to three local days: the local day of its
    quarter 0, ``(day - first_utc_day) + offset`` days after ``origin``, and the next two,
    each when the row's quarters meet that local day's part of the UTC day (``p0``, ``p1``,
    ``p2``; only the first ``parts`` when the others are empty all through the span). The
    offset and the parts are constant over runs of days, the ``segments`` of ``daymap``.

    ``source`` is ``all`` (person_days), ``event`` (person_event_days, one event name),
    ``raw``: the events of one name matching ``filters_sql``, whose local day comes
    straight from ``toDate(timestamp, tz)``, or ``narrow``: the same when ``filters_sql``
    holds conditions on ``person_key`` only (person properties), from ``funnel_events``,
    whose rows of one name are one range of two narrow columns (on 10M events, the persons
    of `plan = pro` with a pageview, 30 days: 151 ms against 242 ms from ``events``).
    """
    type_ = f"UInt{bits}"
    if source in ("raw", "narrow"):
        table, time, span = "events", "timestamp", "timestamp >= {span_from:DateTime64(3, 'UTC')} AND timestamp < {span_to:DateTime64(3, 'UTC')}"
        if source == "narrow":
            table, time, span = "funnel_events", NARROW_TIME, narrow_range("span_from", "span_to")
        keys = f"""
        SELECT person_key, groupBitOr(bitShiftLeft(to{type_}(1), toUInt32(toDate({time}, {{tz:String}}) - {{origin:Date}}))) AS m
        FROM {table}
        WHERE project_id = {{project_id:UInt64}}
          AND event = {{event:String}}
          AND {span}{filters_sql}
        GROUP BY person_key"""
        return _per_person(keys)
    columns, day_bits = _local_day_bits(bits=bits, segments=segments, parts=parts)
    event_filter = "\n              AND event = {event:String}" if source == "event" else ""
    keys = f"""
        SELECT person_key, groupBitOr({day_bits}) AS m
        FROM
        (
            SELECT person_key, {columns}
            FROM {ROLLUPS[source]}
            WHERE project_id = {{project_id:UInt64}}
              AND day >= {{first_utc_day:Date}} AND day <= {{last_utc_day:Date}}{event_filter}
        )
        GROUP BY person_key"""
    return _per_person(keys)


def _local_day_bits(*, bits: int, segments: int, parts: int) -> tuple[str, str]:
    """For a rollup row (a key's UTC day and its quarters): the SELECT items that place it,
    and the ``bits``-bit set of the local days it lands on (see :func:`_person_day_sets`)."""
    start = f"toUInt32(toInt64(day - {{first_utc_day:Date}}) + {_by_segment(segments, 'offset', 'Int64')}) AS s"
    flags = ", ".join(
        _meets(_by_segment(segments, f"p{j}lo", "UInt64"), _by_segment(segments, f"p{j}hi", "UInt32")) + f" AS on{j}"
        for j in range(parts)
    )
    return f"{start}, {flags}", " + ".join(f"bitShiftLeft(toUInt{bits}(on{j}), s + {j})" for j in range(parts))


def _per_person(keys: str) -> str:
    """Day sets ``m`` per key, ORed into one per person (the rows keep the name person_key)."""
    return f"""
        SELECT person AS person_key, groupBitOr(m) AS m
        FROM ({with_persons(keys)})
        GROUP BY person"""


def persons_in_windows(*, source: str, segments: int = 1, parts: int = 3, filters_sql: str = "") -> str:
    """How many persons were active on a day of each window, for a span of at most 64 days:
    each window is a 64-bit day set too (``windows``), and a person counts for it when the
    two sets meet; ``sumForEach`` answers every window in one pass over the persons. Cheaper
    than :func:`persons_active_runs` while the sets are one machine word."""
    persons = _person_day_sets(bits=64, source=source, segments=segments, parts=parts, filters_sql=filters_sql)
    return f"""
SELECT sumForEach(arrayMap(w -> toUInt32(bitAnd(m, w) != 0), {{windows:Array(UInt64)}})) AS counts
FROM
({persons}
)
"""


def persons_active_runs(*, bits: int, source: str, lengths: list[int], segments: int = 1, parts: int = 3, filters_sql: str = "") -> str:
    """Persons active in trailing windows of local days, as changes of a running count,
    for spans of up to ``bits`` days (128 or 256).

    A person counts on day d for a window of ``w`` days when a bit of d-w+1 .. d of their
    day set is set: when bit d of the set smeared over ``w`` days is (see ``_smears``). Each
    run of set bits of a smear adds +1 where it starts and -1 just after it ends; the query
    returns those changes summed per (w, day), and a running sum over the days gives the
    count of every day, for every window length in ``lengths``, in one pass. A day set has
    a few runs, so this costs a few rows per person however many days are asked for.
    """
    persons = _person_day_sets(bits=bits, source=source, segments=segments, parts=parts, filters_sql=filters_sql)
    smear_items, smeared = _smears(lengths)
    changes = ", ".join(
        f"arrayMap(d -> ({w}, toInt32(d), 1), bitPositionsToArray(bitAnd({smeared[w]}, bitNot(bitShiftLeft({smeared[w]}, 1))))), "
        f"arrayMap(d -> ({w}, toInt32(d) + 1, -1), bitPositionsToArray(bitAnd({smeared[w]}, bitNot(bitShiftRight({smeared[w]}, 1)))))"
        for w in lengths
    )
    selected = ", ".join(["m", *smear_items])
    return f"""
SELECT change.1 AS length, change.2 AS day_index, sum(change.3) AS delta
FROM
(
    SELECT arrayJoin(arrayConcat({changes})) AS change
    FROM
    (
        SELECT {selected}
        FROM
        ({persons}
        )
    )
)
GROUP BY length, day_index
"""


def _in_range(k: int) -> str:
    """Whether the row's day and quarters fall inside range ``k`` (see ``daymap.RangeEdges``)."""
    return (
        f"((day > {{r{k}_first_day:Date}} AND day < {{r{k}_last_day:Date}})"
        f" OR (day = {{r{k}_first_day:Date}} AND {_meets(f'{{r{k}_first_lo:UInt64}}', f'{{r{k}_first_hi:UInt32}}')})"
        f" OR (day = {{r{k}_last_day:Date}} AND {_meets(f'{{r{k}_last_lo:UInt64}}', f'{{r{k}_last_hi:UInt32}}')}))"
    )


def persons_in_ranges(*, ranges: int, by_event: bool) -> str:
    """Distinct persons active in each of ``ranges`` ranges of instants, over all events,
    or per event name of ``events``. Only a range's first and last UTC day can be partial,
    so only rows of those two days test their quarters.

    Each row meets the person overrides directly: a day row is already one per key and
    day, and grouping the rows per key before the join (as :func:`with_persons` callers do
    elsewhere) took 145 ms for the top events of 10M events against 75 ms this way."""
    flags = ", ".join(f"{_in_range(k)} AS in{k}" for k in range(ranges))
    counts = ", ".join(f"uniqExactIf(person, in{k}) AS persons{k}" for k in range(ranges))
    table, group, names = ("person_event_days", "event, ", "\n      AND event IN {events:Array(String)}") if by_event else ("person_days", "", "")
    rows = f"""
    SELECT {group}person_key, {flags}
    FROM {table}
    WHERE project_id = {{project_id:UInt64}}
      AND day >= {{first_utc_day:Date}} AND day <= {{last_utc_day:Date}}{names}"""
    return f"""
SELECT {group}{counts}
FROM ({with_persons(rows)})
{"GROUP BY event" if by_event else ""}
"""


# --- Overview ------------------------------------------------------------------------------

# Distinct sessions of this period and of the one just before it. Two distinct counts in
# one round trip; a GROUP BY per period costs less than uniqExactIf over both.
OVERVIEW_SESSIONS = f"""
SELECT
    (SELECT count() FROM (SELECT session_key FROM session_slots_15m
                          WHERE project_id = {{project_id:UInt64}} AND {slot_range()} GROUP BY session_key)) AS current,
    (SELECT count() FROM (SELECT session_key FROM session_slots_15m
                          WHERE project_id = {{project_id:UInt64}} AND {slot_range("previous_from", "date_from")} GROUP BY session_key)) AS previous
"""

# The most frequent event names of a range, from the counts rollup.
TOP_EVENT_COUNTS = """
SELECT event, sum(events) AS count
FROM event_counts_15m
WHERE project_id = {project_id:UInt64}
  AND slot >= toDateTime({date_from:DateTime64(3, 'UTC')}) AND slot < toDateTime({date_to:DateTime64(3, 'UTC')})
GROUP BY event
ORDER BY count DESC, event ASC
LIMIT {limit:UInt32}
"""

# --- Raw events -----------------------------------------------------------------------------

# Raw events, newest first, one page at a time. Keyset pagination: the cursor is the
# (timestamp, event_id) of the last row of the previous page, so a page costs the same
# however deep it is and rows arriving meanwhile never shift it. An empty filter
# parameter matches everything.
EVENTS_WHERE = """project_id = {project_id:UInt64}
  AND timestamp >= {date_from:DateTime64(3, 'UTC')}
  AND timestamp < {date_to:DateTime64(3, 'UTC')}
  AND ({event:String} = '' OR event = {event:String})
  AND ({distinct_id:String} = '' OR distinct_id = {distinct_id:String})
  AND ({user_id:String} = '' OR user_id = {user_id:String})
  AND ({anonymous_id:String} = '' OR anonymous_id = {anonymous_id:String})"""


def events_page(filters_sql: str) -> str:
    return f"""
SELECT
    event_id,
    event,
    timestamp,
    distinct_id,
    user_id,
    anonymous_id,
    session_id,
    source,
    page_url,
    referrer,
    properties,
    received_at
FROM events
WHERE {EVENTS_WHERE}{filters_sql}
  AND (timestamp, event_id) < ({{cursor_ts:DateTime64(3, 'UTC')}}, {{cursor_id:UUID}})
ORDER BY timestamp DESC, event_id DESC
LIMIT {{limit:UInt32}}
"""


def events_received_since(filters_sql: str) -> str:
    """How many matching events were stored after the page was loaded."""
    return f"""
SELECT count()
FROM events
WHERE {EVENTS_WHERE}{filters_sql}
  AND received_at > {{since:DateTime64(3, 'UTC')}}
"""


# --- Retention --------------------------------------------------------------------------------


def _period_number(period: str, column: str) -> str:
    """The period of ``column`` (a UTC instant), counted from the first cohort's period,
    whose first day is the parameter ``first_day``: local days, Monday-weeks or months."""
    local = f"toDate({column}, {{tz:String}})"
    if period == "day":
        return f"dateDiff('day', {{first_day:Date}}, {local})"
    if period == "week":
        return f"intDiv(dateDiff('day', {{first_day:Date}}, toMonday({local})), 7)"
    return f"dateDiff('month', {{first_day:Date}}, toStartOfMonth({local}))"


def retention(
    *, period: str, first_time: bool, any_start: bool, any_return: bool, start_filters: str, return_filters: str, narrow: bool = False, cell: bool = False
) -> str:
    """Rows ``(cohort, size, returned)``: per cohort (its period's number from the first
    cohort) the persons in it, and per later period k = 1 .. periods-1 how many of them did
    the return event in period cohort + k (see apps/analytics/retention.py).

    One pass over the events keeps, per key, the periods of its start and return events
    (and, for ``first_time``, its first start event ever); the keys are then gathered per
    person, so a person's ids count together. ``narrow``: no event property is read (the
    filters are on persons only), so the rows come from ``funnel_events``."""
    def condition(any_event: bool, name: str, filters: str) -> str:
        parts = ("" if any_event else f" AND event = {{{name}:String}}") + filters.replace("\n  AND", " AND")
        return f"(1{parts})"

    is_start = condition(any_start, "start_event", start_filters)
    is_return = condition(any_return, "return_event", return_filters)
    if narrow:
        table, time = "funnel_events", NARROW_TIME

        def before(until: str) -> str:
            return f"order_key < toUInt64(toUnixTimestamp64Milli({{{until}:DateTime64(3, 'UTC')}})) * {1 << ID_BITS}"
    else:
        table, time = "events", "timestamp"

        def before(until: str) -> str:
            return f"timestamp < {{{until}:DateTime64(3, 'UTC')}}"

    def between(since: str, until: str) -> str:
        return narrow_range(since, until) if narrow else f"timestamp >= {{{since}:DateTime64(3, 'UTC')}} AND {before(until)}"

    number = _period_number(period, time)
    returns_window = between("date_from", "returns_to")
    if first_time:
        # The first start event ever: from before the range too.
        starts_where = before("cohorts_to")
        start_column = f"minIf(toNullable({time}), {is_start} AND {starts_where}) AS key_first"
        start_person = "min(key_first) AS first_start"
        cohort = f"{_period_number(period, 'first_start')} AS cohort"
        each = "WHERE first_start IS NOT NULL"
    else:
        starts_where = between("date_from", "cohorts_to")
        start_column = f"groupUniqArrayIf({number}, {is_start} AND {starts_where}) AS key_starts"
        start_person = "groupUniqArrayArray(key_starts) AS starts"
        cohort = "arrayJoin(starts) AS cohort"
        each = ""
    per_key = f"""
        SELECT person_key, {start_column},
               groupUniqArrayIf({number}, {is_return} AND {returns_window}) AS key_returns
        FROM {table}
        WHERE project_id = {{project_id:UInt64}}
          AND (({is_start} AND {starts_where}) OR ({is_return} AND {returns_window}))
        GROUP BY person_key"""
    return _retention_cohorts(f"""
    SELECT person, {cohort}, returns
    FROM
    (
        SELECT person, {start_person}, groupUniqArrayArray(key_returns) AS returns
        FROM ({with_persons(per_key)})
        GROUP BY person
    )
    {each}""", cell=cell)


def retention_from_days(*, period: str, bits: int, any_start: bool, any_return: bool, segments: int, parts: int, cell: bool = False) -> str:
    """:func:`retention` of recurring cohorts by day or week, with no filters, from the
    ``person_event_days`` rollup (``person_days`` when both events are any event): each
    person's local days with a start event and with a return event, as ``bits``-bit sets
    from ``origin`` (see :func:`_person_day_sets`), then their periods: (day index -
    ``first_bit``) / 1 or 7 (the first cohort's day is a Monday for weeks)."""
    columns, day_bits = _local_day_bits(bits=bits, segments=segments, parts=parts)
    names = ""
    if any_start and any_return:
        table, sets = "person_days", f"groupBitOr({day_bits}) AS ms, ms AS mr"
    else:
        table = "person_event_days"
        columns = f"event, {columns}"
        is_start = "1" if any_start else "event = {start_event:String}"
        is_return = "1" if any_return else "event = {return_event:String}"
        sets = f"groupBitOrIf({day_bits}, {is_start}) AS ms, groupBitOrIf({day_bits}, {is_return}) AS mr"
        if not (any_start or any_return):
            names = "\n              AND event IN ({start_event:String}, {return_event:String})"
    keys = f"""
        SELECT person_key, {sets}
        FROM
        (
            SELECT person_key, {columns}
            FROM {table}
            WHERE project_id = {{project_id:UInt64}}
              AND day >= {{first_utc_day:Date}} AND day <= {{last_utc_day:Date}}{names}
        )
        GROUP BY person_key"""
    step = 7 if period == "week" else 1

    def periods_of(mask: str) -> str:
        return f"arrayDistinct(arrayMap(d -> intDiv(d - {{first_bit:UInt32}}, {step}), arrayFilter(d -> d >= {{first_bit:UInt32}}, bitPositionsToArray({mask}))))"

    return _retention_cohorts(f"""
    SELECT person, arrayJoin({periods_of("ms")}) AS cohort, {periods_of("mr")} AS returns
    FROM
    (
        SELECT person, groupBitOr(ms) AS ms, groupBitOr(mr) AS mr
        FROM ({with_persons(keys)})
        GROUP BY person
    )""", cell=cell)


def _retention_cohorts(persons: str, *, cell: bool) -> str:
    """The figures of :func:`retention` from rows ``(person, cohort, returns)``: one per
    person and cohort, with the periods of the person's return events. ``cell``: instead,
    the persons of cohort ``cell_cohort`` who came back (``returned`` 1) or did not (0) in
    period ``cell_cohort + cell_index`` (index 0: the whole cohort), 100 at most."""
    if cell:
        return f"""
SELECT person
FROM
({persons}
)
WHERE cohort = {{cell_cohort:UInt32}} AND ({{cell_index:UInt32}} = 0 OR has(returns, cohort + {{cell_index:UInt32}}) = {{returned:UInt8}})
ORDER BY person
LIMIT {{cell_limit:UInt32}}
"""
    return f"""
SELECT cohort, count() AS size, sumForEach(arrayMap(k -> toUInt64(has(returns, cohort + k)), range(1, {{periods:UInt32}}))) AS returned
FROM
({persons}
)
WHERE cohort >= 0 AND cohort < {{cohorts:UInt32}}
GROUP BY cohort
"""


# --- Stickiness and lifecycle -----------------------------------------------------------------


def stickiness_from_days(*, period: str, bits: int, segments: int, parts: int) -> str:
    """Rows ``(event, n, persons)``: per event of ``events``, how many persons did it on
    exactly n of the range's local days (or Monday-weeks), from their day sets in
    ``person_event_days`` (bit d: local day ``origin`` + d; the range's first day is bit
    ``first_bit``)."""
    columns, day_bits = _local_day_bits(bits=bits, segments=segments, parts=parts)
    keys = f"""
        SELECT event, person_key, groupBitOr({day_bits}) AS m
        FROM
        (
            SELECT event, person_key, {columns}
            FROM person_event_days
            WHERE project_id = {{project_id:UInt64}}
              AND day >= {{first_utc_day:Date}} AND day <= {{last_utc_day:Date}}
              AND event IN {{events:Array(String)}}
        )
        GROUP BY event, person_key"""
    if period == "week":
        n = "length(arrayDistinct(arrayMap(d -> intDiv(d - {first_bit:UInt32}, 7), bitPositionsToArray(m))))"
    else:
        n = "bitCount(m)"
    return f"""
SELECT event, {n} AS n, count() AS persons
FROM
(
    SELECT event, person, groupBitOr(m) AS m
    FROM ({with_persons(keys)})
    GROUP BY event, person
)
WHERE m != 0
GROUP BY event, n
"""


def stickiness_raw(interval: str) -> str:
    """:func:`stickiness_from_days` for ranges longer than a day set: the distinct buckets
    of each person, from ``funnel_events``."""
    keys = f"""
        SELECT event, person_key, groupUniqArray({bucket(interval, NARROW_TIME)}) AS buckets
        FROM funnel_events
        WHERE project_id = {{project_id:UInt64}} AND event IN {{events:Array(String)}} AND {narrow_range()}
        GROUP BY event, person_key"""
    return f"""
SELECT event, n, count() AS persons
FROM
(
    SELECT event, length(groupUniqArrayArray(buckets)) AS n
    FROM ({with_persons(keys)})
    GROUP BY event, person
)
GROUP BY event, n
"""


def lifecycle(interval: str, *, any_event: bool) -> str:
    """Rows ``(bucket, status, persons)`` of the lifecycle of one event (or any event) over
    the range's day or week buckets, numbered from 0 (the bucket before the range is -1):
    ``new`` (the person's first such event ever is in the bucket), ``returning`` (active in
    the bucket and the one before), ``resurrecting`` (active, not in the bucket before, but
    earlier) and ``dormant`` (active in the bucket before, not in this one).

    Per key: its first event ever and the buckets it was active in, from ``funnel_events``
    (which sorts by name, then key); gathered per person through the overrides."""
    name = "" if any_event else " AND event = {event:String}"
    number = _period_number(interval, NARROW_TIME)
    keys = f"""
        SELECT person_key, min(order_key) AS key_first,
               groupUniqArrayIf({number}, order_key >= toUInt64(toUnixTimestamp64Milli({{previous_from:DateTime64(3, 'UTC')}})) * {1 << ID_BITS}) AS key_buckets
        FROM funnel_events
        WHERE project_id = {{project_id:UInt64}}{name}
          AND order_key < toUInt64(toUnixTimestamp64Milli({{date_to:DateTime64(3, 'UTC')}})) * {1 << ID_BITS}
        GROUP BY person_key"""
    first = _period_number(interval, f"toDateTime(intDiv(first_key, {1000 << ID_BITS}), 'UTC')")
    return _lifecycle_statuses(f"""
        SELECT {first} AS first_bucket, bs
        FROM
        (
            SELECT person, min(key_first) AS first_key, groupUniqArrayArray(key_buckets) AS bs
            FROM ({with_persons(keys)})
            GROUP BY person
        )
        WHERE notEmpty(bs)""")


def lifecycle_from_days(interval: str, *, bits: int, any_event: bool, segments: int, parts: int) -> str:
    """:func:`lifecycle` from the persons' day sets: per key, the local days of the bucket
    before the range and of the range it was active on (``person_event_days``, or
    ``person_days`` for any event), and whether it was active before them (``pre_lo`` /
    ``pre_hi``: the quarters of the first UTC day that come before). Day d is bucket
    (d - ``first_bit``) for days, floor((d - ``first_bit``) / 7) for weeks."""
    columns, day_bits = _local_day_bits(bits=bits, segments=segments, parts=parts)
    table, name = ("person_days", "") if any_event else ("person_event_days", "\n              AND event = {event:String}")
    earlier = "row_day < {first_utc_day:Date} OR (row_day = {first_utc_day:Date} AND " + _meets("{pre_lo:UInt64}", "{pre_hi:UInt32}") + ")"
    # Rows before the span keep only ``earlier``: their day is clamped to the span's first,
    # so that placing them stays in range, and their bits are left out.
    keys = f"""
        SELECT person_key, groupBitOrIf({day_bits}, in_span) AS m, max(earlier) AS before
        FROM
        (
            SELECT person_key, in_span, earlier, {columns}
            FROM
            (
                SELECT person_key, greatest(row_day, {{first_utc_day:Date}}) AS day, slots_lo, slots_hi, in_span, earlier
                FROM
                (
                    SELECT person_key, day AS row_day, slots_lo, slots_hi, row_day >= {{first_utc_day:Date}} AS in_span, {earlier} AS earlier
                    FROM {table}
                    WHERE project_id = {{project_id:UInt64}} AND day <= {{last_utc_day:Date}}{name}
                )
            )
        )
        GROUP BY person_key"""
    bucket_of_day = "intDiv(toInt64(d) - {first_bit:Int64}, 1)" if interval == "day" else "intDiv(toInt64(d) - {first_bit:Int64} + 7, 7) - 1"
    return _lifecycle_statuses(f"""
        SELECT if(before, toInt64(-1000000), arrayMin(bs)) AS first_bucket, bs
        FROM
        (
            SELECT arrayDistinct(arrayMap(d -> {bucket_of_day}, bitPositionsToArray(groupBitOr(m)))) AS bs, max(before) AS before
            FROM ({with_persons(keys)})
            GROUP BY person
        )
        WHERE notEmpty(bs)""")


def _lifecycle_statuses(persons: str) -> str:
    """The figures of :func:`lifecycle` from rows ``(first_bucket, bs)``: per person, the
    bucket of its first event ever and the buckets it was active in (-1: the one before the
    range)."""
    statuses = """arrayConcat(
            arrayMap(b -> (b, multiIf(b = first_bucket, 'new', has(bs, b - 1), 'returning', 'resurrecting')), arrayFilter(b -> b >= 0, bs)),
            arrayMap(b -> (b + 1, 'dormant'), arrayFilter(b -> b + 1 < {buckets:Int64} AND NOT has(bs, b + 1), bs)))"""
    return f"""
SELECT status.1 AS bucket, status.2 AS kind, count() AS persons
FROM
(
    SELECT arrayJoin({statuses}) AS status
    FROM
    ({persons}
    )
)
GROUP BY bucket, kind
"""
