"""Dashboard pages: overview, trends, explorer and live.

Views parse the query string (the page state lives in the URL, so a view can be shared),
call a selector and render: the whole page on a normal request, only the ``#page-body``
partial on an HTMX one. They use the same selectors as the JSON API, so the numbers on a
page and in the API are the same numbers.
"""

from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from apps.analytics import insights, selectors
from apps.analytics.insights import DATE_FIELDS, DAY_INTERVALS, TREND_MATHS, TREND_PROPERTY_MATHS, TrendQuery
from apps.analytics.live import live_socket_path
from apps.analytics.engagement import LIFECYCLE_KINDS
from apps.analytics.params import cursor_decode
from apps.analytics.retention import (
    ANY_EVENT,
    CELL_LIMIT,
    retention_cell_parse,
    retention_cell_persons,
    retention_query_parse,
)
from apps.persons.selectors import persons_of_keys
from apps.persons.views import shown_properties
from apps.projects.selectors import project_get_for_user
from apps.query.charts import time_chart_finish
from apps.query.dates import DateRange, date_controls, date_range_from_query, date_range_resolve
from apps.query.filters import OPERATOR_CHOICES, PropertyFilter, property_filters_parse
from apps.query.pages import csv_view, param_error_page
from pulseboard.errors import ParamError
from pulseboard.htmx import page, vary_on_htmx, wants_partial

EXPLORER_PAGE = 50
NEW_EVENTS_POLL_SECONDS = 10


def _render(request: HttpRequest, partial: str, context: dict, status: int = 200) -> HttpResponse:
    return page(request, "analytics/page.html", partial, {**context, "partial": partial}, status=status)


def _error(request: HttpRequest, project, error: ParamError, title: str) -> HttpResponse:
    return param_error_page(request, project=project, error=error, title=title)


def _range(request: HttpRequest, project) -> DateRange:
    return date_range_from_query(params=request.GET, tz_name=project.timezone)


_event_names = insights.event_names




# --- Overview -----------------------------------------------------------------------------


@login_required
def overview(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        result = insights.overview_insight(project, request.GET)
    except ParamError as error:
        return _error(request, project, error, "Overview")
    date_range = result.pop("date_range")
    context = {
        "project": project,
        "title": "Overview",
        "date_controls": date_controls(params=request.GET, date_range=date_range, keep=("insight",)),
        **result,
        "explorer_url": reverse("analytics-explorer", kwargs={"project_id": project.id}),
        "trends_url": reverse("analytics-trends", kwargs={"project_id": project.id}),
        "settings_url": reverse("project-settings", kwargs={"project_id": project.id}),
        "range_query": urlencode(date_range.query_params()),
    }
    return _render(request, "analytics/partials/overview_body.html", context)


# --- Trends -------------------------------------------------------------------------------

# "insight": the saved insight the page shows (apps/dashboards), kept while its settings change.
TREND_KEEP = ("events", "event", "math", "math_property", "breakdown", "breakdown_type", "filters", "ftype", "fkey", "fop", "fvalue", "chart", "insight")


def _form_filters(request: HttpRequest) -> list[PropertyFilter]:
    return insights.form_filters(request.GET)


def _trend_request(request: HttpRequest, project, date_range: DateRange | None = None) -> TrendQuery:
    return insights.trend_query_parse(project, request.GET, date_range=date_range)


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
    numeric_keys: list[str] = []
    if date_error is None:
        data = insights.trend_data(project, trend)
        range_hidden = list(date_range.query_params().items())
        numeric_keys = selectors.numeric_property_keys(project_id=project.id, date_range=date_range, events=[s.event for s in trend.series])
    else:
        data = {"buckets": [], "series": [], "interval": date_range.interval, "breakdown": trend.breakdown}
        range_hidden = [(name, request.GET[name]) for name in DATE_FIELDS if request.GET.get(name)]
    result = insights.trends_result(request.GET, trend, data)
    time_chart_finish(result["chart"], project=project, date_range=date_range)
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
        "maths": TREND_MATHS,
        "property_maths": TREND_PROPERTY_MATHS,
        "numeric_keys": numeric_keys,
        "operators": OPERATOR_CHOICES,
        "chart_kind": result["chart_kind"],
        "chart": result["chart"],
        "rows": result["rows"],
        "table_rows": result["table_rows"],
        "of_property": result["of_property"],
        "event_names": _event_names(project),
        "csv_url": reverse("analytics-trends-csv", kwargs={"project_id": project.id}) + "?" + query.urlencode(),
        "has_data": result["has_data"],
    }
    return _render(request, "analytics/partials/trends_body.html", context, status=400 if date_error else 200)


