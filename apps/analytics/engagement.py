"""Stickiness and lifecycle: how often persons come, and how the active ones change.

* **Stickiness.** For each event, the number of persons who did it on exactly 1, 2, … N of
  the range's days (or Monday-weeks with a week interval), N being the range's buckets.
* **Lifecycle.** For one event (or ``$any_event``), each bucket of the range splits its
  persons into ``new`` (their first such event ever is in the bucket), ``returning``
  (active in the bucket and the one before), ``resurrecting`` (active, not in the bucket
  before, but at some time earlier) and ``dormant`` (active in the bucket before, not in
  this one; given as a negative count).

Both count persons (merged ids together) in the project's timezone, over day or week
buckets.
"""

from __future__ import annotations

from datetime import timedelta

from apps.analytics import daymap, sql
from apps.analytics.retention import ANY_EVENT
from apps.analytics.selectors import axis, day_map_params
from apps.query.dates import DateRange
from pulseboard import clickhouse
from pulseboard.errors import ParamError

LIFECYCLE_KINDS = ("new", "returning", "resurrecting", "dormant")


def _days_check(date_range: DateRange, what: str) -> None:
    if date_range.interval == "hour":
        raise ParamError("interval", f"{what} counts days or weeks: use interval=day or week")


def stickiness(*, project_id: int, date_range: DateRange, events: list[str]) -> dict:
    """Per event, ``data[n-1]``: the persons who did it in exactly n buckets of the range."""
    _days_check(date_range, "stickiness")
    buckets = len(date_range.bucket_starts())
    tz = date_range.tz
    days = date_range.days()
    first, last = days[0], days[-1]
    params: dict = {"project_id": project_id, "events": events, "tz": tz.key, "date_from": date_range.date_from, "date_to": date_range.date_to}
    day_map = daymap.day_map(tz, first, last)
    bits = next((b for b in sql.MASK_BITS if b >= day_map.span), None)
    if bits is not None:
        segments, parts = day_map_params(day_map, params)
        params["first_bit"] = day_map.index(first)
        query = sql.stickiness_from_days(period=date_range.interval, bits=bits, segments=segments, parts=parts)
    else:
        query = sql.stickiness_raw(date_range.interval)
    counts = {(event, int(n)): int(persons) for event, n, persons in clickhouse.query(query, params).rows}
    unit = date_range.interval
    return {
        **axis(date_range),
        "lengths": list(range(1, buckets + 1)),
        "labels": [f"{n} {unit}{'' if n == 1 else 's'}" for n in range(1, buckets + 1)],
        "series": [{"event": event, "label": event, "data": [counts.get((event, n), 0) for n in range(1, buckets + 1)]} for event in events],
    }


def lifecycle(*, project_id: int, date_range: DateRange, event: str) -> dict:
    """Per bucket of the range, its persons by lifecycle status (``dormant`` negative)."""
    _days_check(date_range, "lifecycle")
    tz = date_range.tz
    first = date_range.days()[0]
    step = 7 if date_range.interval == "week" else 1
    previous_from = daymap.local_midnight(first - timedelta(days=step), tz)
    buckets = len(date_range.bucket_starts())
    params = {
        "project_id": project_id,
        "event": event,
        "tz": tz.key,
        "first_day": first,
        "previous_from": previous_from,
        "date_to": date_range.date_to,
        "buckets": buckets,
    }
    any_event = event == ANY_EVENT
    days = daymap.day_map(tz, first - timedelta(days=step), date_range.days()[-1])
    bits = next((b for b in sql.MASK_BITS if b >= days.span), None)
    if bits is not None:
        segments, parts = day_map_params(days, params)
        params["first_bit"] = days.index(first)
        # The quarters of the first UTC day that come before the bucket before the range.
        midnight = daymap.utc_midnight(days.first_utc_day)
        params["pre_lo"], params["pre_hi"] = daymap.range_edges(midnight, previous_from).first if previous_from > midnight else (0, 0)
        query = sql.lifecycle_from_days(date_range.interval, bits=bits, any_event=any_event, segments=segments, parts=parts)
    else:
        query = sql.lifecycle(date_range.interval, any_event=any_event)
    rows = clickhouse.query(query, params).rows
    result = {kind: [0] * buckets for kind in LIFECYCLE_KINDS}
    for bucket, kind, persons in rows:
        if 0 <= bucket < buckets:
            result[kind][bucket] = -int(persons) if kind == "dormant" else int(persons)
    return {**axis(date_range), "event": event, **result}
