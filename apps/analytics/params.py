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
MATHS = ("total", "unique", "wau", "mau")


@dataclass(frozen=True)
class Series:
    event: str
    math: str = "total"


def series_parse(events: str | None, math: str | None):
    """``events=a,b`` and ``math=total`` (one for all) or ``math=total,unique`` (one each)."""
    names = [name.strip() for name in (events or "").split(",") if name.strip()]
    if not names:
        raise ParamError("events", "name at least one event, e.g. events=$pageview,signed_up")
    if len(names) > MAX_SERIES:
        raise ParamError("events", f"at most {MAX_SERIES} series")
    maths = [m.strip() for m in (math or "total").split(",")]
    if len(maths) == 1:
        maths = maths * len(names)
    if len(maths) != len(names):
        raise ParamError("math", "give one math for all events, or one per event")
    for m in maths:
        if m not in MATHS:
            raise ParamError("math", f"{m!r} is not one of {', '.join(MATHS)}")
    return [Series(event=name, math=m) for name, m in zip(names, maths)]


def trend_series_check(*, series: list[Series], date_range: DateRange, breakdown: str | None) -> None:
    """WAU and MAU are counted over trailing days: they need day or week buckets, and take no
    breakdown."""
    if any(s.math in ("wau", "mau") for s in series):
        if date_range.interval == "hour":
            raise ParamError("math", "WAU and MAU need a day or week interval")
        if breakdown:
            raise ParamError("breakdown", "a breakdown works with total and unique math")
