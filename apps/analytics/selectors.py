"""Reads of the analytics area: parameterised ClickHouse SQL, shaped for views and APIs.

Every figure here has a pure-Python twin in ``tests/reference.py``; the tests compare them
on generated data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

import orjson

from apps.analytics import sql
from apps.analytics.params import DateRange, Series, cursor_encode
from apps.analytics.sql import PropertyFilter
from pulseboard import clickhouse

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
FAR_FUTURE = datetime(2200, 1, 1, tzinfo=timezone.utc)
MAX_UUID = "ffffffff-ffff-ffff-ffff-ffffffffffff"
WINDOWS = {"wau": 7, "mau": 30}
OTHER = "$other"


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
    return [int(values.get(int(start.timestamp()), 0)) for start in date_range.bucket_starts()]


def axis(date_range: DateRange) -> dict:
    return {
        "interval": date_range.interval,
        "timezone": date_range.timezone_name,
        "date_from": date_range.date_from.isoformat(),
        "date_to": date_range.date_to.isoformat(),
        "buckets": date_range.labels(),
    }


# --- Trailing-window active users ---------------------------------------------------------


def _bucket_last_days(date_range: DateRange) -> list[date]:
    """The local day on which each bucket ends (its last day)."""
    starts = date_range.bucket_starts()
    ends = starts[1:] + [date_range.date_to]
    return [(end - timedelta(microseconds=1)).astimezone(date_range.tz).date() for end in ends]


def _trailing(
    *, project_id: int, date_range: DateRange, windows: list[int], event: str = "", filters: list[PropertyFilter] = ()
) -> dict[int, list[int]]:
    """For each window w: distinct persons active in the w days ending on each bucket's last day."""
    first_day = date_range.date_from.astimezone(date_range.tz).date() - timedelta(days=max(windows) - 1)
    params = _range_params(
        project_id,
        date_range,
        window_from=datetime.combine(first_day, time(0), tzinfo=date_range.tz).astimezone(timezone.utc),
        windows=windows,
        event=event,
    )
    if filters:
        source = sql.person_days_from_events(sql.property_filters(list(filters), params))
    else:
        source = sql.PERSON_DAYS_FROM_ROLLUP
    rows = clickhouse.query(sql.trailing_actives(source), params).rows
    last_days = _bucket_last_days(date_range)
    result = {}
    for w in windows:
        changes = [(day, value) for row_w, day, value in rows if row_w == w]  # sorted by day
        values, current, i = [], 0, 0
        for day in last_days:
            while i < len(changes) and changes[i][0] <= day:
                current = changes[i][1]
                i += 1
            values.append(int(current))
        result[w] = values
    return result


def active_users(*, project_id: int, date_range: DateRange) -> dict:
    """DAU (distinct persons per bucket), WAU and MAU (distinct persons in the 7 and 30 days
    ending on each bucket's last day). Daily or weekly buckets."""
    if date_range.interval == "hour":
        raise ValueError("active users are daily figures: use a day or week interval")
    dau = clickhouse.query(sql.bucket_unique_persons(date_range.interval), _range_params(project_id, date_range)).rows
    trailing = _trailing(project_id=project_id, date_range=date_range, windows=[7, 30])
    return {**axis(date_range), "dau": _place(date_range, dau), "wau": trailing[7], "mau": trailing[30]}


# --- Trends -------------------------------------------------------------------------------


@dataclass
class TrendLine:
    event: str
    math: str
    breakdown_value: str | None
    data: list[int]
    total: int | None = None
    label: str = field(default="")

    def as_json(self) -> dict:
        return {
            "label": self.label,
            "event": self.event,
            "math": self.math,
            "breakdown_value": self.breakdown_value,
            "data": self.data,
            "total": self.total,
        }


def _label(series: Series, breakdown_value: str | None) -> str:
    math = {"total": "total", "unique": "unique users", "wau": "WAU", "mau": "MAU"}[series.math]
    if breakdown_value is None:
        return f"{series.event} · {math}"
    shown = "Other" if breakdown_value == OTHER else (breakdown_value or "(none)")
    return f"{series.event} · {shown}"


def trends(
    *,
    project_id: int,
    date_range: DateRange,
    series: list[Series],
    breakdown: str | None = None,
    filters: list[PropertyFilter] = (),
) -> dict:
    """One line per series (or per breakdown value of each series).

    ``total`` counts events, ``unique`` distinct persons per bucket, ``wau``/``mau`` the
    distinct persons of the trailing 7/30 days (day or week buckets). A breakdown keeps the
    10 most frequent values of the property for each series and folds the rest into
    ``$other``; lines are ordered by their total, ``$other`` last.
    """
    filters = list(filters)
    lines: list[TrendLine] = []
    simple = [s for s in series if s.math in ("total", "unique")] if not (filters or breakdown) else []
    rollup = _rollup_lines(project_id=project_id, date_range=date_range, series=simple)
    for s in series:
        if s in rollup:
            lines.append(rollup[s])
        elif s.math in WINDOWS:
            values = _trailing(project_id=project_id, date_range=date_range, windows=[WINDOWS[s.math]], event=s.event, filters=filters)
            lines.append(TrendLine(s.event, s.math, None, values[WINDOWS[s.math]]))
        else:
            lines.extend(_raw_lines(project_id=project_id, date_range=date_range, series=s, breakdown=breakdown, filters=filters))
    for line in lines:
        line.label = _label(Series(line.event, line.math), line.breakdown_value)
        if line.math == "total":
            line.total = sum(line.data)
    return {**axis(date_range), "breakdown": breakdown, "series": [line.as_json() for line in lines]}


