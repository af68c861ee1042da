"""The web overview page and its CSV export; the page state (range and filters) lives in the URL."""

from __future__ import annotations


from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse

from apps.projects.selectors import project_get_for_user
from apps.query.dates import date_controls
from apps.query.pages import param_error_page
from apps.web.overview import (
    FILTER_OF,
    FILTERS,
    SESSION_LISTS,
    OverviewQuery,
    TITLES,
    list_parse,
    overview_query_parse,
    value_label,
    web_overview,
    web_overview_list,
    web_session_pages,
)
from pulseboard.errors import ParamError
from pulseboard.htmx import page, vary_on_htmx
from pulseboard.http import csv_download, param_error_text

PARTIAL = "web/partials/overview_body.html"
SESSIONS_PARTIAL = "web/partials/overview_sessions.html"
# The lists as the page lays them out, in pairs of cards, and the heading of their value column.
LAYOUT = (
    ("pages", "referrers"),
    ("entry_pages", "exit_pages"),
    ("utm_sources", "utm_mediums"),
    ("utm_campaigns", "countries"),
    ("browsers", "os"),
    ("devices",),
)
COLUMNS = {
    "pages": "Page",
    "entry_pages": "Entry page",
    "exit_pages": "Exit page",
    "referrers": "Referrer",
    "utm_sources": "Source",
    "utm_mediums": "Medium",
    "utm_campaigns": "Campaign",
    "browsers": "Browser",
    "os": "OS",
    "devices": "Device type",
    "countries": "Country",
}


def _render(request: HttpRequest, partial: str, context: dict, status: int = 200) -> HttpResponse:
    return page(request, "analytics/page.html", partial, {**context, "partial": partial, "title": "Web overview"}, status=status)


def _with(params: QueryDict, **changes: str | None) -> str:
    """``params`` as a query string, with parameters set (or removed, for None)."""
    query = params.copy()
    for key, value in changes.items():
        query.pop(key, None)
        if value is not None:
            query[key] = value
    return query.urlencode()


def _list_card(name: str, rows: list[dict], params: QueryDict, csv_base: str) -> dict:
    param = FILTER_OF.get(name)
    top = max((row["visitors"] for row in rows), default=0)
    return {
        "name": name,
        "title": TITLES[name],
        "column": COLUMNS[name],
        "sessions": name in SESSION_LISTS,
        "csv_url": f"{csv_base}?{_with(params, list=name)}" if rows else None,
        "rows": [
            {
                **row,
                "label": value_label(name, row["value"]),
                "share": 100 * row["visitors"] / top if top else 0,
                "href": "?" + _with(params, **{param: row["value"]}) if param and params.get(param) is None else None,
            }
            for row in rows
        ],
    }


def _state(query: OverviewQuery) -> QueryDict:
    """The page's filters and its range as :meth:`DateRange.query_params` writes it (the
    date controls send a preset or dates, and links must keep whichever is shown)."""
    state = QueryDict(mutable=True)
    state.update(query.date_range.query_params())
    for param, value in query.filters:
        state[param] = value
    return state


@login_required
def web_overview_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        query = overview_query_parse(request.GET, tz_name=project.timezone)
    except ParamError as error:
        return param_error_page(request, project=project, error=error, title="Web overview")
    data = web_overview(project_id=project.id, query=query)
    params = _state(query)
    csv_base = reverse("web-overview-csv", kwargs={"project_id": project.id})
    sections = [[_list_card(name, data["lists"][name], params, csv_base) for name in group] for group in LAYOUT if group != SESSION_LISTS]
    context = {
        "project": project,
        "data": data,
        "has_data": data["totals"]["pageviews"] > 0,
        "sections": sections,
        "chips": [
            {"label": TITLES[FILTERS[param]], "value": value_label(FILTERS[param], value), "remove": "?" + _with(params, **{param: None})}
            for param, value in query.filters
        ],
        "date_controls": date_controls(params=request.GET, date_range=query.date_range, intervals=(), keep=tuple(FILTERS)),
        "api_url": reverse("api-web-overview", kwargs={"project_id": project.id}) + "?" + params.urlencode(),
        "session_titles": [TITLES[name] for name in SESSION_LISTS],
        "sessions_url": reverse("web-overview-sessions", kwargs={"project_id": project.id}) + "?" + params.urlencode(),
    }
    return _render(request, PARTIAL, context)


@login_required
def web_overview_sessions(request: HttpRequest, project_id: int) -> HttpResponse:
    """The entry and exit pages' cards, which the page loads on its own: they sessionize
    the range, and the other lists need not wait for that."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        query = overview_query_parse(request.GET, tz_name=project.timezone)
    except ParamError as error:
        return param_error_text(error)
    pages = web_session_pages(project_id=project.id, gap_minutes=project.session_gap_minutes, query=query)
    params = _state(query)
    csv_base = reverse("web-overview-csv", kwargs={"project_id": project.id})
    lists = [_list_card(name, pages[name], params, csv_base) for name in SESSION_LISTS]
    return vary_on_htmx(render(request, SESSIONS_PARTIAL, {"lists": lists}))


@login_required
def web_overview_csv(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        name = list_parse(request.GET.get("list"))
        query = overview_query_parse(request.GET, tz_name=project.timezone, extra=frozenset({"list"}))
    except ParamError as error:
        return param_error_text(error)
    rows = web_overview_list(project_id=project.id, gap_minutes=project.session_gap_minutes, query=query, name=name)
    if name in SESSION_LISTS:
        header = [TITLES[name], "Visitors", "Sessions", "Pageviews"]
        table = [(row["value"], row["visitors"], row["sessions"], row["pageviews"]) for row in rows]
    else:
        header = [TITLES[name], "Visitors", "Pageviews"]
        table = [(value_label(name, row["value"]), row["visitors"], row["pageviews"]) for row in rows]
    return csv_download(f"web-{name}-{project.id}.csv", header, table)
