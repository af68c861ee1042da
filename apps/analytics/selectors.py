"""Reads of the analytics area: parameterised ClickHouse SQL, shaped for views and APIs.

Every figure here has a pure-Python twin in ``tests/reference.py``; the tests compare them
on generated data.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import orjson

from apps.analytics import daymap, sql
from apps.analytics.params import Series, cursor_encode
from apps.query.breakdown import OTHER, breakdown_label
from apps.query.cards import period_card
from apps.query.dates import DateRange, axis
from apps.query.filters import PropertyFilter
from apps.query.materialized import property_column
from apps.query.sql import property_filters
from pulseboard import clickhouse

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
FAR_FUTURE = datetime(2200, 1, 1, tzinfo=timezone.utc)
MAX_UUID = "ffffffff-ffff-ffff-ffff-ffffffffffff"
WINDOWS = {"wau": 7, "mau": 30}


def _range_params(project_id: int, date_range: DateRange, **extra) -> dict:
    return {
        "project_id": project_id,
        "date_from": date_range.date_from,
        "date_to": date_range.date_to,
        "tz": date_range.timezone_name,
        **extra,
    }


def _place(date_range: DateRange, rows, value_index: int = -1) -> list[int]:
    """Bucketed rows ``(bucket_unix_start, ..., value)`` onto the range's buckets; gaps are 0."""
    values = {row[0]: row[value_index] for row in rows}
    return [int(values.get(epoch, 0)) for epoch in date_range.bucket_epochs()]


# --- Persons over local days ------------------------------------------------------------------


def _bucket_days(date_range: DateRange) -> list[tuple[date, date]]:
    """The first and last local day of each (day or week) bucket."""
    starts = date_range.bucket_starts()
    ends = starts[1:] + [date_range.date_to]
    return [
        (start.astimezone(date_range.tz).date(), (end - timedelta(microseconds=1)).astimezone(date_range.tz).date())
        for start, end in zip(starts, ends)
    ]


def _trailing_windows(date_range: DateRange, days: int) -> list[tuple[date, date]]:
    """The ``days`` local days ending on each bucket's last day."""
    return [(last - timedelta(days=days - 1), last) for _, last in _bucket_days(date_range)]


def persons_in_day_windows(
    *, project_id: int, tz: ZoneInfo, windows: list[tuple[date, date]], event: str = "", filters: list[PropertyFilter] = ()
) -> list[int]:
    """For each window (first and last local day, inclusive): the persons active on at least
    one of its days; over all events, the events named ``event``, or those of them that
    match ``filters``.

    Windows whose days fit in one 256-bit day set go into one query, however many there
    are (``sql.persons_in_windows`` for spans of up to 64 days, ``sql.persons_active_runs``
    beyond); longer spans are split, and a
    window longer than a day set (only the overview's period cards, over all events, have
    such windows) is counted on its own.
    """
    counts = [0] * len(windows)
    group: list[int] = []
    for index in sorted(range(len(windows)), key=lambda i: windows[i][1]):
        first, last = windows[index]
        if (last - first).days + 2 > sql.MASK_BITS[-1]:
            if event or filters:
                raise ValueError("windows of one event are at most a few weeks long")
            counts[index] = _persons_in_long_window(project_id=project_id, tz=tz, window=(first, last))
            continue
        if group and (last - min(windows[i][0] for i in group)).days + 2 > sql.MASK_BITS[-1]:
            _persons_in_window_group(project_id=project_id, tz=tz, windows=windows, group=group, event=event, filters=filters, counts=counts)
            group = []
        group.append(index)
    if group:
        _persons_in_window_group(project_id=project_id, tz=tz, windows=windows, group=group, event=event, filters=filters, counts=counts)
    return counts