# --- Retention ----------------------------------------------------------------------------

RETENTION_KEEP = ("start_event", "return_event", "period", "periods", "retention_type", "filters", "insight")
RETENTION_TYPES = [("recurring", "Recurring"), ("first_time", "First time")]


def _retention_params(request: HttpRequest, project):
    return insights.retention_params(project, request.GET)


@login_required
def retention_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        insight = insights.retention_insight(project, request.GET)
    except ParamError as error:
        return _error(request, project, error, "Retention")
    params, query, result = insight["params"], insight["query"], insight["result"]
    bounds = (datetime.fromisoformat(result["date_from"]), datetime.fromisoformat(result["date_to"]))
    shown = DateRange(*bounds, "day", query.tz, params.get("preset") or params.get("range") or None)
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
        "rows": insight["rows"],
        "curve": insight["curve"],
        "has_data": insight["has_data"],
        "period_labels": insight["period_labels"],
        "chart": insight["chart"],
        "event_names": _event_names(project),
        "any_event": ANY_EVENT,
        "periods_choices": [("day", "Day"), ("week", "Week"), ("month", "Month")],
        "types": RETENTION_TYPES,
        "csv_url": reverse("analytics-retention-csv", kwargs={"project_id": project.id}) + "?" + params.urlencode(),
        "persons_url": reverse("analytics-retention-persons", kwargs={"project_id": project.id}) + "?" + params.urlencode(),
    }
    return _render(request, "analytics/partials/retention_body.html", context)


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


trends_csv = csv_view("trends", insights.trends_insight, insights.trends_table)
retention_csv = csv_view("retention", insights.retention_insight, insights.retention_table)
stickiness_csv = csv_view("stickiness", insights.stickiness_insight, insights.stickiness_table)
lifecycle_csv = csv_view("lifecycle", insights.lifecycle_insight, insights.lifecycle_table)


@login_required
def stickiness_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        result = insights.stickiness_insight(project, request.GET)
    except ParamError as error:
        return _error(request, project, error, "Stickiness")
    date_range, names = result["date_range"], result["names"]
    query = request.GET.copy()
    query.setlist("event", names)
    context = {
        "project": project,
        "title": "Stickiness",
        "date_controls": date_controls(params=request.GET, date_range=date_range, intervals=DAY_INTERVALS, keep=("event", "insight")),
        "range_hidden": list(date_range.query_params().items()),
        "data": result["data"],
        "names": names,
        "unit": result["unit"],
        "chart": result["chart"],
        "rows": result["rows"],
        "event_names": _event_names(project),
        "has_data": result["has_data"],
        "csv_url": reverse("analytics-stickiness-csv", kwargs={"project_id": project.id}) + "?" + query.urlencode(),
    }
    return _render(request, "analytics/partials/stickiness_body.html", context)


@login_required
def lifecycle_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        result = insights.lifecycle_insight(project, request.GET)
    except ParamError as error:
        return _error(request, project, error, "Lifecycle")
    date_range, event = result["date_range"], result["event"]
    query = request.GET.copy()
    query["event"] = event
    context = {
        "project": project,
        "title": "Lifecycle",
        "date_controls": date_controls(params=request.GET, date_range=date_range, intervals=DAY_INTERVALS, keep=("event", "insight")),
        "range_hidden": list(date_range.query_params().items()),
        "data": result["data"],
        "event": event,
        "any_event": ANY_EVENT,
        "kinds": LIFECYCLE_KINDS,
        "chart": result["chart"],
        "rows": result["rows"],
        "event_names": _event_names(project),
        "has_data": result["has_data"],
        "csv_url": reverse("analytics-lifecycle-csv", kwargs={"project_id": project.id}) + "?" + query.urlencode(),
    }
    return _render(request, "analytics/partials/lifecycle_body.html", context)


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
