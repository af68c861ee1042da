"""The Sessions page and its CSV export; the page state (range, gap) lives in the URL."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from apps.projects.selectors import project_get_for_user
from apps.query.dates import date_controls
from apps.query.pages import param_error_page
from apps.web.sessions import sessions_page_insight, sessions_table, table_parse
from pulseboard.errors import ParamError
from pulseboard.htmx import page
from pulseboard.http import csv_download, param_error_text

PARTIAL = "web/partials/sessions_body.html"


def _render(request: HttpRequest, context: dict, status: int = 200) -> HttpResponse:
    return page(request, "analytics/page.html", PARTIAL, {**context, "partial": PARTIAL, "title": "Sessions"}, status=status)


@login_required
def sessions_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        result = sessions_page_insight(project, request.GET)
    except ParamError as error:
        return param_error_page(request, project=project, error=error, title="Sessions")
    query = request.GET.copy()
    query.pop("insight", None)
    csv_url = reverse("web-sessions-csv", kwargs={"project_id": project.id}) + "?" + query.urlencode()
    return _render(
        request,
        {
            **result,
            "project": project,
            "date_controls": date_controls(params=request.GET, date_range=result["query"].date_range, keep=("gap", "filters", "insight")),
            "csv_url": csv_url,
            "page_tables": [
                ("Entry pages", result["data"]["entry_pages"], "entry_pages", "First page of the session"),
                ("Exit pages", result["data"]["exit_pages"], "exit_pages", "Last page of the session"),
            ],
            "settings_url": reverse("project-settings", kwargs={"project_id": project.id}),
        },
    )


@login_required
def sessions_csv(request: HttpRequest, project_id: int) -> HttpResponse:
    """A table of the page as CSV: ``table=buckets`` (default), ``entry_pages`` or ``exit_pages``."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    params = request.GET.copy()
    try:
        table = table_parse(params.pop("table", [None])[0])
        header, rows = sessions_table(sessions_page_insight(project, params), table)
    except ParamError as error:
        return param_error_text(error)
    return csv_download(f"sessions-{table}-{project.id}.csv", header, rows)
