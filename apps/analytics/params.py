"""Parsing of the query parameters the analytics API and pages share (the date range and
property filters are the shared vocabulary's: :mod:`apps.query`)."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from apps.query.dates import DateRange, instant_check
from pulseboard.errors import ParamError


def int_param(value: str | None, *, field: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ParamError(field, f"{value!r} is not an integer") from None
    if not low <= number <= high:
        raise ParamError(field, f"must be between {low} and {high}")
    return number


def cursor_encode(timestamp: datetime, event_id: str) -> str:
    millis = (timestamp - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1)
    raw = f"{millis}:{event_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_decode(value: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        millis, event_id = raw.split(":", 1)
        moment = instant_check(datetime.fromtimestamp(int(millis) / 1000, tz=timezone.utc), field="cursor")
        return moment, str(uuid.UUID(event_id))
    except (ValueError, OverflowError, OSError, binascii.Error, UnicodeDecodeError):
        raise ParamError("cursor", "is not a cursor this API returned") from None


# --- Insight parameters -----------------------------------------------------------------------

MAX_SERIES = 10
# Maths that count: events, distinct persons per bucket, persons of the trailing 7 / 30 days.
COUNT_MATHS = ("total", "unique", "wau", "mau")
# Maths of a numeric event property (``math_property``): per bucket, over the events whose
# property is a number (see ``sql.property_number``).
QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
PROPERTY_MATHS = ("sum", "avg", "min", "max", *QUANTILES)
MATHS = COUNT_MATHS + PROPERTY_MATHS
PROPERTY_KEY_MAX_LENGTH = 200


@dataclass(frozen=True)
class Series:
    event: str
    math: str = "total"
    math_property: str = ""  # the numeric event property of a property math, else ""

    @property
    def of_property(self) -> bool:
        return self.math in PROPERTY_MATHS


def _split(value: str | list[str] | None) -> list[str]:
    """A comma-separated parameter (the API's form), or the page form's repeated fields."""
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [item.strip() for item in items]


def property_key_clean(key: str, *, field: str) -> str:
    """A property name given as a parameter: at most 200 characters, no control characters."""
    if len(key) > PROPERTY_KEY_MAX_LENGTH:
        raise ParamError(field, f"a property name is at most {PROPERTY_KEY_MAX_LENGTH} characters")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in key):
        raise ParamError(field, "a property name cannot hold control characters")
    return key


def series_parse(events: str | list[str] | None, math: str | list[str] | None, math_property: str | list[str] | None = None) -> list[Series]:
    """``events=a,b`` and ``math=total`` (one for all) or ``math=total,avg`` (one each);
    ``math_property=duration_ms`` (one for every series of a property math) or
    ``math_property=,duration_ms`` (one each, empty for the series that count)."""
    names = [name for name in _split(events) if name]
    if not names:
        raise ParamError("events", "name at least one event, e.g. events=$pageview,signed_up")
    if len(names) > MAX_SERIES:
        raise ParamError("events", f"at most {MAX_SERIES} series")
    maths = _split(math) or ["total"]
    if maths == [""]:
        maths = ["total"]
    if len(maths) == 1:
        maths = maths * len(names)
    if len(maths) != len(names):
        raise ParamError("math", "give one math for all events, or one per event")
    for m in maths:
        if m not in MATHS:
            raise ParamError("math", f"{m!r} is not one of {', '.join(MATHS)}")
    keys = _split(math_property)
    if not any(keys):
        keys = [""] * len(names)
    elif len(keys) == 1:
        if not any(m in PROPERTY_MATHS for m in maths):
            raise ParamError("math_property", f"only {', '.join(PROPERTY_MATHS)} read a property; {maths[0]} counts")
        keys = [keys[0] if m in PROPERTY_MATHS else "" for m in maths]
    elif len(keys) != len(names):
        raise ParamError("math_property", "give one property for all series, or one per series (empty for the ones that count)")
    series = []
    for name, m, key in zip(names, maths, keys):
        if m in PROPERTY_MATHS and not key:
            raise ParamError("math_property", f"math {m} needs a numeric property, e.g. math_property=duration_ms")
        if m not in PROPERTY_MATHS and key:
            raise ParamError("math_property", f"math {m} counts and reads no property: leave its math_property empty")
        series.append(Series(event=name, math=m, math_property=property_key_clean(key, field="math_property")))
    return series


def trend_series_check(*, series: list[Series], date_range: DateRange, breakdown: str | None) -> None:
    """WAU and MAU are counted over trailing days: they need day or week buckets, and take no
    breakdown."""
    if any(s.math in ("wau", "mau") for s in series):
        if date_range.interval == "hour":
            raise ParamError("math", "WAU and MAU need a day or week interval")
        if breakdown:
            raise ParamError("breakdown", "a breakdown works with total, unique and the property maths")
