"""What every insight page shares that is not SQL: the page shown for parameters that cannot
be used, and the CSV twin of a page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse

from apps.projects.selectors import project_get_for_user
from pulseboard.errors import ParamError
from pulseboard.htmx import page
from pulseboard.http import csv_download, param_error_text

PAGE = "analytics/page.html"  # the page shell of every insight (sidebar, title, body)
PARAM_ERROR = "query/partials/param_error.html"


def param_error_page(request: HttpRequest, *, project, error: ParamError, title: str, template: str = PAGE) -> HttpResponse:
    """400: the page (or, on an HTMX swap, its body) naming the parameter at fault."""
    context = {"project": project, "error": error, "title": title, "partial": PARAM_ERROR}
    return page(request, template, PARAM_ERROR, context, status=400)


def csv_view(name: str, insight, table):
    """The CSV twin of an insight page: ``insight(project, params)`` laid out by ``table``
    (header and rows), downloaded as ``<name>-<project id>.csv``; bad parameters are a 400
    naming the field, as text."""

    @login_required
    def view(request: HttpRequest, project_id: int) -> HttpResponse:
        project = project_get_for_user(user=request.user, project_id=project_id)
        try:
            result = insight(project, request.GET)
        except ParamError as error:
            return param_error_text(error)
        return csv_download(f"{name}-{project.id}.csv", *table(result))

    return view
