"""Parsing of the query parameters the analytics API and pages share."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo


class ParamError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def date_bound(value: str | None, *, field: str, tz: ZoneInfo, end: bool) -> datetime | None:
    """An ISO date or date-time as a UTC instant.

    A date is a whole day in the project's timezone: as ``date_from`` it means that day's
    start, as ``date_to`` the start of the next day (the range is half-open). A date-time
    without an offset is read in the project's timezone.
    """
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            if end:
                day += timedelta(days=1)
            return datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ParamError(field, f"{value!r} is not an ISO date (2026-11-22) or date-time (2026-11-22T10:00:00Z)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(timezone.utc)


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
        return datetime.fromtimestamp(int(millis) / 1000, tz=timezone.utc), str(uuid.UUID(event_id))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ParamError("cursor", "is not a cursor this API returned") from None