def day_map_params(days: daymap.DayMap, params: dict) -> tuple[int, int]:
    """Put into ``params`` what the rollup queries over local days need of ``days`` (the
    UTC days, and per segment its offset and parts); return (segments, parts)."""
    params.update(first_utc_day=days.first_utc_day, last_utc_day=days.last_utc_day)
    runs, parts = days.segments(), days.used_parts()
    for k, run in enumerate(runs):
        params[f"g{k}_from"], params[f"g{k}_offset"] = run.first_day, run.offset
        for j in range(parts):
            params[f"g{k}_p{j}lo"], params[f"g{k}_p{j}hi"] = run.parts[j]
    return len(runs), parts


def _persons_in_window_group(
    *, project_id: int, tz: ZoneInfo, windows: list[tuple[date, date]], group: list[int], event: str, filters, counts: list[int]
) -> None:
    """One query for the windows ``group`` (indexes into ``windows``), into ``counts``."""
    chosen = [windows[i] for i in group]
    first, last = min(w[0] for w in chosen), max(w[1] for w in chosen)
    days = daymap.day_map(tz, first, last)
    bits = next(b for b in sql.MASK_BITS if b >= days.span)
    params: dict = {"project_id": project_id, "event": event, "origin": days.origin, "tz": tz.key}
    filters_sql, segments, parts = "", 1, 3
    if filters:
        # Filters on person properties only need no event column: the narrow copy serves.
        source = "narrow" if all(f.type == "person" for f in filters) else "raw"
        params["span_from"] = daymap.local_midnight(first, tz)
        params["span_to"] = daymap.local_midnight(last + timedelta(days=1), tz)
        filters_sql = property_filters(list(filters), params)
    else:
        source = "event" if event else "all"
        segments, parts = day_map_params(days, params)
    if bits == 64:
        params["windows"] = [((1 << (days.index(b) + 1)) - (1 << days.index(a))) for a, b in chosen]
        rows = clickhouse.query(sql.persons_in_windows(source=source, segments=segments, parts=parts, filters_sql=filters_sql), params).rows
        for i, count in zip(group, rows[0][0] if rows and rows[0][0] else [0] * len(group)):
            counts[i] = int(count)
        return
    lengths = sorted({(b - a).days + 1 for a, b in chosen})
    query = sql.persons_active_runs(bits=bits, source=source, lengths=lengths, segments=segments, parts=parts, filters_sql=filters_sql)
    changes: dict[int, list[tuple[int, int]]] = {}
    for length, day_index, delta in clickhouse.query(query, params).rows:
        changes.setdefault(int(length), []).append((int(day_index), int(delta)))
    running: dict[int, tuple[list[int], list[int]]] = {}
    for length, items in changes.items():
        items.sort()
        positions, totals, total = [], [], 0
        for day_index, delta in items:
            total += delta
            positions.append(day_index)
            totals.append(total)
        running[length] = (positions, totals)
    for i in group:
        a, b = windows[i]
        positions, totals = running.get((b - a).days + 1, ([], []))
        at = bisect_right(positions, days.index(b))
        counts[i] = totals[at - 1] if at else 0


def _persons_in_long_window(*, project_id: int, tz: ZoneInfo, window: tuple[date, date]) -> int:
    """The persons active in one window too long for a day set: one distinct count."""
    instants = (daymap.local_midnight(window[0], tz), daymap.local_midnight(window[1] + timedelta(days=1), tz))
    params = _ranges_params(project_id, [instants])
    return int(clickhouse.query(sql.persons_in_ranges(ranges=1, by_event=False), params).scalar())


def _ranges_params(project_id: int, ranges: list[tuple[datetime, datetime]]) -> dict:
    """Parameters of ``sql.persons_in_ranges``: each range of instants over UTC days."""
    params: dict = {"project_id": project_id}
    for k, (start, end) in enumerate(ranges):
        edges = daymap.range_edges(start, end)
        params.update({f"r{k}_first_day": edges.first_day, f"r{k}_last_day": edges.last_day})
        params[f"r{k}_first_lo"], params[f"r{k}_first_hi"] = edges.first
        params[f"r{k}_last_lo"], params[f"r{k}_last_hi"] = edges.last
    params["first_utc_day"] = min(params[f"r{k}_first_day"] for k in range(len(ranges)))
    params["last_utc_day"] = max(params[f"r{k}_last_day"] for k in range(len(ranges)))
    return params