def _rollup_lines(*, project_id: int, date_range: DateRange, series: list[Series]) -> dict[Series, TrendLine]:
    found: dict[Series, TrendLine] = {}
    for math, query in (("total", sql.event_counts(date_range.interval, by_event=True)), ("unique", sql.unique_persons(date_range.interval))):
        wanted = [s for s in series if s.math == math]
        if not wanted:
            continue
        rows = clickhouse.query(query, _range_params(project_id, date_range, events=[s.event for s in wanted])).rows
        for s in wanted:
            found[s] = TrendLine(s.event, math, None, _place(date_range, [r for r in rows if r[1] == s.event]))
    return found


def _raw_lines(
    *, project_id: int, date_range: DateRange, series: Series, breakdown: str | None, filters: list[PropertyFilter]
) -> list[TrendLine]:
    params = _range_params(project_id, date_range, event=series.event)
    filters_sql = sql.property_filters(filters, params)
    if breakdown is not None:
        params["breakdown"] = breakdown
    rows = clickhouse.query(sql.raw_series(date_range.interval, series.math, filters_sql, breakdown is not None), params).rows
    if breakdown is None:
        return [TrendLine(series.event, series.math, None, _place(date_range, rows))]
    by_value: dict[str, list] = {}
    for bucket, value, count in rows:
        by_value.setdefault(value, []).append((bucket, count))
    lines = [TrendLine(series.event, series.math, value, _place(date_range, value_rows)) for value, value_rows in by_value.items()]
    lines.sort(key=lambda line: (line.breakdown_value == OTHER, -sum(line.data), line.breakdown_value))
    return lines


# --- Top events and overview ----------------------------------------------------------------


def top_events(*, project_id: int, date_range: DateRange, limit: int = 10) -> list[dict]:
    """The most frequent event names with their distinct persons."""
    rows = clickhouse.query(sql.TOP_EVENTS, _range_params(project_id, date_range, limit=limit)).rows
    return [{"event": event, "count": int(count), "users": int(users or 0)} for event, count, users in rows]


def _change(current: float, previous: float) -> float | None:
    if not previous:
        return None
    return round((current - previous) / previous * 100, 1)


def _card(current: float, previous: float) -> dict:
    return {"value": current, "previous": previous, "change_pct": _change(current, previous)}


def overview(*, project_id: int, date_range: DateRange, top: int = 10) -> dict:
    """The overview cards (with the change against the previous period of the same length),
    the active-users chart, events over time and the top events."""
    params = _range_params(project_id, date_range, previous_from=date_range.previous().date_from)
    events_now, events_before = clickhouse.query(sql.OVERVIEW_EVENTS, params).rows[0]
    users_now, users_before = clickhouse.query(sql.OVERVIEW_PERSONS, params).rows[0]
    sessions_now, sessions_before = clickhouse.query(sql.OVERVIEW_SESSIONS, params).rows[0]

    def per_user(events: int, users: int) -> float:
        return round(events / users, 2) if users else 0.0

    daily = date_range if date_range.interval != "hour" else _whole_days(date_range)
    counts = clickhouse.query(sql.event_counts(date_range.interval, by_event=False), _range_params(project_id, date_range)).rows
    return {
        **axis(date_range),
        "cards": {
            "events": _card(int(events_now), int(events_before)),
            "users": _card(int(users_now), int(users_before)),
            "sessions": _card(int(sessions_now), int(sessions_before)),
            "events_per_user": _card(per_user(events_now, users_now), per_user(events_before, users_before)),
        },
        "active_users": active_users(project_id=project_id, date_range=daily),
        "events_over_time": {**axis(date_range), "data": _place(date_range, counts)},
        "top_events": top_events(project_id=project_id, date_range=date_range, limit=top),
    }


def _whole_days(date_range: DateRange) -> DateRange:
    days = date_range.days()
    start = datetime.combine(days[0], time(0), tzinfo=date_range.tz).astimezone(timezone.utc)
    end = datetime.combine(days[-1] + timedelta(days=1), time(0), tzinfo=date_range.tz).astimezone(timezone.utc)
    return DateRange(start, end, "day", date_range.tz)


# --- Raw events and persons -----------------------------------------------------------------


@dataclass(frozen=True)
class EventFilters:
    event: str = ""
    distinct_id: str = ""
    user_id: str = ""
    anonymous_id: str = ""
    person: str = ""
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
        "person": filters.person,
    }
    return params, sql.property_filters(list(filters.properties), params)


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


def persons_top(*, project_id: int, date_range: DateRange, limit: int = 50) -> list[dict]:
    """The most active persons of the range: events, active days, first and last seen."""
    return clickhouse.query(sql.TOP_PERSONS, _range_params(project_id, date_range, limit=limit)).dicts()
