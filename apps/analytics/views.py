"""Dashboard pages: overview, trends, explorer and live.

Views parse the query string (the page state lives in the URL, so a view can be shared),
call a selector and render: the whole page on a normal request, only the ``#page-body``
partial on an HTMX one. They use the same selectors as the JSON API, so the numbers on a
page and in the API are the same numbers.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlencode

import orjson
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse

from apps.analytics import selectors
from apps.analytics.live import live_socket_path
from apps.analytics.engagement import LIFECYCLE_KINDS, lifecycle, stickiness
from apps.analytics.params import MAX_SERIES, Series, cursor_decode, series_parse, trend_series_check
from apps.analytics.retention import (
    ANY_EVENT,
    CELL_LIMIT,
    retention,
    retention_cell_parse,
    retention_cell_persons,
    retention_curve,
    retention_query_parse,
)
from apps.ingest.selectors import event_names_by_volume
from apps.persons.selectors import persons_of_keys
from apps.persons.views import shown_properties
from apps.projects.selectors import project_get_for_user
from apps.query.breakdown import breakdown_type_parse
from apps.query.dates import DateRange, date_controls, date_range_from_query, date_range_resolve
from apps.query.filters import OPERATOR_CHOICES, FilterError, PropertyFilter, property_filters_clean, property_filters_parse
from pulseboard.errors import ParamError
from pulseboard.htmx import page, vary_on_htmx, wants_partial

EXPLORER_PAGE = 50
NEW_EVENTS_POLL_SECONDS = 10


def _render(request: HttpRequest, partial: str, context: dict, status: int = 200) -> HttpResponse:
    return page(request, "analytics/page.html", partial, {**context, "partial": partial}, status=status)


def _error(request: HttpRequest, project, error: ParamError, title: str) -> HttpResponse:
    return _render(
        request, "query/partials/param_error.html", {"project": project, "error": error, "title": title}, status=400
    )


def _range(request: HttpRequest, project) -> DateRange:
    return date_range_from_query(params=request.GET, tz_name=project.timezone)


def _chart(kind: str, labels: list[str], datasets: list[dict], **options) -> dict:
    return {"type": kind, "labels": labels, "datasets": datasets, **options}


def _event_names(project) -> list[str]:
    return event_names_by_volume(project_id=project.id)


def _csv_error(error: ParamError) -> HttpResponse:
    return HttpResponse(f"{error.field}: {error.message}\n", status=400, content_type="text/plain")


def _default_event(project) -> str:
    """The event an insight page starts from: ``$pageview`` when the project has it, else
    its most frequent event, else any event."""
    names = _event_names(project)
    return "$pageview" if "$pageview" in names else (names[0] if names else ANY_EVENT)


# --- Overview -----------------------------------------------------------------------------


@login_required
def overview(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        date_range = _range(request, project)
    except ParamError as error:
        return _error(request, project, error, "Overview")
    data = selectors.overview(project_id=project.id, date_range=date_range)
    active = data["active_users"]
    total = data["cards"]["events"]["value"]
    top_events = [{**row, "share": row["count"] / total * 100 if total else 0.0} for row in data["top_events"]]
    context = {
        "project": project,
        "title": "Overview",
        "date_controls": date_controls(params=request.GET, date_range=date_range),
        "data": data,
        "top_events": top_events,
        "cards": [
            ("Events", data["cards"]["events"], "events"),
            ("Unique users", data["cards"]["users"], "users"),
            ("Sessions", data["cards"]["sessions"], "sessions"),
            ("Events per user", data["cards"]["events_per_user"], "events_per_user"),
        ],
        "active_chart": _chart(
            "line",
            active["buckets"],
            [{"label": "DAU", "data": active["dau"]}, {"label": "WAU", "data": active["wau"]}, {"label": "MAU", "data": active["mau"]}],
        ),
        "events_chart": _chart("bar", data["buckets"], [{"label": "Events", "data": data["events_over_time"]["data"]}]),
        "has_data": data["cards"]["events"]["value"] > 0 or data["cards"]["events"]["previous"] > 0,
        "explorer_url": reverse("analytics-explorer", kwargs={"project_id": project.id}),
        "trends_url": reverse("analytics-trends", kwargs={"project_id": project.id}),
        "settings_url": reverse("project-settings", kwargs={"project_id": project.id}),
        "range_query": urlencode(date_range.query_params()),
    }
    return _render(request, "analytics/partials/overview_body.html", context)


# --- Trends -------------------------------------------------------------------------------

DATE_FIELDS = ("range", "date_from", "date_to", "interval")
TREND_KEEP = ("events", "event", "math", "breakdown", "breakdown_type", "filters", "ftype", "fkey", "fop", "fvalue", "chart")


def _form_series(request: HttpRequest) -> tuple[str | None, str | None]:
    """The series as ``events``/``math`` (the API's form), or as the page form's repeated
    ``event`` and ``math`` fields (empty rows ignored)."""
    q = request.GET
    if q.get("events"):
        return q["events"], q.get("math")
    rows = [(e.strip(), m) for e, m in zip(q.getlist("event"), q.getlist("math") + ["total"] * len(q.getlist("event"))) if e.strip()]
    if not rows:
        return None, None
    return ",".join(e for e, _ in rows), ",".join(m for _, m in rows)


def _form_filters(request: HttpRequest) -> list[PropertyFilter]:
    """``filters`` as JSON (the API's form), or the page form's repeated ftype/fkey/fop/fvalue
    rows (rows without a key ignored; a row without a type is about the event)."""
    q = request.GET
    if q.get("filters"):
        return property_filters_parse(q["filters"])
    keys = q.getlist("fkey")
    types = q.getlist("ftype") + ["event"] * len(keys)
    rows = [
        {"key": key, "operator": op, "value": value, "type": kind or "event"}
        for key, op, value, kind in zip(keys, q.getlist("fop"), q.getlist("fvalue"), types)
        if key.strip()
    ]
    try:
        return property_filters_clean(rows)
    except FilterError as error:
        raise ParamError("filters", str(error)) from None


@dataclass(frozen=True)
class TrendQuery:
    date_range: DateRange
    series: list[Series]
    breakdown: str | None
    breakdown_type: str
    filters: list[PropertyFilter]


def _trend_request(request: HttpRequest, project, date_range: DateRange | None = None) -> TrendQuery:
    date_range = date_range or _range(request, project)
    events, math = _form_series(request)
    if not events:
        names = _event_names(project)
        events = names[0] if names else "$pageview"
    series = series_parse(events, math)
    breakdown = request.GET.get("breakdown") or None
    trend_series_check(series=series, date_range=date_range, breakdown=breakdown)
    breakdown_type = breakdown_type_parse(request.GET.get("breakdown_type"))
    return TrendQuery(date_range, series, breakdown, breakdown_type, _form_filters(request))


def _trend_data(project, trend: TrendQuery) -> dict:
    return selectors.trends(
        project_id=project.id,
        date_range=trend.date_range,
        series=trend.series,
        breakdown=trend.breakdown,
        breakdown_type=trend.breakdown_type,
        filters=trend.filters,
    )


@login_required
def trends(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    date_error = None
    try:
        trend = _trend_request(request, project)
    except ParamError as error:
        if error.field not in DATE_FIELDS:
            return _error(request, project, error, "Trends")
        # A bad range: the editor stays as it was, the error shows by the date controls.
        date_error = error
        try:
            default = date_range_resolve(params={}, tz_name=project.timezone)
            trend = _trend_request(request, project, date_range=default)
        except ParamError as error:
            return _error(request, project, error, "Trends")
    date_range = trend.date_range
    if date_error is None:
        data = _trend_data(project, trend)
        range_hidden = list(date_range.query_params().items())
    else:
        data = {"buckets": [], "series": [], "interval": date_range.interval, "breakdown": trend.breakdown}
        range_hidden = [(name, request.GET[name]) for name in DATE_FIELDS if request.GET.get(name)]
    chart_kind = "bar" if request.GET.get("chart") == "bar" else "line"
    query = request.GET.copy()
    query.pop("preset", None)
    query.update(dict(range_hidden))
    controls = date_controls(params=request.GET, date_range=date_range, keep=TREND_KEEP)
    if date_error is not None:  # the dates as they were typed, to be corrected
        controls.update(
            preset=None, date_from=request.GET.get("date_from", ""), date_to=request.GET.get("date_to", ""), error=date_error
        )
    context = {
        "project": project,
        "title": "Trends",
        "date_controls": controls,
        "date_error": date_error,
        "data": data,
        "series": trend.series,
        "breakdown": trend.breakdown or "",
        "breakdown_type": trend.breakdown_type,
        "filters": trend.filters,
        "range_hidden": range_hidden,
        "maths": [("total", "Total events"), ("unique", "Unique users"), ("wau", "Weekly active (WAU)"), ("mau", "Monthly active (MAU)")],
        "operators": OPERATOR_CHOICES,
        "chart_kind": chart_kind,
        "chart": _chart(chart_kind, data["buckets"], [{"label": s["label"], "data": s["data"]} for s in data["series"]]),
        "rows": list(zip(data["buckets"], zip(*[s["data"] for s in data["series"]]))),
        "event_names": _event_names(project),
        "csv_url": reverse("analytics-trends-csv", kwargs={"project_id": project.id}) + "?" + query.urlencode(),
        "has_data": any(sum(s["data"]) for s in data["series"]),
    }
    return _render(request, "analytics/partials/trends_body.html", context, status=400 if date_error else 200)


@login_required
def trends_csv(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        trend = _trend_request(request, project)
    except ParamError as error:
        return _csv_error(error)
    data = _trend_data(project, trend)
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="trends-{project.id}.csv"'
    writer = csv.writer(response)
    writer.writerow(["bucket", *[s["label"] for s in data["series"]]])
    for label, values in zip(data["buckets"], zip(*[s["data"] for s in data["series"]])):
        writer.writerow([label, *values])
    return response


# --- Retention ----------------------------------------------------------------------------

RETENTION_KEEP = ("start_event", "return_event", "period", "periods", "retention_type", "filters")
RETENTION_TYPES = [("recurring", "Recurring"), ("first_time", "First time")]


def _retention_params(request: HttpRequest, project) -> QueryDict:
    """The page's parameters, with a start event when none is given (:func:`_default_event`)."""
    params = request.GET.copy()
    if not params.get("start_event"):
        params["start_event"] = _default_event(project)
    if not params.get("filters") and any(key.strip() for key in params.getlist("fkey")):
        params["filters"] = orjson.dumps([f.as_json() for f in _form_filters(request)]).decode()
    for name in ("ftype", "fkey", "fop", "fvalue"):
        params.pop(name, None)
    return params


def _retention_view(result: dict) -> dict:
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


@login_required
def retention_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        params = _retention_params(request, project)
        query = retention_query_parse(params, tz_name=project.timezone)
    except ParamError as error:
        return _error(request, project, error, "Retention")
    result = retention(project_id=project.id, query=query)
    bounds = (datetime.fromisoformat(result["date_from"]), datetime.fromisoformat(result["date_to"]))
    shown = DateRange(*bounds, "day", query.tz, params.get("preset") or params.get("range") or None)
    view = _retention_view(result)
    labels = [f"{query.period.capitalize()} {k}" for k in range(query.periods)]
    # The range the editor's form keeps: the preset, or the custom dates, as asked.
    range_hidden = [(name, params[name]) for name in ("preset", "range", "date_from", "date_to") if params.get(name)]
    context = {
        "project": project,
        "title": "Retention",
        "date_controls": date_controls(params=params, date_range=shown, intervals=(), keep=RETENTION_KEEP),
        "query": query,
        "range_hidden": range_hidden,
        "filters": property_filters_parse(params.get("filters")),
        "operators": OPERATOR_CHOICES,
        **view,
        "period_labels": labels,
        "chart": _chart("line", labels, [{"label": "Retained", "data": view["curve"]}], percent=True),
        "event_names": _event_names(project),
        "any_event": ANY_EVENT,
        "periods_choices": [("day", "Day"), ("week", "Week"), ("month", "Month")],
        "types": RETENTION_TYPES,
        "csv_url": reverse("analytics-retention-csv", kwargs={"project_id": project.id}) + "?" + params.urlencode(),
        "persons_url": reverse("analytics-retention-persons", kwargs={"project_id": project.id}) + "?" + params.urlencode(),
    }
    return _render(request, "analytics/partials/retention_body.html", context)


@login_required
def retention_csv(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        query = retention_query_parse(_retention_params(request, project), tz_name=project.timezone)
    except ParamError as error:
        return _csv_error(error)
    result = retention(project_id=project.id, query=query)
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="retention-{project.id}.csv"'
    writer = csv.writer(response)
    writer.writerow(["cohort", "persons", *[f"{query.period}_{k}" for k in range(query.periods)]])
    for cohort in result["cohorts"]:
        writer.writerow([cohort["date"], cohort["size"], *cohort["values"], *[""] * (query.periods - len(cohort["values"]))])
    return response


@login_required
def retention_persons(request: HttpRequest, project_id: int) -> HttpResponse:
    """The persons of one cell of the retention table: who came back, or who did not."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        params = _retention_params(request, project)
        query = retention_query_parse(params, tz_name=project.timezone)
        cohort, index, returned = retention_cell_parse(params)
        keys = retention_cell_persons(project_id=project.id, query=query, cohort=cohort, index=index, returned=returned)
    except ParamError as error:
        return _error(request, project, error, "Retention")
    persons = persons_of_keys(project_id=project.id, persons=keys)
    other = params.copy()
    other["returned"] = "false" if returned else "true"
    back = params.copy()
    for name in ("cohort", "index", "returned"):
        back.pop(name, None)
    context = {
        "project": project,
        "title": "Retention",
        "query": query,
        "cohort": cohort,
        "index": index,
        "returned": returned,
        "rows": [{"person": p, "shown": shown_properties(p.properties)} for p in persons],
        "limit": CELL_LIMIT,
        "other_url": f"{request.path}?{other.urlencode()}",
        "back_url": reverse("analytics-retention", kwargs={"project_id": project.id}) + "?" + back.urlencode(),
    }
    return _render(request, "analytics/partials/retention_persons.html", context)


# --- Stickiness and lifecycle -------------------------------------------------------------

DAY_INTERVALS = ("day", "week")
LIFECYCLE_COLORS = {"new": "#10b981", "returning": "#4f46e5", "resurrecting": "#f59e0b", "dormant": "#ef4444"}


def _day_range(request: HttpRequest, project) -> DateRange:
    """The page's range in day or week buckets (a preset whose own buckets are hours, 24h,
    is counted in days)."""
    date_range = _range(request, project)
    if date_range.interval == "hour":
        params = request.GET.copy()
        params["interval"] = "day"
        date_range = date_range_from_query(params=params, tz_name=project.timezone)
    return date_range


def _csv(name: str, project, header: list, rows) -> HttpResponse:
    response = HttpResponse(content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{name}-{project.id}.csv"'
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response


def _stickiness_request(request: HttpRequest, project) -> tuple[DateRange, list[str]]:
    names = list(dict.fromkeys(name.strip() for name in request.GET.getlist("event") if name.strip()))
    if not names:
        names = [_default_event(project)]
    return _day_range(request, project), names[:MAX_SERIES]


@login_required
def stickiness_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        date_range, names = _stickiness_request(request, project)
    except ParamError as error:
        return _error(request, project, error, "Stickiness")
    data = stickiness(project_id=project.id, date_range=date_range, events=names)
    query = request.GET.copy()
    query.setlist("event", names)
    context = {
        "project": project,
        "title": "Stickiness",
        "date_controls": date_controls(params=request.GET, date_range=date_range, intervals=DAY_INTERVALS, keep=("event",)),
        "range_hidden": list(date_range.query_params().items()),
        "data": data,
        "names": names,
        "unit": date_range.interval,
        "chart": _chart("bar", data["labels"], [{"label": s["label"], "data": s["data"]} for s in data["series"]]),
        "rows": list(zip(data["labels"], zip(*[s["data"] for s in data["series"]]))),
        "event_names": _event_names(project),
        "has_data": any(sum(s["data"]) for s in data["series"]),
        "csv_url": reverse("analytics-stickiness-csv", kwargs={"project_id": project.id}) + "?" + query.urlencode(),
    }
    return _render(request, "analytics/partials/stickiness_body.html", context)


@login_required
def stickiness_csv(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        date_range, names = _stickiness_request(request, project)
    except ParamError as error:
        return _csv_error(error)
    data = stickiness(project_id=project.id, date_range=date_range, events=names)
    rows = [(n, *values) for n, values in zip(data["lengths"], zip(*[s["data"] for s in data["series"]]))]
    return _csv("stickiness", project, [f"{date_range.interval}s", *names], rows)


def _lifecycle_request(request: HttpRequest, project) -> tuple[DateRange, str]:
    event = request.GET.get("event", "").strip() or _default_event(project)
    return _day_range(request, project), event


@login_required
def lifecycle_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        date_range, event = _lifecycle_request(request, project)
    except ParamError as error:
        return _error(request, project, error, "Lifecycle")
    data = lifecycle(project_id=project.id, date_range=date_range, event=event)
    query = request.GET.copy()
    query["event"] = event
    datasets = [{"label": kind.capitalize(), "data": data[kind], "color": LIFECYCLE_COLORS[kind]} for kind in LIFECYCLE_KINDS]
    context = {
        "project": project,
        "title": "Lifecycle",
        "date_controls": date_controls(params=request.GET, date_range=date_range, intervals=DAY_INTERVALS, keep=("event",)),
        "range_hidden": list(date_range.query_params().items()),
        "data": data,
        "event": event,
        "any_event": ANY_EVENT,
        "kinds": LIFECYCLE_KINDS,
        "chart": _chart("bar", data["buckets"], datasets, stacked=True),
        "rows": list(zip(data["buckets"], *[data[kind] for kind in LIFECYCLE_KINDS])),
        "event_names": _event_names(project),
        "has_data": any(any(data[kind]) for kind in LIFECYCLE_KINDS),
        "csv_url": reverse("analytics-lifecycle-csv", kwargs={"project_id": project.id}) + "?" + query.urlencode(),
    }
    return _render(request, "analytics/partials/lifecycle_body.html", context)


@login_required
def lifecycle_csv(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        date_range, event = _lifecycle_request(request, project)
    except ParamError as error:
        return _csv_error(error)
    data = lifecycle(project_id=project.id, date_range=date_range, event=event)
    return _csv("lifecycle", project, ["bucket", *LIFECYCLE_KINDS], zip(data["buckets"], *[data[kind] for kind in LIFECYCLE_KINDS]))


# --- Explorer -----------------------------------------------------------------------------

EXPLORER_KEEP = ("event", "distinct_id", "user_id", "anonymous_id", "property", "value")


def _explorer_filters(request: HttpRequest, date_range: DateRange) -> selectors.EventFilters:
    q = request.GET
    key = q.get("property", "").strip()
    properties = (PropertyFilter(key=key, operator="equals", value=q.get("value", "")),) if key else ()
    return selectors.EventFilters(
        event=q.get("event", ""),
        distinct_id=q.get("distinct_id", "").strip(),
        user_id=q.get("user_id", "").strip(),
        anonymous_id=q.get("anonymous_id", "").strip(),
        properties=properties,
        date_from=date_range.date_from,
        date_to=date_range.date_to,
    )


def _page_links(request: HttpRequest, next_cursor: str | None) -> str | None:
    if not next_cursor:
        return None
    query = request.GET.copy()
    query["cursor"] = next_cursor
    return f"{request.path}?{query.urlencode()}"


@login_required
def explorer(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        date_range = _range(request, project)
        filters = _explorer_filters(request, date_range)
        cursor = cursor_decode(request.GET["cursor"]) if request.GET.get("cursor") else None
    except ParamError as error:
        return _error(request, project, error, "Explorer")
    page = selectors.events_list(project_id=project.id, filters=filters, cursor=cursor, limit=EXPLORER_PAGE)
    loaded_at = datetime.now(timezone.utc)
    context = {
        "project": project,
        "title": "Explorer",
        "events": page.events,
        "next_url": _page_links(request, page.next_cursor),
        "event_names": _event_names(project),
        "q": request.GET,
        "filtered": any(request.GET.get(k) for k in EXPLORER_KEEP),
        "date_controls": date_controls(params=request.GET, date_range=date_range, intervals=(), keep=EXPLORER_KEEP),
        "new_events_url": reverse("analytics-explorer-new", kwargs={"project_id": project.id})
        + "?"
        + urlencode({**{k: v for k, v in request.GET.items() if k != "cursor"}, "since": loaded_at.isoformat()}),
        "poll_seconds": NEW_EVENTS_POLL_SECONDS,
    }
    if cursor is not None and wants_partial(request):
        # "Load more": only the next rows and the next button, appended below the table.
        return vary_on_htmx(render(request, "analytics/partials/explorer_rows.html", context))
    return _render(request, "analytics/partials/explorer_body.html", context)


@login_required
def explorer_new(request: HttpRequest, project_id: int) -> HttpResponse:
    """How many matching events arrived since the page was loaded (polled by the page)."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        date_range = _range(request, project)
        since = datetime.fromisoformat(request.GET.get("since", ""))
    except (ParamError, ValueError):
        return HttpResponse(status=400)
    filters = _explorer_filters(request, date_range)
    # Events keep arriving after the range was resolved: count up to now, not the range end.
    filters = selectors.EventFilters(**{**filters.__dict__, "date_to": None})
    count = selectors.events_received_since(project_id=project.id, filters=filters, since=since)
    reload_url = reverse("analytics-explorer", kwargs={"project_id": project.id}) + "?" + urlencode(
        {k: v for k, v in request.GET.items() if k not in ("since", "cursor")}
    )
    return render(request, "analytics/partials/explorer_new.html", {"count": count, "reload_url": reload_url})


# --- Live ---------------------------------------------------------------------------------

LIVE_MAX_ROWS = 500  # rows the live page keeps; older ones drop off the bottom


@login_required
def live(request: HttpRequest, project_id: int) -> HttpResponse:
    """The live feed's shell; static/js/live.js opens the socket and fills it."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    context = {
        "project": project,
        "title": "Live",
        "socket_path": live_socket_path(project_id=project.id),
        "max_rows": LIVE_MAX_ROWS,
        "event_filter": request.GET.get("event", ""),
        "event_names": _event_names(project),
        "explorer_url": reverse("analytics-explorer", kwargs={"project_id": project.id}),
        "settings_url": reverse("project-settings", kwargs={"project_id": project.id}),
        "ingest_url": request.build_absolute_uri(reverse("ingest-events")),
    }
    partial = "analytics/partials/live_body.html"
    return page(request, "analytics/live.html", partial, {**context, "partial": partial})


# --- Users (now the persons pages) ------------------------------------------------------


def users(request: HttpRequest, project_id: int) -> HttpResponse:
    """The former users list: persons live at ``/projects/<id>/persons/`` now."""
    return redirect(reverse("persons-list", kwargs={"project_id": project_id}), permanent=True)
