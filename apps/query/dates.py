"""Date ranges of whole buckets in a project's timezone, as every insight reads them.

A range comes from request parameters: ``range`` (a preset ending with the current
bucket) or ``date_from``/``date_to`` (widened to whole buckets), and ``interval``. It is
half-open, in UTC, and made of whole local hours, days or Monday-weeks, so that figures
read from bucketed rollups are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Mapping
from zoneinfo import ZoneInfo

from pulseboard.errors import ParamError

INTERVALS = ("hour", "day", "week")
PRESETS = {"24h": ("24 hours", "hour"), "7d": ("7 days", "day"), "30d": ("30 days", "day"), "90d": ("90 days", "day")}
DEFAULT_PRESET = "30d"
MAX_BUCKETS = 2500
BUCKET_HOURS = {"hour": timedelta(hours=1), "day": timedelta(hours=24), "week": timedelta(hours=24 * 7)}


def floor_local(moment: datetime, interval: str, tz: ZoneInfo) -> datetime:
    """The start of the bucket holding ``moment``, as a UTC instant (same rule as ClickHouse's
    toStartOfHour / toStartOfDay / toMonday in the project's timezone)."""
    local = moment.astimezone(tz)
    if interval == "hour":
        local = local.replace(minute=0, second=0, microsecond=0)
        return local.astimezone(timezone.utc)
    day = local.date()
    if interval == "week":
        day -= timedelta(days=day.weekday())
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc)


def next_bucket(start: datetime, interval: str, tz: ZoneInfo) -> datetime:
    if interval == "hour":
        return start + timedelta(hours=1)
    step = 7 if interval == "week" else 1
    day = start.astimezone(tz).date() + timedelta(days=step)
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc)


@dataclass(frozen=True)
class _Buckets:
    starts: tuple[datetime, ...]
    epochs: tuple[int, ...]
    labels: tuple[str, ...]


@lru_cache(maxsize=256)
def _bucket_table(date_from: datetime, date_to: datetime, interval: str, tz: ZoneInfo) -> _Buckets:
    """The buckets of a range. Every request for a preset in the same hour asks for the same
    range, so they are worked out once (a range of hours walks its zone's offsets hour by hour)."""
    starts, current = [], date_from
    while current < date_to:
        starts.append(current)
        current = next_bucket(current, interval, tz)
    fmt = "%Y-%m-%d %H:%M" if interval == "hour" else "%Y-%m-%d"
    return _Buckets(
        starts=tuple(starts),
        epochs=tuple(int(start.timestamp()) for start in starts),
        labels=tuple(start.astimezone(tz).strftime(fmt) for start in starts),
    )


@dataclass(frozen=True)
class DateRange:
    """A half-open UTC range ``[date_from, date_to)`` made of whole buckets in ``tz``."""

    date_from: datetime
    date_to: datetime
    interval: str
    tz: ZoneInfo
    preset: str | None = None

    @property
    def timezone_name(self) -> str:
        return self.tz.key

    @property
    def _buckets(self) -> _Buckets:
        return _bucket_table(self.date_from, self.date_to, self.interval, self.tz)

    def bucket_starts(self) -> list[datetime]:
        """The UTC start of every bucket."""
        return list(self._buckets.starts)

    def bucket_epochs(self) -> tuple[int, ...]:
        """The start of every bucket in Unix seconds, as ClickHouse returns bucket keys."""
        return self._buckets.epochs

    def labels(self) -> list[str]:
        return list(self._buckets.labels)

    def days(self) -> list[date]:
        """Every local day the range touches."""
        first = self.date_from.astimezone(self.tz).date()
        last = (self.date_to - timedelta(microseconds=1)).astimezone(self.tz).date()
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]

    def whole_days(self) -> "DateRange":
        """An hourly range as the local days it touches (for daily figures such as active
        users); any other range as it is."""
        if self.interval != "hour":
            return self
        days = self.days()
        start = datetime.combine(days[0], time(0), tzinfo=self.tz).astimezone(timezone.utc)
        end = datetime.combine(days[-1] + timedelta(days=1), time(0), tzinfo=self.tz).astimezone(timezone.utc)
        return DateRange(start, end, "day", self.tz)

    def previous(self) -> "DateRange":
        """The range of the same length just before this one (for % change)."""
        count = len(self.bucket_starts())
        if self.interval == "hour":
            start = self.date_from - timedelta(hours=count)
        else:
            days = count * (7 if self.interval == "week" else 1)
            day = self.date_from.astimezone(self.tz).date() - timedelta(days=days)
            start = datetime.combine(day, time(0), tzinfo=self.tz).astimezone(timezone.utc)
        return DateRange(start, self.date_from, self.interval, self.tz)

    def query_params(self) -> dict[str, str]:
        """URL parameters that reproduce this range."""
        if self.preset:
            return {"range": self.preset, "interval": self.interval}
        last = (self.date_to - timedelta(microseconds=1)).astimezone(self.tz).date()
        return {"date_from": self.date_from.astimezone(self.tz).date().isoformat(), "date_to": last.isoformat(), "interval": self.interval}


