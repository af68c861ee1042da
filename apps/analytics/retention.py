"""Retention: of the persons who did the start event in a period, how many came back with
the return event in each of the periods after it.

* **Periods** are days, Monday-weeks or months of the project's timezone. A cohort's
  values are for its own period (index 0: the cohort's size) and the ``periods - 1`` after
  it; only periods that have begun are listed, and ``complete`` says which have ended.
* **Cohorts.** ``recurring``: the cohort of period P is every person with a start event in
  P. ``first_time``: the persons whose first start event ever (before the range too) is in
  P. The cohorts are those of the periods that ``date_from`` .. ``date_to`` (or a preset:
  ``range=30d``) touch; without either, the last ``periods`` periods.
* **Values.** Value k >= 1 is the number of the cohort's persons with a return event in
  period P+k (a return in P itself counts for nothing but the start).
* Persons are persons: every id merged into one counts for it (``apps/query/persons.py``).
* ``$any_event`` as the start or return event is any event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from apps.analytics import daymap, sql
from apps.analytics.params import int_param
from apps.analytics.selectors import day_map_params
from apps.query.dates import PRESETS, date_bound
from apps.query.filters import PropertyFilter, property_filters_parse
from apps.query.sql import property_filters
from pulseboard import clickhouse
from pulseboard.errors import ParamError

ANY_EVENT = "$any_event"
PERIODS = ("day", "week", "month")
TYPES = ("recurring", "first_time")
DEFAULT_PERIOD = "week"
DEFAULT_PERIODS = 8
MAX_PERIODS = 30
# Cohorts one query may ask for: a year of days, ten years of weeks or months.
MAX_COHORTS = {"day": 366, "week": 520, "month": 120}
EVENT_NAME_MAX = 200


@dataclass(frozen=True)
class RetentionQuery:
    start_event: str
    return_event: str
    period: str
    periods: int
    retention_type: str
    tz: ZoneInfo
    first_cohort: date  # the first day of the first cohort's period
    cohorts: int
    start_filters: tuple[PropertyFilter, ...] = ()
    return_filters: tuple[PropertyFilter, ...] = ()


def period_start(day: date, period: str) -> date:
    """The first day of the period holding ``day``."""
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def period_add(first: date, period: str, n: int) -> date:
    """The first day of the period ``n`` periods after the one starting on ``first``."""
    if period == "day":
        return first + timedelta(days=n)
    if period == "week":
        return first + timedelta(days=7 * n)
    months = first.year * 12 + first.month - 1 + n
    return date(months // 12, months % 12 + 1, 1)


def period_index(day: date, period: str) -> int:
    """A period's number, counted from an origin: consecutive periods differ by one."""
    if period == "day":
        return day.toordinal()
    if period == "week":
        return (day.toordinal() - 1) // 7  # 0001-01-01 was a Monday
    return day.year * 12 + day.month - 1


def _event_param(value: str | None, field: str, *, default: str | None = None) -> str:
    name = (value or "").strip() or default
    if not name:
        raise ParamError(field, f"name an event, or {ANY_EVENT} for any event")
    if len(name) > EVENT_NAME_MAX:
        raise ParamError(field, f"at most {EVENT_NAME_MAX} characters")
    return name


