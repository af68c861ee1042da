"""The insights of the analytics pages as plain functions: ``(project, params) -> result``.

Each insight page (trends, the overview's active users, retention, stickiness, lifecycle)
reads its query string and computes its figures here, so that anything else showing the
same insight (a saved insight's dashboard tile, its CSV or JSON results) runs exactly the
page's code and shows exactly the page's numbers. ``params`` is a ``QueryDict`` (the page's
GET parameters); nothing here touches the request. A parameter that cannot be used raises
:class:`pulseboard.errors.ParamError` naming it.

Each ``*_insight`` returns a dict with the figures, the chart spec (``static/js/charts.js``)
and the table rows; each ``*_table`` turns that result into a CSV-shaped header and rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import orjson
from django.http import QueryDict

from apps.analytics import selectors
from apps.analytics.engagement import LIFECYCLE_KINDS, lifecycle, stickiness
from apps.analytics.params import MAX_SERIES, PROPERTY_MATHS, Series, series_parse, trend_series_check
from apps.analytics.retention import ANY_EVENT, RetentionQuery, retention, retention_curve, retention_query_parse
from apps.ingest.selectors import event_names_by_volume
from apps.query.breakdown import breakdown_type_parse
from apps.query.charts import time_chart_finish, time_charts_finish
from apps.query.dates import DateRange, date_range_from_query
from apps.query.filters import FilterError, PropertyFilter, filter_rows, property_filters_clean, property_filters_parse
from pulseboard.errors import ParamError

# The parameters that say which dates an insight covers (a dashboard's range replaces them).
DATE_FIELDS = ("range", "date_from", "date_to", "interval")
DAY_INTERVALS = ("day", "week")
LIFECYCLE_COLORS = {"new": "#10b981", "returning": "#4f46e5", "resurrecting": "#f59e0b", "dormant": "#ef4444"}
TREND_MATHS = [("total", "Total events"), ("unique", "Unique users"), ("wau", "Weekly active (WAU)"), ("mau", "Monthly active (MAU)")]
# The maths of a numeric property, in the page's picker.
TREND_PROPERTY_MATHS = [
    ("sum", "Sum of"),
    ("avg", "Average of"),
    ("min", "Minimum of"),
    ("max", "Maximum of"),
    ("p50", "Median of"),
    ("p90", "p90 of"),
    ("p95", "p95 of"),
    ("p99", "p99 of"),
]


def chart_spec(kind: str, labels: list[str], datasets: list[dict], **options) -> dict:
    """A chart as ``static/js/charts.js`` draws it."""
    return {"type": kind, "labels": labels, "datasets": datasets, **options}


def event_names(project) -> list[str]:
    return event_names_by_volume(project_id=project.id)


def default_event(project) -> str:
    """The event an insight page starts from: ``$pageview`` when the project has it, else
    its most frequent event, else any event."""
    names = event_names(project)
    return "$pageview" if "$pageview" in names else (names[0] if names else ANY_EVENT)


def page_range(project, params) -> DateRange:
    return date_range_from_query(params=params, tz_name=project.timezone)


# --- Trends -------------------------------------------------------------------------------


def form_series(params) -> tuple[str | list[str] | None, str | list[str] | None, str | list[str] | None]:
    """The series as ``events``/``math``/``math_property`` (the API's form), or as the page
    form's repeated ``event``, ``math`` and ``math_property`` fields (empty rows ignored;
    a row's property is ignored when its math counts)."""
    if params.get("events"):
        return params["events"], params.get("math"), params.get("math_property")
    events = params.getlist("event")
    maths = params.getlist("math") + ["total"] * len(events)
    keys = params.getlist("math_property") + [""] * len(events)
    rows = [(e.strip(), m, k.strip()) for e, m, k in zip(events, maths, keys) if e.strip()]
    if not rows:
        return None, None, None
    return [e for e, _, _ in rows], [m for _, m, _ in rows], [k if m in PROPERTY_MATHS else "" for _, m, k in rows]


def form_filters(params) -> list[PropertyFilter]:
    """``filters`` as JSON (the API's form), or the page form's filter rows."""
    if params.get("filters"):
        return property_filters_parse(params["filters"])
    try:
        return property_filters_clean(filter_rows(params))
    except FilterError as error:
        raise ParamError("filters", str(error)) from None


@dataclass(frozen=True)
class TrendQuery:
    date_range: DateRange
    series: list[Series]
    breakdown: str | None
    breakdown_type: str
    filters: list[PropertyFilter]


def trend_query_parse(project, params, *, date_range: DateRange | None = None) -> TrendQuery:
    date_range = date_range or page_range(project, params)
    events, math, math_property = form_series(params)
    if not events:
        names = event_names(project)
        events = names[0] if names else "$pageview"
    series = series_parse(events, math, math_property)
    breakdown = params.get("breakdown") or None
    trend_series_check(series=series, date_range=date_range, breakdown=breakdown)
    breakdown_type = breakdown_type_parse(params.get("breakdown_type"))
    return TrendQuery(date_range, series, breakdown, breakdown_type, form_filters(params))


def trend_data(project, trend: TrendQuery) -> dict:
    return selectors.trends(
        project_id=project.id,
        date_range=trend.date_range,
        series=trend.series,
        breakdown=trend.breakdown,
        breakdown_type=trend.breakdown_type,
        filters=trend.filters,
    )


def trends_result(params, trend: TrendQuery, data: dict) -> dict:
    """The chart, the table rows and whether anything was counted, of computed trends."""
    chart_kind = "bar" if params.get("chart") == "bar" else "line"
    return {
        "trend": trend,
        "data": data,
        "chart_kind": chart_kind,
        "chart": chart_spec(chart_kind, data["buckets"], [{"label": s["label"], "data": s["data"]} for s in data["series"]]),
        "rows": list(zip(data["buckets"], zip(*[s["data"] for s in data["series"]]))),
        # The table's cells: (value, events with the property or None) per line.
        "table_rows": list(
            zip(data["buckets"], zip(*[list(zip(s["data"], s.get("property_events") or [None] * len(s["data"]))) for s in data["series"]]))
        ),
        "has_data": any(_counted(s) for s in data["series"]),
        "of_property": any(s.get("math_property") for s in data["series"]),
    }


def _counted(line: dict) -> bool:
    """Whether a line counted anything: an event, a person, or an event with its property."""
    if line.get("math_property"):
        return bool(line["property_events_total"])
    return bool(sum(line["data"]))


def trends_insight(project, params) -> dict:
    """The trends page's figures for ``params``."""
    trend = trend_query_parse(project, params)
    result = trends_result(params, trend, trend_data(project, trend))
    time_chart_finish(result["chart"], project=project, date_range=trend.date_range)
    return result


def trends_table(result: dict) -> tuple[list[str], list[list]]:
    """One column per line; a line of a property math adds a column of the events that had
    the property (after all the lines' columns). An empty bucket of a property math is ''."""
    data = result["data"]
    counted = [s for s in data["series"] if s.get("math_property")]
    header = ["bucket", *[s["label"] for s in data["series"]], *[f"{s['label']} (events with {s['math_property']})" for s in counted]]
    rows = []
    for index, (label, values) in enumerate(result["rows"]):
        rows.append([label, *["" if v is None else v for v in values], *[s["property_events"][index] for s in counted]])
    return header, rows


# --- Active users (the overview's chart) ----------------------------------------------------


def active_users_chart(active: dict) -> dict:
    return chart_spec(
        "line",
        active["buckets"],
        [{"label": "DAU", "data": active["dau"]}, {"label": "WAU", "data": active["wau"]}, {"label": "MAU", "data": active["mau"]}],
    )


def overview_insight(project, params) -> dict:
    """The overview page's figures: its cards, the active-users and events charts, the top events."""
    date_range = page_range(project, params)
    data = selectors.overview(project_id=project.id, date_range=date_range)
    total = data["cards"]["events"]["value"]
    active_chart = active_users_chart(data["active_users"])
    events_chart = chart_spec("bar", data["buckets"], [{"label": "Events", "data": data["events_over_time"]["data"]}])
    # Each chart is finished by the range its labels are; when both are over one range (any
    # but an hourly one: active users are daily figures), that range is read once.
    for finished_over in dict.fromkeys((date_range, date_range.whole_days())):
        time_charts_finish([active_chart, events_chart], project=project, date_range=finished_over)
    return {
        "date_range": date_range,
        "data": data,
        "top_events": [{**row, "share": row["count"] / total * 100 if total else 0.0} for row in data["top_events"]],
        "cards": [
            ("Events", data["cards"]["events"], "events"),
            ("Unique users", data["cards"]["users"], "users"),
            ("Active session ids", data["cards"]["sessions"], "sessions"),
            ("Events per user", data["cards"]["events_per_user"], "events_per_user"),
        ],
        "active_chart": active_chart,
        "events_chart": events_chart,
        "has_data": data["cards"]["events"]["value"] > 0 or data["cards"]["events"]["previous"] > 0,
    }


def active_users_insight(project, params) -> dict:
    """The overview's active-users chart alone (DAU, WAU and MAU), same figures, fewer queries."""
    date_range = page_range(project, params)
    counted = date_range.whole_days()
    active = selectors.active_users(project_id=project.id, date_range=counted)
    return {
        "date_range": date_range,
        "active": active,
        "chart": time_chart_finish(active_users_chart(active), project=project, date_range=counted),
        "rows": list(zip(active["buckets"], active["dau"], active["wau"], active["mau"])),
        "has_data": any(active["mau"]),
    }


def active_users_table(result: dict) -> tuple[list[str], list[list]]:
    return ["bucket", "dau", "wau", "mau"], [list(row) for row in result["rows"]]


# --- Retention ----------------------------------------------------------------------------


def retention_params(project, params) -> QueryDict:
    """The page's parameters, with a start event when none is given (:func:`default_event`)
    and the filter rows of the page form as ``filters`` JSON."""
    params = params.copy()
    if not params.get("start_event"):
        params["start_event"] = default_event(project)
    if not params.get("filters") and any(key.strip() for key in params.getlist("fkey")):
        params["filters"] = orjson.dumps([f.as_json() for f in form_filters(params)]).decode()
    for name in ("ftype", "fkey", "fop", "fvalue"):
        params.pop(name, None)
    return params


def retention_view(result: dict) -> dict:
    """The cohort table (percentages of each cohort's size, shaded) and the curve."""
    rows = []
    for cohort in result["cohorts"]:
        cells = []
        for k in range(result["periods"]):
            if k >= len(cohort["values"]) or not cohort["size"]:
                cells.append(None if cohort["size"] or k >= len(cohort["values"]) else {"empty": True})
                continue
            value = cohort["values"][k]
            pct = value / cohort["size"] * 100 if cohort["size"] else 0.0
            cells.append({"value": value, "pct": pct, "shade": f"{pct / 100:.3f}", "dark": pct >= 50, "complete": cohort["complete"][k]})
        rows.append({"date": cohort["date"], "size": cohort["size"], "cells": cells})
        for k, cell in enumerate(cells):
            if cell and not cell.get("empty"):
                cell["query"] = urlencode({"cohort": cohort["date"], "index": k})
    return {"rows": rows, "curve": retention_curve(result), "has_data": any(c["size"] for c in result["cohorts"])}


def retention_insight(project, params) -> dict:
    """The retention page's figures for ``params``: the query, the engine's result, the
    cohort table and the curve."""
    params = retention_params(project, params)
    query: RetentionQuery = retention_query_parse(params, tz_name=project.timezone)
    result = retention(project_id=project.id, query=query)
    view = retention_view(result)
    labels = [f"{query.period.capitalize()} {k}" for k in range(query.periods)]
    return {
        "params": params,
        "query": query,
        "result": result,
        **view,
        "period_labels": labels,
        "chart": chart_spec("line", labels, [{"label": "Retained", "data": view["curve"]}], percent=True),
    }


def retention_table(result: dict) -> tuple[list[str], list[list]]:
    query = result["query"]
    header = ["cohort", "persons", *[f"{query.period}_{k}" for k in range(query.periods)]]
    rows = [
        [c["date"], c["size"], *c["values"], *[""] * (query.periods - len(c["values"]))] for c in result["result"]["cohorts"]
    ]
    return header, rows


# --- Stickiness and lifecycle -------------------------------------------------------------


def day_range(project, params) -> DateRange:
    """The page's range in day or week buckets (a preset whose own buckets are hours, 24h,
    is counted in days)."""
    date_range = page_range(project, params)
    if date_range.interval == "hour":
        params = params.copy()
        params["interval"] = "day"
        date_range = date_range_from_query(params=params, tz_name=project.timezone)
    return date_range


def stickiness_query(project, params) -> tuple[DateRange, list[str]]:
    names = list(dict.fromkeys(name.strip() for name in params.getlist("event") if name.strip()))
    if not names:
        names = [default_event(project)]
    return day_range(project, params), names[:MAX_SERIES]


def stickiness_insight(project, params) -> dict:
    date_range, names = stickiness_query(project, params)
    data = stickiness(project_id=project.id, date_range=date_range, events=names)
    return {
        "date_range": date_range,
        "names": names,
        "data": data,
        "unit": date_range.interval,
        "chart": chart_spec("bar", data["labels"], [{"label": s["label"], "data": s["data"]} for s in data["series"]]),
        "rows": list(zip(data["labels"], zip(*[s["data"] for s in data["series"]]))),
        "has_data": any(sum(s["data"]) for s in data["series"]),
    }


def stickiness_table(result: dict) -> tuple[list[str], list[list]]:
    data = result["data"]
    rows = [[n, *values] for n, values in zip(data["lengths"], zip(*[s["data"] for s in data["series"]]))]
    return [f"{result['unit']}s", *result["names"]], rows


def lifecycle_query(project, params) -> tuple[DateRange, str]:
    event = params.get("event", "").strip() or default_event(project)
    return day_range(project, params), event


def lifecycle_insight(project, params) -> dict:
    date_range, event = lifecycle_query(project, params)
    data = lifecycle(project_id=project.id, date_range=date_range, event=event)
    datasets = [{"label": kind.capitalize(), "data": data[kind], "color": LIFECYCLE_COLORS[kind]} for kind in LIFECYCLE_KINDS]
    return {
        "date_range": date_range,
        "event": event,
        "data": data,
        "kinds": LIFECYCLE_KINDS,
        "chart": time_chart_finish(chart_spec("bar", data["buckets"], datasets, stacked=True), project=project, date_range=date_range),
        "rows": list(zip(data["buckets"], *[data[kind] for kind in LIFECYCLE_KINDS])),
        "has_data": any(any(data[kind]) for kind in LIFECYCLE_KINDS),
    }


def lifecycle_table(result: dict) -> tuple[list[str], list[list]]:
    return ["bucket", *LIFECYCLE_KINDS], [list(row) for row in result["rows"]]