def axis(date_range: DateRange) -> dict:
    """The time axis of an insight's answer: its interval, timezone, bounds and bucket labels."""
    return {
        "interval": date_range.interval,
        "timezone": date_range.timezone_name,
        "date_from": date_range.date_from.isoformat(),
        "date_to": date_range.date_to.isoformat(),
        "buckets": date_range.labels(),
    }


def date_range_resolve(
    *, params, tz_name: str, now: datetime | None = None, default_preset: str = DEFAULT_PRESET
) -> DateRange:
    """Read ``range`` (a preset), or ``date_from``/``date_to``, and ``interval`` from request params.

    Presets end with the current bucket: ``7d`` is today and the 6 days before, ``24h`` the
    current hour and the 23 before. Custom ranges are widened to whole buckets. Everything
    is in the project's timezone.
    """
    tz = ZoneInfo(tz_name)
    now = now or datetime.now(timezone.utc)
    interval = params.get("interval") or None
    if interval is not None and interval not in INTERVALS:
        raise ParamError("interval", f"must be one of {', '.join(INTERVALS)}")
    custom = params.get("date_from") or params.get("date_to")
    preset = params.get("range") or (None if custom else default_preset)
    if preset is not None:
        if preset not in PRESETS:
            raise ParamError("range", f"must be one of {', '.join(PRESETS)}")
        interval = interval or PRESETS[preset][1]
        if preset == "24h":
            end = next_bucket(floor_local(now, "hour", tz), "hour", tz)
            start = end - timedelta(hours=24)
        else:
            days = int(preset[:-1])
            today = now.astimezone(tz).date()
            start = datetime.combine(today - timedelta(days=days - 1), time(0), tzinfo=tz).astimezone(timezone.utc)
            end = datetime.combine(today + timedelta(days=1), time(0), tzinfo=tz).astimezone(timezone.utc)
    else:
        interval = interval or "day"
        start = date_bound(params.get("date_from"), field="date_from", tz=tz, end=False)
        end = date_bound(params.get("date_to"), field="date_to", tz=tz, end=True)
        if start is None or end is None:
            raise ParamError("date_from" if start is None else "date_to", "a custom range needs both date_from and date_to")
        if end <= start:
            raise ParamError("date_to", "must be after date_from")
    start = floor_local(start, interval, tz)
    end_floor = floor_local(end - timedelta(microseconds=1), interval, tz)
    end = next_bucket(end_floor, interval, tz)
    # Counted before the buckets are listed (a local day is 23 to 25 hours; rounding absorbs that).
    if round((end - start) / BUCKET_HOURS[interval]) > MAX_BUCKETS:
        raise ParamError("interval", f"the range has more than {MAX_BUCKETS} {interval} buckets; pick a longer interval")
    return DateRange(start, end, interval, tz, preset)


# The instants ClickHouse's DateTime64 holds: a bound outside is a bad parameter, not a
# query that fails.
INSTANT_MIN = datetime(1900, 1, 1, tzinfo=timezone.utc)
INSTANT_MAX = datetime(2299, 12, 31, 23, 59, 59, tzinfo=timezone.utc)


def instant_check(moment: datetime, *, field: str) -> datetime:
    if not INSTANT_MIN <= moment <= INSTANT_MAX:
        raise ParamError(field, "must be between 1900-01-01 and 2299-12-31")
    return moment


def date_bound(value: str | None, *, field: str, tz: ZoneInfo, end: bool) -> datetime | None:
    """An ISO date or date-time as a UTC instant, from 1900 to 2299.

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
            return instant_check(datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc), field=field)
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        return instant_check(parsed.astimezone(timezone.utc), field=field)
    except ValueError as exc:
        if isinstance(exc, ParamError):
            raise
        raise ParamError(field, f"{value!r} is not an ISO date (2026-11-22) or date-time (2026-11-22T10:00:00Z)") from None
    except OverflowError:  # a day after 9999-12-31, or before year 1 in UTC
        raise ParamError(field, "must be between 1900-01-01 and 2299-12-31") from None


def date_range_from_query(*, params: Mapping[str, str], tz_name: str) -> DateRange:
    """The range of a page's address. The date controls send the preset they show as
    ``preset``, which wins over ``range`` (see ``query/partials/date_controls.html``)."""
    if params.get("preset"):
        params = params.copy()
        params["range"] = params["preset"]
    return date_range_resolve(params=params, tz_name=tz_name)


def date_controls(*, params, date_range: DateRange, intervals=INTERVALS, keep=()) -> dict:
    """Context of the date-controls partial (``query/partials/date_controls.html``) for the
    page's ``params`` (a QueryDict), keeping the page's other parameters named in ``keep``."""
    last_day = (date_range.date_to - timedelta(microseconds=1)).astimezone(date_range.tz).date()
    return {
        "presets": [(value, label) for value, (label, _) in PRESETS.items()],
        "preset": date_range.preset,
        "date_from": date_range.date_from.astimezone(date_range.tz).date().isoformat(),
        "date_to": last_day.isoformat(),
        "interval": date_range.interval,
        "intervals": list(intervals),
        "hidden": [(key, value) for key in keep for value in params.getlist(key) if value],
    }