def active_users(*, project_id: int, date_range: DateRange) -> dict:
    """DAU (distinct persons per bucket), WAU and MAU (distinct persons in the 7 and 30 days
    ending on each bucket's last day). Daily or weekly buckets; one query."""
    if date_range.interval == "hour":
        raise ValueError("active users are daily figures: use a day or week interval")
    return _active_users(project_id=project_id, date_range=date_range)[0]


def _active_users(*, project_id: int, date_range: DateRange, extra: list[tuple[date, date]] = ()) -> tuple[dict, list[int]]:
    """Active users, plus the persons of ``extra`` windows from the same query."""
    buckets = _bucket_days(date_range)
    n = len(buckets)
    windows = buckets + _trailing_windows(date_range, 7) + _trailing_windows(date_range, 30) + list(extra)
    counts = persons_in_day_windows(project_id=project_id, tz=date_range.tz, windows=windows)
    figures = {**axis(date_range), "dau": counts[:n], "wau": counts[n : 2 * n], "mau": counts[2 * n : 3 * n]}
    return figures, counts[3 * n :]


# --- Trends -------------------------------------------------------------------------------


@dataclass
class TrendLine:
    event: str
    math: str
    breakdown_value: str | None
    data: list
    total: float | int | None = None
    label: str = field(default="")
    math_property: str = ""
    # Property maths: how many events had the property as a number, per bucket and in all.
    property_events: list[int] | None = None
    property_events_total: int | None = None

    def as_json(self) -> dict:
        return {
            "label": self.label,
            "event": self.event,
            "math": self.math,
            "math_property": self.math_property or None,
            "breakdown_value": self.breakdown_value,
            "data": self.data,
            "total": self.total,
            "property_events": self.property_events,
            "property_events_total": self.property_events_total,
        }


MATH_LABELS = {
    "total": "total",
    "unique": "unique users",
    "wau": "WAU",
    "mau": "MAU",
    "sum": "sum",
    "avg": "average",
    "min": "min",
    "max": "max",
    "p50": "median",
    "p90": "p90",
    "p95": "p95",
    "p99": "p99",
}


def _label(series: Series, breakdown_value: str | None) -> str:
    math = MATH_LABELS[series.math]
    if series.of_property:
        of = f"{series.event} · {math} of {series.math_property}"
        return of if breakdown_value is None else f"{of} · {breakdown_label(breakdown_value)}"
    if breakdown_value is None:
        return f"{series.event} · {math}"
    return f"{series.event} · {breakdown_label(breakdown_value)}"


def trends(
    *,
    project_id: int,
    date_range: DateRange,
    series: list[Series],
    breakdown: str | None = None,
    breakdown_type: str = "event",
    filters: list[PropertyFilter] = (),
) -> dict:
    """One line per series (or per breakdown value of each series).

    ``total`` counts events, ``unique`` distinct persons per bucket, ``wau``/``mau`` the
    distinct persons of the trailing 7/30 days (day or week buckets). A breakdown keeps the
    10 most frequent values of the property (of the event, or with ``breakdown_type=person``
    of its person) for each series and folds the rest into ``$other``; lines are ordered by
    their total, ``$other`` last.

    The property maths (``sum``, ``avg``, ``min``, ``max``, ``p50`` .. ``p99`` of the
    series' ``math_property``) aggregate the events whose property is a number (see
    :func:`_metric_lines`).
    """
    filters = list(filters)
    days = date_range.interval != "hour"
    from_rollup = [] if (filters or breakdown) else [s for s in series if s.math == "total" or (s.math == "unique" and not days)]
    rollup = _rollup_lines(project_id=project_id, date_range=date_range, series=from_rollup)
    lines: list[TrendLine] = []
    for s in series:
        if s in rollup:
            lines.append(rollup[s])
        elif s.of_property:
            lines.extend(
                _metric_lines(
                    project_id=project_id, date_range=date_range, series=s, breakdown=breakdown, breakdown_type=breakdown_type, filters=filters
                )
            )
        elif s.math in WINDOWS or (s.math == "unique" and days and not breakdown):
            windows = _trailing_windows(date_range, WINDOWS[s.math]) if s.math in WINDOWS else _bucket_days(date_range)
            values = persons_in_day_windows(project_id=project_id, tz=date_range.tz, windows=windows, event=s.event, filters=filters)
            lines.append(TrendLine(s.event, s.math, None, values))
        else:
            lines.extend(
                _raw_lines(
                    project_id=project_id, date_range=date_range, series=s, breakdown=breakdown, breakdown_type=breakdown_type, filters=filters
                )
            )
    for line in lines:
        line.label = _label(Series(line.event, line.math, line.math_property), line.breakdown_value)
        if line.math == "total":
            line.total = sum(line.data)
    return {
        **axis(date_range),
        "breakdown": breakdown,
        "breakdown_type": breakdown_type if breakdown else None,
        "series": [line.as_json() for line in lines],
    }


