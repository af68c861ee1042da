"""ClickHouse SQL of the shared vocabulary: property values and property filters.

Keys and values are always parameters (``{name:String}``), never formatted into the SQL.
"""

from __future__ import annotations

from apps.query.filters import PropertyFilter
from apps.query.materialized import json_text, may_hold, property_column
from apps.query.persons import person_property_filters

# funnel_events (migration 0004), the narrow copy of events: name, person_key and order_key,
# the time in milliseconds times 2^ID_BITS plus the event id's first ID_BITS bits.
ID_BITS = 22


_BUCKETS = {
    "hour": "toStartOfHour({column}, {{tz:String}})",
    "day": "toStartOfDay({column}, {{tz:String}})",
    "week": "toDateTime(toMonday({column}, {{tz:String}}), {{tz:String}})",
}


def bucket(interval: str, column: str) -> str:
    """The start of ``column``'s bucket in the project's timezone (the parameter ``tz``), as
    a Unix timestamp: Python places it exactly even when a local hour repeats."""
    return "toUnixTimestamp(" + _BUCKETS[interval].format(column=column) + ")"


def narrow_range(since: str = "date_from", until: str = "date_to") -> str:
    """``order_key`` of funnel_events in ``[since, until)`` (DateTime64 parameters)."""
    return (
        f"order_key >= toUInt64(toUnixTimestamp64Milli({{{since}:DateTime64(3, 'UTC')}})) * {1 << ID_BITS}"
        f" AND order_key < toUInt64(toUnixTimestamp64Milli({{{until}:DateTime64(3, 'UTC')}})) * {1 << ID_BITS}"
    )


# The second of a funnel_events row, as a DateTime.
NARROW_TIME = f"toDateTime(intDiv(order_key, {1000 << ID_BITS}), 'UTC')"


def property_text(key_param: str, key: str | None = None) -> str:
    """A property's value as text: strings as they are, anything else as its JSON. Given
    ``key`` (the value the parameter ``key_param`` will have), the property's materialised
    column when it has one (:mod:`apps.query.materialized`): the same text, read faster."""
    column = property_column(key) if key is not None else None
    if column is not None:
        return column
    return json_text("{" + key_param + ":String}")


def property_filters(filters: list[PropertyFilter], params: dict, prefix: str = "f") -> str:
    """``AND``-ed conditions for ``filters`` on the rows of ``events``; keys and values go
    into ``params`` under names that start with ``prefix``. Filters on person properties
    become conditions on ``person_key`` (see :mod:`apps.query.persons`).

    equals / contains (case-insensitive) / is_set need the property to be present;
    not_equals also matches events that do not have it.
    """
    person = [f for f in filters if f.type == "person"]
    own = [f for f in filters if f.type != "person"]
    return _event_property_filters(own, params, prefix) + person_property_filters(person, params, prefix + "p")


def _event_property_filters(filters: list[PropertyFilter], params: dict, prefix: str) -> str:
    parts = []
    for i, f in enumerate(filters):
        key, value = f"{prefix}k{i}", f"{prefix}v{i}"
        params[key] = f.key
        has = f"({may_hold(f'{{{key}:String}}')} AND JSONHas(properties, {{{key}:String}}))"
        column = property_column(f.key)
        if column is not None and f.operator != "is_set":
            # A materialised property: its text is '' when the property is missing, and the
            # value of equals, not_equals and contains is never '', so the text alone decides.
            has = "1"
        text = column or property_text(key)
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
