"""ClickHouse SQL of the analytics area: named queries and small builders.

Conventions shared by every query here:

* Tenancy first: ``project_id = {project_id:UInt64}`` in every WHERE.
* Time ranges are half-open ``[date_from, date_to)`` in UTC and always made of whole
  buckets of the project's timezone (see ``params.DateRange``).
* Buckets come back as ``toUnixTimestamp`` of their start, so that Python can place them
  exactly even when a local hour repeats at the end of summer time.
* A *person* is ``person_key``: a 64-bit hash of the first of user_id, anonymous_id and
  distinct_id that is set (the materialised column of ``events``; ``PERSON_ID`` below is
  the readable form of the same rule). Distinct counts are exact over these keys.
* Figures without property filters or a breakdown read the 15-minute rollups
  (``event_counts_15m``, ``person_slots_15m``, ``session_slots_15m``); the rest read
  ``events``.
"""

from __future__ import annotations

from dataclasses import dataclass

# The one definition of who a user is, as text. events.person_key = cityHash64(PERSON_ID).
PERSON_ID = "if(user_id != '', user_id, if(anonymous_id != '', anonymous_id, distinct_id))"

_BUCKETS = {
    "hour": "toStartOfHour({column}, {{tz:String}})",
    "day": "toStartOfDay({column}, {{tz:String}})",
    "week": "toDateTime(toMonday({column}, {{tz:String}}), {{tz:String}})",
}


def bucket(interval: str, column: str) -> str:
    """The start of ``column``'s bucket in the project's timezone, as a Unix timestamp."""
    return "toUnixTimestamp(" + _BUCKETS[interval].format(column=column) + ")"


# --- Property filters ------------------------------------------------------------------------

OPERATORS = ("equals", "not_equals", "contains", "is_set")


def property_text(key_param: str) -> str:
    """A property's value as text: strings as they are, anything else as its JSON."""
    key = "{" + key_param + ":String}"
    return f"if(JSONType(properties, {key}) = 'String', JSONExtractString(properties, {key}), JSONExtractRaw(properties, {key}))"


@dataclass(frozen=True)
class PropertyFilter:
    key: str
    operator: str
    value: str = ""


def property_filters(filters: list[PropertyFilter], params: dict, prefix: str = "f") -> str:
    """``AND``-ed conditions for ``filters``; keys and values go into ``params`` under
    names that start with ``prefix``.

    equals / contains (case-insensitive) / is_set need the property to be present;
    not_equals also matches events that do not have it.
    """
    parts = []
    for i, f in enumerate(filters):
        key, value = f"{prefix}k{i}", f"{prefix}v{i}"
        params[key] = f.key
        has = f"JSONHas(properties, {{{key}:String}})"
        text = property_text(key)
        if f.operator == "is_set":
            parts.append(has)
        elif f.operator == "equals":
            params[value] = f.value
            parts.append(f"({has} AND {text} = {{{value}:String}})")
        elif f.operator == "not_equals":
            params[value] = f.value
            parts.append(f"NOT ({has} AND {text} = {{{value}:String}})")
        elif f.operator == "contains":
            params[value] = f.value
            parts.append(f"({has} AND positionCaseInsensitiveUTF8({text}, {{{value}:String}}) > 0)")
        else:
            raise ValueError(f"unknown operator {f.operator!r}")
    return "".join(f"\n  AND {part}" for part in parts)


# --- Counting over time ----------------------------------------------------------------------

RANGE = "{date_from:DateTime64(3, 'UTC')}", "{date_to:DateTime64(3, 'UTC')}"


def event_counts(interval: str, *, by_event: bool) -> str:
    """Events per bucket (and per name) from the rollup. Cheap at any volume."""
    group = ", event" if by_event else ""
    name_filter = "\n  AND has({events:Array(String)}, event)" if by_event else ""
    return f"""
SELECT {bucket(interval, 'slot')} AS bucket{group}, sum(events) AS value
FROM event_counts_15m
WHERE project_id = {{project_id:UInt64}}
  AND slot >= {RANGE[0]} AND slot < {RANGE[1]}{name_filter}
GROUP BY bucket{group}
"""