def _rollup_lines(*, project_id: int, date_range: DateRange, series: list[Series]) -> dict[Series, TrendLine]:
    """Events per bucket, and persons per hour, from the 15-minute rollups: one query per math."""
    found: dict[Series, TrendLine] = {}
    for math, query in (("total", sql.event_counts(date_range.interval)), ("unique", sql.unique_persons(date_range.interval))):
        wanted = [s for s in series if s.math == math]
        if not wanted:
            continue
        rows = clickhouse.query(query, _range_params(project_id, date_range, events=[s.event for s in wanted])).rows
        for s in wanted:
            found[s] = TrendLine(s.event, math, None, _place(date_range, [r for r in rows if r[1] == s.event]))
    return found


def _keyed_share(params: dict) -> float:
    """The share of a sample of the range's events whose key signature allows the breakdown's
    key: 1.0 when the range has none (nothing to gain from two passes)."""
    share = clickhouse.query(sql.keyed_share(), params).scalar()
    return 1.0 if share is None or share != share else float(share)


def _raw_lines(
    *, project_id: int, date_range: DateRange, series: Series, breakdown: str | None, breakdown_type: str, filters: list[PropertyFilter]
) -> list[TrendLine]:
    params = _range_params(project_id, date_range, event=series.event)
    filters_sql = property_filters(filters, params)
    if breakdown is not None:
        params["breakdown"] = breakdown
    by = breakdown_type if breakdown is not None else None
    # Without an event property to read (filters on persons only, no breakdown by an event
    # property), the narrow copy of events serves.
    narrow = all(f.type == "person" for f in filters) and by != "event"
    rare = by == "event" and property_column(breakdown) is None and _keyed_share(params) < sql.KEYED_SHARE
    query = sql.raw_series(date_range.interval, series.math, filters_sql, by, breakdown_key=breakdown, narrow=narrow, rare=rare)
    rows = clickhouse.query(query, params).rows
    if breakdown is None:
        return [TrendLine(series.event, series.math, None, _place(date_range, rows))]
    by_value: dict[str, list] = {}
    for bucket, value, count in rows:
        by_value.setdefault(value, []).append((bucket, count))
    lines = [TrendLine(series.event, series.math, value, _place(date_range, value_rows)) for value, value_rows in by_value.items()]
    lines.sort(key=lambda line: (line.breakdown_value == OTHER, -sum(line.data), line.breakdown_value))
    return lines


