"""Local days of a project's timezone in terms of UTC days and their quarter hours.

``person_days`` and ``person_event_days`` keep, per UTC day, the set of the day's 96
quarter hours in which a person was active (two words: quarters 0..63, then 64..95).
Every timezone in use is a whole number of quarter hours away from UTC, so each quarter
hour of a UTC day lies in exactly one local day, and one UTC day overlaps at most three
local days (two, except on a rare 23-hour day that starts just after midnight UTC).

:func:`day_map` says, for every UTC day of a span, which of its quarters fall on which
local day; :func:`range_edges` which quarters fall inside a range of instants. Both are
computed here, once per query, from the zone's own rules (DST included), and passed to
ClickHouse as small array parameters, so the SQL needs no timezone arithmetic per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

QUARTER = timedelta(minutes=15)
QUARTERS_PER_DAY = 96
LOW_WORD = (1 << 64) - 1


def _words(mask: int) -> tuple[int, int]:
    """A 96-bit quarter set as (quarters 0..63, quarters 64..95)."""
    return mask & LOW_WORD, mask >> 64


def utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which local ``day`` starts."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc)


@dataclass(frozen=True)
class Segment:
    """UTC days from ``first_day`` on (to the next segment) whose quarter 0 falls on local day
    index ``(day - first_utc_day) + offset`` and whose quarters in ``parts[j]`` (low word,
    high word) fall on that local day + j."""

    first_day: date
    offset: int
    parts: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class DayMap:
    """Local days ``origin .. origin + span - 1`` of a timezone over UTC days.

    For the UTC day ``first_utc_day + i``: ``starts[i]`` is the index (from ``origin``) of
    the local day its quarter 0 falls on, and ``parts[j][i]`` the quarters (low word, high
    word) that fall on local day ``starts[i] + j``, for j = 0, 1, 2. Quarters outside the
    span have no bit anywhere, so a UTC day's rows only ever land on local days of the span.
    """

    origin: date
    span: int
    first_utc_day: date
    last_utc_day: date
    starts: list[int]
    parts: list[list[tuple[int, int]]]

    def index(self, day: date) -> int:
        return (day - self.origin).days

    def used_parts(self) -> int:
        """How many of the three parts hold a quarter on some day (1 for UTC, 2 for most
        timezones, 3 only around a rare 23-hour day that starts just after midnight UTC)."""
        return 1 + max((j for j, part in enumerate(self.parts) if any(lo or hi for lo, hi in part)), default=0)

    def segments(self) -> list[Segment]:
        """Runs of consecutive UTC days that map onto local days alike: the same parts, and
        the same local day index minus UTC day index. A span has a few (its partial first
        and last days, and one more per DST change), so per-row SQL can pick its values
        with a short ``multiIf`` on the day instead of an array lookup."""
        runs: list[Segment] = []
        for i in range(len(self.starts)):
            key = (self.starts[i] - i, tuple(part[i] for part in self.parts))
            if not runs or (runs[-1].offset, runs[-1].parts) != key:
                runs.append(Segment(self.first_utc_day + timedelta(days=i), key[0], key[1]))
        return runs


def _bits(first: int, stop: int) -> int:
    """Quarters ``first .. stop - 1`` of a day (clamped to the day) as a 96-bit set."""
    first, stop = max(first, 0), min(stop, QUARTERS_PER_DAY)
    return (1 << stop) - (1 << first) if first < stop else 0


def _quarters_since(start: datetime, moment: datetime) -> int:
    seconds = (moment - start).total_seconds()
    if seconds % QUARTER.total_seconds():
        raise ValueError(f"{moment.isoformat()} is not on a quarter hour")
    return int(seconds // QUARTER.total_seconds())


def day_map(tz: ZoneInfo, first_local: date, last_local: date) -> DayMap:
    """Which quarter hours of which UTC days make up local days ``first_local .. last_local``."""
    span_from = local_midnight(first_local, tz)
    span_to = local_midnight(last_local + timedelta(days=1), tz)
    first_utc_day = span_from.date()
    last_utc_day = (span_to - timedelta(microseconds=1)).date()
    # The first UTC day may begin on the local day before first_local: index from there, so
    # that every index is >= 0, and leave that day out of the masks.
    origin = utc_midnight(first_utc_day).astimezone(tz).date()
    span = (last_local - origin).days + 1
    skip = (first_local - origin).days
    # midnights[k] is where local day origin + k starts (two more for the last UTC day's tail).
    midnights = [local_midnight(origin + timedelta(days=k), tz) for k in range(span + 3)]
    starts: list[int] = []
    parts: list[list[tuple[int, int]]] = [[], [], []]
    k = 0
    day = first_utc_day
    while day <= last_utc_day:
        start = utc_midnight(day)
        while midnights[k + 1] <= start:
            k += 1
        starts.append(k)
        for j in range(3):
            index = k + j
            bits = 0
            if skip <= index < span:
                bits = _bits(_quarters_since(start, midnights[index]), _quarters_since(start, midnights[index + 1]))
            parts[j].append(_words(bits))
        day += timedelta(days=1)
    return DayMap(origin, span, first_utc_day, last_utc_day, starts, parts)


@dataclass(frozen=True)
class RangeEdges:
    """A range of instants on UTC days: every quarter of the days strictly between
    ``first_day`` and ``last_day``, and those in ``first``/``last`` (low word, high word)
    of the edge days (one day: both masks are the same)."""

    first_day: date
    last_day: date
    first: tuple[int, int]
    last: tuple[int, int]


def range_edges(start: datetime, end: datetime) -> RangeEdges:
    """``[start, end)`` over UTC days. Both ends must be whole quarter hours, as every local
    hour and day boundary is."""
    first_day = start.astimezone(timezone.utc).date()
    last_day = (end - timedelta(microseconds=1)).astimezone(timezone.utc).date()

    def quarters(day: date) -> tuple[int, int]:
        midnight = utc_midnight(day)
        return _words(_bits(_quarters_since(midnight, start), _quarters_since(midnight, end)))

    return RangeEdges(first_day, last_day, quarters(first_day), quarters(last_day))