def retention_query_parse(params, *, tz_name: str, now: datetime | None = None) -> RetentionQuery:
    """The retention query of request parameters; a bad one is a :class:`ParamError` naming
    its field. Without ``date_from``/``date_to``, the cohorts are the last ``periods``
    periods, the current one included."""
    tz = ZoneInfo(tz_name)
    now = now or datetime.now(timezone.utc)
    start_event = _event_param(params.get("start_event"), "start_event")
    return_event = _event_param(params.get("return_event"), "return_event", default=start_event)
    period = params.get("period") or DEFAULT_PERIOD
    if period not in PERIODS:
        raise ParamError("period", f"must be one of {', '.join(PERIODS)}")
    periods = int_param(params.get("periods"), field="periods", default=DEFAULT_PERIODS, low=1, high=MAX_PERIODS)
    retention_type = params.get("retention_type") or "recurring"
    if retention_type not in TYPES:
        raise ParamError("retention_type", f"must be one of {', '.join(TYPES)}")
    shared = property_filters_parse(params.get("filters"))
    start_filters = shared + property_filters_parse(params.get("start_filters"), field="start_filters")
    return_filters = shared + property_filters_parse(params.get("return_filters"), field="return_filters")

    today = now.astimezone(tz).date()
    preset = params.get("preset") or params.get("range")
    if preset:
        # A preset of the date controls: the cohorts are the periods its days touch.
        if preset not in PRESETS or preset == "24h":
            raise ParamError("range", f"must be one of {', '.join(p for p in PRESETS if p != '24h')}")
        first = period_start(today - timedelta(days=int(preset[:-1]) - 1), period)
        last = period_start(today, period)
    elif params.get("date_from") or params.get("date_to"):
        start = date_bound(params.get("date_from"), field="date_from", tz=tz, end=False)
        end = date_bound(params.get("date_to"), field="date_to", tz=tz, end=True)
        if start is None or end is None:
            raise ParamError("date_from" if start is None else "date_to", "a custom range needs both date_from and date_to")
        if end <= start:
            raise ParamError("date_to", "must be after date_from")
        first = period_start(start.astimezone(tz).date(), period)
        last = period_start((end - timedelta(microseconds=1)).astimezone(tz).date(), period)
    else:
        last = period_start(today, period)
        first = period_add(last, period, -(periods - 1))
    cohorts = period_index(last, period) - period_index(first, period) + 1
    if cohorts > MAX_COHORTS[period]:
        raise ParamError("date_from", f"at most {MAX_COHORTS[period]} {period} cohorts: shorten the range or pick a longer period")
    return RetentionQuery(
        start_event=start_event, return_event=return_event, period=period, periods=periods, retention_type=retention_type,
        tz=tz, first_cohort=first, cohorts=cohorts, start_filters=tuple(start_filters), return_filters=tuple(return_filters),
    )


def _instant(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc)


def _query(project_id: int, q: RetentionQuery, *, cell: bool = False) -> tuple[str, dict]:
    """The SQL of ``q`` and its parameters: the cohorts' figures, or (``cell``) the persons of
    one cell (the caller adds ``cell_cohort``, ``cell_index``, ``returned`` and ``cell_limit``)."""
    tz = q.tz
    cohorts_end = period_add(q.first_cohort, q.period, q.cohorts)
    returns_end = period_add(q.first_cohort, q.period, q.cohorts + q.periods - 1)
    params = {
        "project_id": project_id,
        "tz": tz.key,
        "start_event": q.start_event,
        "return_event": q.return_event,
        "date_from": _instant(q.first_cohort, tz),
        "cohorts_to": _instant(cohorts_end, tz),
        "returns_to": _instant(returns_end, tz),
        "first_day": q.first_cohort,
        "cohorts": q.cohorts,
        "periods": q.periods,
    }
    any_start, any_return = q.start_event == ANY_EVENT, q.return_event == ANY_EVENT
    if q.retention_type == "recurring" and q.period != "month" and not (q.start_filters or q.return_filters):
        # Recurring cohorts of days or weeks, unfiltered: from the persons' day sets.
        days = daymap.day_map(tz, q.first_cohort, returns_end - timedelta(days=1))
        bits = next((b for b in sql.MASK_BITS if b >= days.span), None)
        if bits is not None:
            segments, parts = day_map_params(days, params)
            params["first_bit"] = days.index(q.first_cohort)
            return sql.retention_from_days(
                period=q.period, bits=bits, any_start=any_start, any_return=any_return, segments=segments, parts=parts, cell=cell
            ), params
    start_sql = property_filters(list(q.start_filters), params, prefix="rs")
    return_sql = property_filters(list(q.return_filters), params, prefix="rr")
    return sql.retention(
        period=q.period,
        first_time=q.retention_type == "first_time",
        any_start=any_start,
        any_return=any_return,
        start_filters=start_sql,
        return_filters=return_sql,
        narrow=all(f.type == "person" for f in (*q.start_filters, *q.return_filters)),
        cell=cell,
    ), params


