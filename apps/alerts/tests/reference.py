"""Pure-Python reference of alert evaluation, used only by the tests.

Written from the rules, not from the code: the judged bucket is the last complete hour or
day in the project's timezone at ``now`` (the bucket holding ``now`` is in progress), the
previous one is the bucket before it; a series counts the events of its name that match
its filters (or their distinct persons); a ratio over a denominator of 0 has no value; a
change from 0 to anything else is infinite. States: any -> firing when the condition holds,
firing -> resolved when it does not, else unchanged.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apps.analytics.tests.reference import bucket_of, matches, person


def buckets_at(now: datetime, interval: str, tz: ZoneInfo) -> tuple[datetime, datetime, datetime]:
    """(previous bucket start, judged bucket start, start of the bucket in progress)."""
    current = bucket_of(now, interval, tz)
    judged = bucket_of(current - timedelta(microseconds=1), interval, tz)
    previous = bucket_of(judged - timedelta(microseconds=1), interval, tz)
    return previous, judged, current


def series_value(events: list[dict], series: dict, start: datetime, end: datetime) -> int:
    chosen = [e for e in events if e["event"] == series["event"] and start <= e["timestamp"] < end and matches(e, series.get("filters", []))]
    if series.get("math", "total") == "unique":
        return len({person(e) for e in chosen})
    return len(chosen)


def figure(events: list[dict], spec: dict, now: datetime, tz: ZoneInfo) -> tuple[float | None, float | None]:
    """(value of the judged bucket, value of the one before)."""
    previous, judged, current = buckets_at(now, spec.get("interval", "hour"), tz)
    values = []
    for start, end in ((judged, current), (previous, judged)):
        numerator = series_value(events, spec["series"], start, end)
        if spec.get("denominator"):
            denominator = series_value(events, spec["denominator"], start, end)
            values.append(numerator / denominator if denominator else None)
        else:
            values.append(float(numerator))
    return values[0], values[1]


def breach(spec: dict, value: float | None, previous: float | None) -> bool | None:
    condition, threshold = spec.get("condition", "above"), float(spec["threshold"])
    if condition == "change":
        if value is None or previous is None:
            return None
        if previous == 0:
            return value != 0
        return abs((value - previous) / abs(previous) * 100) > threshold
    if value is None:
        return None
    return value > threshold if condition == "above" else value < threshold


def next_state(state: str, holds: bool | None) -> str:
    if holds is None:
        return state
    if holds:
        return "firing"
    return "resolved" if state == "firing" else state
