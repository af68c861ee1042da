"""The Events page: the catalog's names with their figures, searched, filtered, sorted and
paged through the URL (so a view can be shared), a CSV of the same rows, and a name's
description and visibility edited in place by members and owners.

Every control swaps ``#page-body``: the state lives in one query string, and the search
field keeps its focus across the swap (HTMX restores it by id).
"""

from __future__ import annotations

from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from apps.analytics.events import (
    EventsQuery,
    EventsTable,
    HIDDEN_FILTERS,
    PAGE_PARAMS,
    SORTS,
    event_definition_get,
    event_definition_update,
    event_definitions_table,
    event_description_clean,
    events_query_parse,
)
from apps.ingest.models import EVENT_DESCRIPTION_MAX, EventDefinition
from apps.ingest.plan import plan_violations_for_project, tracking_plan_get
from apps.projects.selectors import Access, project_get_for_user, role_allows
from apps.query.dates import date_controls
from apps.query.pages import param_error_page
from pulseboard.errors import ParamError
from pulseboard.htmx import go, page, vary_on_htmx, wants_partial
from pulseboard.http import csv_download, param_error_text

PAGE = "analytics/page.html"
BODY = "analytics/partials/events_body.html"
DEFINITION = "analytics/partials/events_definition.html"
DEFINITION_FORM = "analytics/partials/events_definition_form.html"
SPARK_WIDTH, SPARK_HEIGHT = 120, 28
SHOWN_FORMAT = "%Y-%m-%d %H:%M"
HIDDEN_LABELS = {"include": "All events", "exclude": "Visible only", "only": "Hidden only"}
COLUMNS = [("name", "Event", False), ("count", "Count", True), ("unique_persons", "Unique persons", True), ("first_seen", "First seen", True), ("last_seen", "Last seen", True)]


def spark_points(counts: list[int]) -> str:
    """The SVG polyline of a sparkline: the days left to right, the busiest at the top. An
    inline SVG per row draws with the page, where 50 charts would each need a script."""
    top = max(counts) or 1
    step = SPARK_WIDTH / max(len(counts) - 1, 1)
    usable = SPARK_HEIGHT - 2
    return " ".join(f"{i * step:.1f},{1 + usable - value / top * usable:.1f}" for i, value in enumerate(counts))


def _state(query: EventsQuery, **changes) -> str:
    """The page's query string, with ``changes`` (None drops a parameter)."""
    state = {**query.date_range.query_params(), "search": query.search, "sort": query.sort_param, "hidden": query.hidden, "page": query.page}
    state.pop("interval", None)
    state.update(changes)
    defaults = {"search": "", "hidden": "include", "page": 1}
    return urlencode({k: v for k, v in state.items() if v is not None and defaults.get(k, object()) != v})


def _sort_links(request: HttpRequest, query: EventsQuery) -> list[dict]:
    """Each column header: a click sorts by it (numbers and dates biggest first), a second
    click flips the order."""
    links = []
    for field, label, numeric in COLUMNS:
        active = query.sort == field
        descending = not query.descending if active else numeric
        links.append(
            {
                "label": label,
                "numeric": numeric,
                "url": f"{request.path}?{_state(query, sort=('-' if descending else '') + field, page=None)}",
                "aria": ("descending" if query.descending else "ascending") if active else None,
            }
        )
    return links


def _definition_context(project, definition: dict) -> dict:
    return {
        "project": project,
        "definition": definition,
        "can_edit": role_allows(project.role, Access.EDIT),
        "edit_url": reverse("analytics-event-edit", kwargs={"project_id": project.id, "definition_id": definition["id"]}),
    }


def _rows(project, table: EventsTable, violations: dict[str, int] | None = None) -> list[dict]:
    tz = ZoneInfo(project.timezone)
    violations = violations or {}
    trends = reverse("analytics-trends", kwargs={"project_id": project.id})
    range_query = table.query.date_range.query_params()
    return [
        {
            **_definition_context(project, row),
            "row": row,
            "trend_url": f"{trends}?{urlencode({'events': row['name'], **range_query})}",
            "first_seen": row["first_seen"].astimezone(tz).strftime(SHOWN_FORMAT),
            "last_seen": row["last_seen"].astimezone(tz).strftime(SHOWN_FORMAT),
            "spark_points": spark_points(row["sparkline"]),
            "spark_total": sum(row["sparkline"]),
            "violations": violations.get(row["name"], 0),
        }
        for row in table.rows
    ]