def _metric_lines(
    *, project_id: int, date_range: DateRange, series: Series, breakdown: str | None, breakdown_type: str, filters: list[PropertyFilter]
) -> list[TrendLine]:
    """A property math per bucket (and breakdown value), one query (``sql.metric_series``).

    A bucket without an event that has the property is ``None`` (``0.0`` for ``sum``); the
    line's ``total`` is the math over the whole range (``None`` when no event had it), and
    ``property_events`` says how many events had it in each bucket and in all."""
    params = _range_params(project_id, date_range, event=series.event, math_property=series.math_property)
    filters_sql = property_filters(filters, params)
    if breakdown is not None:
        params["breakdown"] = breakdown
    query = sql.metric_series(
        date_range.interval, series.math, filters_sql, breakdown_type if breakdown is not None else None, breakdown_key=breakdown
    )
    empty = 0.0 if series.math == "sum" else None
    per_value: dict[str, dict] = {}
    for bucket, value, figure, events, whole in clickhouse.query(query, params).rows:
        found = per_value.setdefault(value, {"buckets": {}, "total": (empty, 0)})
        # The whole range's row comes even when no event had the property (then its figure
        # is the aggregate's default, not a value).
        figure = float(figure) if figure is not None and events else empty
        if whole:
            found["total"] = (figure, int(events))
        else:
            found["buckets"][bucket] = (figure, int(events))
    if breakdown is None and not per_value:
        per_value[""] = {"buckets": {}, "total": (empty, 0)}
    lines = []
    for value, found in per_value.items():
        placed = [found["buckets"].get(epoch, (empty, 0)) for epoch in date_range.bucket_epochs()]
        line = TrendLine(
            series.event,
            series.math,
            value if breakdown is not None else None,
            [figure for figure, _ in placed],
            total=found["total"][0],
            math_property=series.math_property,
            property_events=[events for _, events in placed],
            property_events_total=found["total"][1],
        )
        lines.append(line)
    lines.sort(key=lambda line: (line.breakdown_value == OTHER, -(line.property_events_total or 0), line.breakdown_value or ""))
    return lines


def numeric_property_keys(*, project_id: int, date_range: DateRange, events: list[str], limit: int = 50, sample: int = 10_000) -> list[str]:
    """The properties of ``events`` that hold numbers in the range (a sample of ``sample``
    events), the most common first: what the trends page offers for a property math."""
    if not events:
        return []
    params = _range_params(project_id, date_range, events=events, limit=limit, sample=sample)
    return [key for key, _ in clickhouse.query(sql.numeric_property_keys(), params).rows]


# --- Top events and overview ----------------------------------------------------------------


def event_counts_in_range(*, project_id: int, date_range: DateRange, limit: int) -> list[tuple[str, int]]:
    """(name, events) of the ``limit`` most frequent names of the range, most first."""
    rows = clickhouse.query(sql.TOP_EVENT_COUNTS, _range_params(project_id, date_range, limit=limit)).rows
    return [(event, int(count)) for event, count in rows]


def persons_by_event(*, project_id: int, date_range: DateRange, events: list[str]) -> dict[str, int]:
    """Distinct persons of each of ``events`` in the range (names without any are left out)."""
    if not events:
        return {}
    params = _ranges_params(project_id, [(date_range.date_from, date_range.date_to)])
    params["events"] = events
    return {event: int(n) for event, n in clickhouse.query(sql.persons_in_ranges(ranges=1, by_event=True), params).rows}


def top_events(*, project_id: int, date_range: DateRange, limit: int = 10) -> list[dict]:
    """The most frequent event names with their counts and distinct persons."""
    counts = event_counts_in_range(project_id=project_id, date_range=date_range, limit=limit)
    persons = persons_by_event(project_id=project_id, date_range=date_range, events=[event for event, _ in counts])
    return [{"event": event, "count": count, "users": persons.get(event, 0)} for event, count in counts]