def retention(*, project_id: int, query: RetentionQuery, now: datetime | None = None) -> dict:
    """The cohorts of ``query``: per cohort its first day, size, the values of the periods
    that have begun, and whether each has ended."""
    now = now or datetime.now(timezone.utc)
    starts = [period_add(query.first_cohort, query.period, i) for i in range(query.cohorts)]
    sql_text, params = _query(project_id, query)
    return _cohorts(query, starts, clickhouse.query(sql_text, params).rows, params, now)


CELL_LIMIT = 100


def retention_cell_parse(params) -> tuple[date, int, bool]:
    """A cell of the table: ``cohort`` (its date), ``index`` (0 ..) and ``returned``."""
    try:
        cohort = date.fromisoformat(params.get("cohort") or "")
    except ValueError:
        raise ParamError("cohort", "the first day of a cohort's period, as YYYY-MM-DD") from None
    index = int_param(params.get("index"), field="index", default=0, low=0, high=MAX_PERIODS - 1)
    returned = (params.get("returned") or "true").lower()
    if returned not in ("true", "false", "1", "0"):
        raise ParamError("returned", "true (persons who came back) or false (those who did not)")
    return cohort, index, returned in ("true", "1")


def retention_cell_persons(*, project_id: int, query: RetentionQuery, cohort: date, index: int, returned: bool) -> list[int]:
    """The persons (their keys) of the cohort whose period starts on ``cohort`` who came back
    (``returned``) or did not in its period ``index`` (0: the whole cohort), 100 at most."""
    number = period_index(period_start(cohort, query.period), query.period) - period_index(query.first_cohort, query.period)
    if not 0 <= number < query.cohorts:
        raise ParamError("cohort", "is not one of the query's cohorts")
    if not 0 <= index < query.periods:
        raise ParamError("index", f"must be between 0 and {query.periods - 1}")
    sql_text, params = _query(project_id, query, cell=True)
    params.update(cell_cohort=number, cell_index=index, returned=int(returned), cell_limit=CELL_LIMIT)
    return [row[0] for row in clickhouse.query(sql_text, params).rows]


def _cohorts(q: RetentionQuery, starts: list[date], rows, params: dict, now: datetime) -> dict:
    """The answer, from the query's rows ``(cohort, size, returned)``."""
    tz = q.tz
    found = {int(index): (int(size), [int(v) for v in values]) for index, size, values in rows}
    cohorts = []
    for i, first_day in enumerate(starts):
        size, returned = found.get(i, (0, [0] * (q.periods - 1)))
        values, complete = [], []
        for k in range(q.periods):
            begins = _instant(period_add(first_day, q.period, k), tz)
            if begins > now:
                break
            values.append(size if k == 0 else returned[k - 1])
            complete.append(_instant(period_add(first_day, q.period, k + 1), tz) <= now)
        cohorts.append({"date": first_day.isoformat(), "size": size, "values": values, "complete": complete})
    return {
        "period": q.period,
        "periods": q.periods,
        "retention_type": q.retention_type,
        "start_event": q.start_event,
        "return_event": q.return_event,
        "timezone": tz.key,
        "date_from": params["date_from"].isoformat(),
        "date_to": params["cohorts_to"].isoformat(),
        "buckets": [day.isoformat() for day in starts],
        "cohorts": cohorts,
    }


def retention_curve(result: dict) -> list[float | None]:
    """Per period k, the share (%) of persons retained: the mean over the cohorts that have
    reached period k, weighted by their size (None when none has)."""
    curve = []
    for k in range(result["periods"]):
        reached = [c for c in result["cohorts"] if len(c["values"]) > k and c["size"]]
        size = sum(c["size"] for c in reached)
        curve.append(round(sum(c["values"][k] for c in reached) / size * 100, 1) if size else None)
    return curve