def unique_persons(interval: str) -> str:
    """Distinct persons per bucket and event name, from the rollup."""
    return f"""
SELECT {bucket(interval, 'slot')} AS bucket, event, uniqExact(person_key) AS value
FROM person_slots_15m
WHERE project_id = {{project_id:UInt64}}
  AND slot >= {RANGE[0]} AND slot < {RANGE[1]}
  AND has({{events:Array(String)}}, event)
GROUP BY bucket, event
"""


def raw_series(interval: str, math: str, filters_sql: str, breakdown: bool) -> str:
    """One event's count or distinct persons per bucket from the raw events, optionally
    broken down by a property: its 10 most frequent values in the range, the rest as
    ``$other``. Events without the property have the value ''."""
    aggregate = "count()" if math == "total" else "uniqExact(person_key)"
    where = f"""project_id = {{project_id:UInt64}}
  AND event = {{event:String}}
  AND timestamp >= {RANGE[0]} AND timestamp < {RANGE[1]}{filters_sql}"""
    if not breakdown:
        return f"""
SELECT {bucket(interval, 'timestamp')} AS bucket, '' AS breakdown_value, {aggregate} AS value
FROM events
WHERE {where}
GROUP BY bucket
"""
    value = property_text("breakdown")
    return f"""
SELECT bucket, if(has(top.values, raw_value), raw_value, '$other') AS breakdown_value, {aggregate} AS value
FROM
(
    SELECT {bucket(interval, 'timestamp')} AS bucket, {value} AS raw_value, person_key
    FROM events
    WHERE {where}
) AS matching
CROSS JOIN
(
    SELECT groupArray(raw_value) AS values
    FROM
    (
        SELECT {value} AS raw_value, count() AS n
        FROM events
        WHERE {where}
        GROUP BY raw_value
        ORDER BY n DESC, raw_value ASC
        LIMIT 10
    )
) AS top
GROUP BY bucket, breakdown_value
"""


# --- Active users over trailing windows --------------------------------------------------

PERSON_DAYS_FROM_ROLLUP = """
SELECT DISTINCT person_key, toDate(slot, {tz:String}) AS day
FROM person_slots_15m
WHERE project_id = {project_id:UInt64}
  AND slot >= {window_from:DateTime64(3, 'UTC')} AND slot < {date_to:DateTime64(3, 'UTC')}
  AND ({event:String} = '' OR event = {event:String})
"""


def person_days_from_events(filters_sql: str) -> str:
    return f"""
SELECT DISTINCT person_key, toDate(timestamp, {{tz:String}}) AS day
FROM events
WHERE project_id = {{project_id:UInt64}}
  AND timestamp >= {{window_from:DateTime64(3, 'UTC')}} AND timestamp < {{date_to:DateTime64(3, 'UTC')}}
  AND event = {{event:String}}{filters_sql}
"""


def trailing_actives(person_days: str) -> str:
    """For each window length w in {windows}, how many persons were active in the w days
    ending on each day.

    A person active on day a counts on days a .. a+w-1. Per person, the sorted active days
    are merged into runs whose coverage overlaps (a gap of more than w days starts a new
    run); each run adds +1 on its first day and -1 on the day after its coverage ends.
    A running sum of those changes, per window, is the count on every day where it changes;
    days in between carry the last value (filled in by the caller). Exact, and it touches
    each (person, day) pair once instead of w times.
    """
    return f"""
SELECT w, day, sum(delta) OVER (PARTITION BY w ORDER BY day ROWS UNBOUNDED PRECEDING) AS value
FROM
(
    SELECT w, change.1 AS day, sum(change.2) AS delta
    FROM
    (
        SELECT
            arrayJoin({{windows:Array(UInt16)}}) AS w,
            arrayJoin(arrayConcat(
                arrayMap(i -> (days[i], toInt64(1)),
                         arrayFilter(i -> i = 1 OR days[i] - days[i - 1] > w, arrayEnumerate(days))),
                arrayMap(i -> (days[i] + w, toInt64(-1)),
                         arrayFilter(i -> i = length(days) OR days[i + 1] - days[i] > w, arrayEnumerate(days)))
            )) AS change
        FROM
        (
            SELECT person_key, arraySort(groupArray(day)) AS days
            FROM ({person_days})
            GROUP BY person_key
        )
    )
    GROUP BY w, day
)
ORDER BY w, day
"""