def overview(*, project_id: int, date_range: DateRange, top: int = 10) -> dict:
    """The overview cards (with the change against the previous period of the same length),
    the active-users chart, events over time and the top events (counts only; the
    top-events insight adds their users).

    Three queries: the event counts of both periods per bucket and name (the cards, the
    chart and the top events all come from them), the sessions, and the persons: the
    daily active users of the range's days and, for day and week ranges, the persons of
    this period and the previous one as two more windows of the same pass. An hourly
    range counts its persons to the hour instead, in a fourth query."""
    previous = date_range.previous()
    params = _range_params(project_id, date_range, previous_from=previous.date_from)
    counts = clickhouse.query(sql.event_counts(date_range.interval, names=False, since="previous_from"), params).rows
    start = int(date_range.date_from.timestamp())
    current = [row for row in counts if row[0] >= start]
    events_now, events_before = sum(row[2] for row in current), sum(row[2] for row in counts if row[0] < start)
    per_bucket: dict[int, int] = {}
    per_event: dict[str, int] = {}
    for bucket, event, value in current:
        per_bucket[bucket] = per_bucket.get(bucket, 0) + value
        per_event[event] = per_event.get(event, 0) + value
    top_events = [{"event": e, "count": int(n)} for e, n in sorted(per_event.items(), key=lambda kv: (-kv[1], kv[0]))[:top]]
    sessions_now, sessions_before = clickhouse.query(sql.OVERVIEW_SESSIONS, params).rows[0]
    if date_range.interval == "hour":
        active, _ = _active_users(project_id=project_id, date_range=date_range.whole_days())
        ranges = _ranges_params(project_id, [(date_range.date_from, date_range.date_to), (previous.date_from, date_range.date_from)])
        users_now, users_before = clickhouse.query(sql.persons_in_ranges(ranges=2, by_event=False), ranges).rows[0]
    else:
        periods = [_span_days(date_range), _span_days(previous)]
        active, (users_now, users_before) = _active_users(project_id=project_id, date_range=date_range, extra=periods)

    def per_user(events: int, users: int) -> float:
        return round(events / users, 2) if users else 0.0

    return {
        **axis(date_range),
        "cards": {
            "events": period_card(int(events_now), int(events_before)),
            "users": period_card(int(users_now), int(users_before)),
            "sessions": period_card(int(sessions_now), int(sessions_before)),
            "events_per_user": period_card(per_user(events_now, users_now), per_user(events_before, users_before)),
        },
        "active_users": active,
        "events_over_time": {**axis(date_range), "data": _place(date_range, list(per_bucket.items()))},
        "top_events": top_events,
    }


def _span_days(date_range: DateRange) -> tuple[date, date]:
    """The first and last local day of a day or week range."""
    days = date_range.days()
    return days[0], days[-1]


# --- Raw events and persons -----------------------------------------------------------------


@dataclass(frozen=True)
class EventFilters:
    event: str = ""
    distinct_id: str = ""
    user_id: str = ""
    anonymous_id: str = ""
    properties: tuple[PropertyFilter, ...] = ()
    date_from: datetime | None = None
    date_to: datetime | None = None


def _events_params(project_id: int, filters: EventFilters) -> tuple[dict, str]:
    params = {
        "project_id": project_id,
        "date_from": filters.date_from or EPOCH,
        "date_to": filters.date_to or FAR_FUTURE,
        "event": filters.event,
        "distinct_id": filters.distinct_id,
        "user_id": filters.user_id,
        "anonymous_id": filters.anonymous_id,
    }
    return params, property_filters(list(filters.properties), params)


@dataclass(frozen=True)
class EventsPage:
    events: list[dict]
    next_cursor: str | None


def events_list(
    *, project_id: int, filters: EventFilters = EventFilters(), cursor: tuple[datetime, str] | None = None, limit: int = 100
) -> EventsPage:
    """A page of a project's raw events, newest first."""
    params, filters_sql = _events_params(project_id, filters)
    cursor_ts, cursor_id = cursor or (filters.date_to or FAR_FUTURE, MAX_UUID)
    params.update(cursor_ts=cursor_ts, cursor_id=cursor_id, limit=limit + 1)
    rows = clickhouse.query(sql.events_page(filters_sql), params).dicts()
    for row in rows:
        row["properties"] = orjson.loads(row["properties"] or "{}")
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = cursor_encode(rows[-1]["timestamp"], rows[-1]["event_id"])
    return EventsPage(events=rows, next_cursor=next_cursor)


def events_received_since(*, project_id: int, filters: EventFilters, since: datetime) -> int:
    """Matching events stored after ``since`` (the "new events since you loaded" badge)."""
    params, filters_sql = _events_params(project_id, filters)
    params["since"] = since
    return int(clickhouse.query(sql.events_received_since(filters_sql), params).scalar())