@login_required
def events_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        query = events_query_parse(request.GET, tz_name=project.timezone, allowed=PAGE_PARAMS)
    except ParamError as error:
        return param_error_page(request, project=project, error=error, title="Events")
    table = event_definitions_table(project_id=project.id, query=query)
    violations = plan_violations_for_project(project_id=project.id)
    by_event: dict[str, int] = {}
    for violation in violations:
        by_event[violation.event] = by_event.get(violation.event, 0) + violation.count
    keep = {"search": query.search, "sort": query.sort_param, "hidden": query.hidden}
    controls = date_controls(params=request.GET, date_range=query.date_range, intervals=())
    controls["hidden"] = [(name, value) for name, value in keep.items() if value]
    context = {
        "project": project,
        "title": "Events",
        "date_controls": controls,
        "range_hidden": [(k, v) for k, v in query.date_range.query_params().items() if k != "interval"],
        "query": query,
        "table": table,
        "rows": _rows(project, table, by_event),
        # The tracking plan's violations (observe mode), by event and property.
        "violations": violations,
        "violation_total": sum(by_event.values()),
        "plan_mode": tracking_plan_get(project=project).mode,
        "plan_url": reverse("tracking-plan", kwargs={"project_id": project.id}),
        "columns": _sort_links(request, query),
        "hidden_filters": [(value, HIDDEN_LABELS[value]) for value in HIDDEN_FILTERS],
        "has_events": EventDefinition.objects.filter(project_id=project.id).exists(),
        "first_row": (query.page - 1) * query.page_size + 1,
        "last_row": (query.page - 1) * query.page_size + len(table.rows),
        "previous_url": f"{request.path}?{_state(query, page=query.page - 1)}" if query.page > 1 else None,
        "next_url": f"{request.path}?{_state(query, page=query.page + 1)}" if query.page < table.pages else None,
        "csv_url": reverse("analytics-events-csv", kwargs={"project_id": project.id}) + "?" + _state(query, page=None),
        "description_max": EVENT_DESCRIPTION_MAX,
    }
    return page(request, PAGE, BODY, {**context, "partial": BODY})


@login_required
def events_csv(request: HttpRequest, project_id: int) -> HttpResponse:
    """Every row matching the page's search and filter (not only one page), in its order,
    with the sparkline's days as columns."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        query = events_query_parse(request.GET, tz_name=project.timezone, allowed=PAGE_PARAMS)
    except ParamError as error:
        return param_error_text(error)
    table = event_definitions_table(project_id=project.id, query=query, paginate=False)
    header = ["event", "description", "hidden", *SORTS[1:], *(day.isoformat() for day in table.spark_days)]
    rows = (
        [row["name"], row["description"], str(row["hidden"]).lower(), row["count"], row["unique_persons"],
         row["first_seen"].isoformat(), row["last_seen"].isoformat(), *row["sparkline"]]
        for row in table.rows
    )
    return csv_download(f"events-{project.id}.csv", header, rows)


@login_required
def event_edit(request: HttpRequest, project_id: int, definition_id: int) -> HttpResponse:
    """Members and owners. GET: the form in place of the description (``?cancel=1`` gives
    the description back). POST: save, then the description (HTMX) or back to the page."""
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    definition = event_definition_get(project_id=project.id, definition_id=definition_id)
    events_url = reverse("analytics-events", kwargs={"project_id": project.id})
    status, error = 200, None
    if request.method == "POST":
        description, hidden = request.POST.get("description", ""), request.POST.get("hidden") == "on"
        try:
            definition = event_definition_update(definition=definition, description=event_description_clean(description), hidden=hidden)
        except ParamError as refused:
            status, error = 400, refused
            definition.description, definition.hidden = description, hidden  # shown again as typed, not saved
        else:
            return _definition_response(request, project, definition) if wants_partial(request) else go(request, events_url)
    elif request.GET.get("cancel") and wants_partial(request):
        return _definition_response(request, project, definition)
    context = {**_definition_context(project, _as_row(definition)), "error": error, "title": "Events", "events_url": events_url, "description_max": EVENT_DESCRIPTION_MAX}
    if wants_partial(request):
        return vary_on_htmx(render(request, DEFINITION_FORM, context, status=status))
    return page(request, PAGE, DEFINITION_FORM, {**context, "partial": DEFINITION_FORM, "standalone": True}, status=status)


def _as_row(definition: EventDefinition) -> dict:
    return {"id": definition.id, "name": definition.name, "description": definition.description, "hidden": definition.hidden}


def _definition_response(request: HttpRequest, project, definition: EventDefinition) -> HttpResponse:
    return vary_on_htmx(render(request, DEFINITION, _definition_context(project, _as_row(definition))))
