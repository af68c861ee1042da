"""Property filters: the one rule for what a filter is, wherever it comes from.

A filter is ``{"key", "operator", "value"}``: a property name, one of :data:`OPERATORS`,
and a value unless the operator is ``is_set`` (whose value is always ""); ``"type":
"person"`` makes it look at the person's current properties instead of the event's. The insights'
``filters`` parameter, the trends page, a funnel step (API, editor, admin) all go through
:func:`property_filter_clean`, so they accept the same filters and store the same text.

A value is compared as text with the property's text: a string as it is, anything else
as the JSON text ClickHouse gives it (``JSONExtractRaw``, see
:func:`apps.query.sql.property_text`). ClickHouse writes a number afresh, in its shortest
form: ``2`` for ``2.0``, ``10000000000000000`` for ``1e16``, ``1e-7``, ``1e21``. So a number
or boolean value is normalised to that same text (:func:`filter_value_text`), and a filter
on ``2.0`` matches a property sent as ``2.0`` or ``2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from pulseboard.errors import ParamError

OPERATORS = ("equals", "not_equals", "contains", "is_set")
# What a filter looks at: the event's own properties, or its person's (apps/query/persons.py).
TYPES = ("event", "person")
OPERATOR_LABELS = {"equals": "equals", "not_equals": "does not equal", "contains": "contains", "is_set": "is set"}
OPERATOR_CHOICES = [(operator, OPERATOR_LABELS[operator]) for operator in OPERATORS]
MAX_FILTERS = 10
KEY_MAX_LENGTH = 200
VALUE_MAX_LENGTH = 1000
EXAMPLE = '[{"key": "plan", "operator": "equals", "value": "pro"}]'


@dataclass(frozen=True)
class PropertyFilter:
    key: str
    operator: str
    value: str = ""
    type: str = "event"

    def as_json(self) -> dict[str, str]:
        """As stored with a funnel step and sent by the API (``type`` only for person filters)."""
        shape = {"key": self.key, "operator": self.operator, "value": self.value}
        if self.type != "event":
            shape["type"] = self.type
        return shape


class FilterError(ValueError):
    """A filter that cannot be used: which one (``index``, 0-based, None for the list as a
    whole), which part of it (``field``: key, operator or value; None for the whole
    filter) and why (``message``)."""

    def __init__(self, message: str, *, index: int | None = None, field: str | None = None):
        self.message = message
        self.index = index
        self.field = field
        super().__init__(str(self))

    def __str__(self) -> str:
        return self.message if self.index is None else f"Filter {self.index + 1}: {self.message}"


def _number_text(number: float) -> str:
    """A float as ClickHouse writes it in JSON: the shortest digits that read back as the
    same float, in plain notation for decimal exponents -6 to 20 and in exponent notation
    (``1e-7``, ``1.5e21``, no ``+``) beyond, integral values without a fraction."""
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    negative, digit_tuple, exponent = Decimal(repr(number)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    point = len(digit_tuple) + exponent  # the decimal point falls after this many digits
    if len(digits) <= point <= 21:
        text = digits + "0" * (point - len(digits))
    elif 0 < point <= 21:
        text = f"{digits[:point]}.{digits[point:]}"
    elif -6 < point <= 0:
        text = "0." + "0" * -point + digits
    else:
        text = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "") + f"e{point - 1}"
    return "-" + text if negative else text


def filter_value_text(value: Any) -> str | None:
    """The text a filter compares: a string as it is, a number or boolean as ClickHouse
    writes it (``true``, ``3``, ``19.99``, ``2`` for ``2.0``). None when ``value`` is none
    of these (or a float that is not finite)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return _number_text(value)
    return None


def property_filter_clean(item: Any, *, index: int | None = None) -> PropertyFilter:
    """One filter, checked and normalised (the key trimmed; the value as text, "" for
    ``is_set``); raises :class:`FilterError` naming the part at fault."""
    if not isinstance(item, dict):
        raise FilterError('must be an object with "key", "operator" and "value"', index=index)
    key = item.get("key")
    if not isinstance(key, str) or not key.strip():
        raise FilterError("needs a property name", index=index, field="key")
    key = key.strip()
    if len(key) > KEY_MAX_LENGTH:
        raise FilterError(f"the property name is longer than {KEY_MAX_LENGTH} characters", index=index, field="key")
    operator = item.get("operator", "equals")
    if operator not in OPERATORS:
        raise FilterError(f"the operator must be one of {', '.join(OPERATORS)}", index=index, field="operator")
    kind = item.get("type", "event")
    if kind not in TYPES:
        raise FilterError(f"the type must be one of {', '.join(TYPES)} (default event)", index=index, field="type")
    if operator == "is_set":
        return PropertyFilter(key=key, operator=operator, type=kind)
    raw = item.get("value")
    text = filter_value_text(raw)
    if text is None and raw is not None:
        raise FilterError("the value must be text, a number or true/false", index=index, field="value")
    if not text:
        raise FilterError("needs a value (or choose “is set”)", index=index, field="value")
    if len(text) > VALUE_MAX_LENGTH:
        raise FilterError(f"the value is longer than {VALUE_MAX_LENGTH} characters", index=index, field="value")
    return PropertyFilter(key=key, operator=operator, value=text, type=kind)


def property_filters_clean(items: Any) -> list[PropertyFilter]:
    """A list of at most :data:`MAX_FILTERS` filters (None or "" for none), each checked by
    :func:`property_filter_clean`; raises :class:`FilterError` for the first at fault."""
    if items is None or items == "":
        return []
    if not isinstance(items, list):
        raise FilterError(f"must be a list like {EXAMPLE}")
    if len(items) > MAX_FILTERS:
        raise FilterError(f"must hold at most {MAX_FILTERS} filters")
    return [property_filter_clean(item, index=index) for index, item in enumerate(items)]


def filter_rows(params, *, prefix: str = "") -> list[dict]:
    """The filter rows of a page's form (``templates/partials/filter_rows.html``): repeated
    ``{prefix}ftype``, ``fkey``, ``fop`` and ``fvalue`` fields, one of each per row, as
    filter objects (unchecked: :func:`property_filters_clean` judges them). Rows without a
    key are left out; a row without a type is about the event."""
    keys = params.getlist(f"{prefix}fkey")
    types = params.getlist(f"{prefix}ftype") + ["event"] * len(keys)
    ops = params.getlist(f"{prefix}fop") + ["equals"] * len(keys)
    values = params.getlist(f"{prefix}fvalue") + [""] * len(keys)
    return [
        {"key": key, "operator": op, "value": value, "type": kind or "event"}
        for key, op, value, kind in zip(keys, ops, values, types)
        if key.strip()
    ]


def property_filters_parse(text: str | None, *, field: str = "filters") -> list[PropertyFilter]:
    """Filters sent as JSON text in a request parameter; a bad one is a :class:`ParamError`
    naming ``field``."""
    if not text:
        return []
    try:
        items = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise ParamError(field, f"must be a JSON list like {EXAMPLE}") from None
    try:
        return property_filters_clean(items)
    except FilterError as error:
        raise ParamError(field, str(error)) from None