DAILY_UNIQUE_FROM_ROLLUP = """
SELECT {bucket} AS bucket, uniqExact(person_key) AS value
FROM person_slots_15m
WHERE project_id = {{project_id:UInt64}}
  AND slot >= {{date_from:DateTime64(3, 'UTC')}} AND slot < {{date_to:DateTime64(3, 'UTC')}}
GROUP BY bucket
"""


def bucket_unique_persons(interval: str) -> str:
    """Distinct persons per bucket over all events (DAU for daily buckets)."""
    return DAILY_UNIQUE_FROM_ROLLUP.format(bucket=bucket(interval, "slot"))


# --- Overview ------------------------------------------------------------------------------

def period_totals(aggregate: str, column: str, table: str) -> str:
    """``aggregate`` of ``column`` over this period and over the one just before it, in one
    pass over ``table``: ``slot >= date_from`` splits the two, since the previous period
    ends where this one starts."""
    return f"""
SELECT {aggregate}If({column}, slot >= {{date_from:DateTime64(3, 'UTC')}}) AS current,
       {aggregate}If({column}, slot < {{date_from:DateTime64(3, 'UTC')}}) AS previous
FROM {table}
WHERE project_id = {{project_id:UInt64}}
  AND slot >= {{previous_from:DateTime64(3, 'UTC')}} AND slot < {{date_to:DateTime64(3, 'UTC')}}
"""


OVERVIEW_EVENTS = period_totals("sum", "events", "event_counts_15m")
OVERVIEW_PERSONS = period_totals("uniqExact", "person_key", "person_slots_15m")
OVERVIEW_SESSIONS = period_totals("uniqExact", "session_key", "session_slots_15m")

# The most frequent event names with their distinct persons. The names are picked from the
# counts rollup first, so the distinct count only runs over those names.
TOP_EVENTS = """
SELECT counts.event AS event, counts.count AS count, persons.users AS users
FROM
(
    SELECT event, sum(events) AS count
    FROM event_counts_15m
    WHERE project_id = {project_id:UInt64}
      AND slot >= {date_from:DateTime64(3, 'UTC')} AND slot < {date_to:DateTime64(3, 'UTC')}
    GROUP BY event
    ORDER BY count DESC, event ASC
    LIMIT {limit:UInt32}
) AS counts
LEFT JOIN
(
    SELECT event, uniqExact(person_key) AS users
    FROM person_slots_15m
    WHERE project_id = {project_id:UInt64}
      AND slot >= {date_from:DateTime64(3, 'UTC')} AND slot < {date_to:DateTime64(3, 'UTC')}
      AND event IN
      (
          SELECT event FROM event_counts_15m
          WHERE project_id = {project_id:UInt64}
            AND slot >= {date_from:DateTime64(3, 'UTC')} AND slot < {date_to:DateTime64(3, 'UTC')}
          GROUP BY event ORDER BY sum(events) DESC, event ASC LIMIT {limit:UInt32}
      )
    GROUP BY event
) AS persons ON persons.event = counts.event
ORDER BY count DESC, event ASC
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
  AND ({anonymous_id:String} = '' OR anonymous_id = {anonymous_id:String})
  AND ({person:String} = '' OR person_key = cityHash64({person:String}))"""


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


# The most active persons in a range, with their readable id.
TOP_PERSONS = f"""
SELECT any({PERSON_ID}) AS person, count() AS events, uniqExact(toDate(timestamp, {{tz:String}})) AS active_days,
       min(timestamp) AS first_seen, max(timestamp) AS last_seen
FROM events
WHERE project_id = {{project_id:UInt64}}
  AND timestamp >= {{date_from:DateTime64(3, 'UTC')}} AND timestamp < {{date_to:DateTime64(3, 'UTC')}}
GROUP BY person_key
ORDER BY events DESC, person ASC
LIMIT {{limit:UInt32}}
"""
