"""What every insight page shares that is not SQL: the page shown for parameters that cannot
be used."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from pulseboard.errors import ParamError
from pulseboard.htmx import page

PAGE = "analytics/page.html"  # the page shell of every insight (sidebar, title, body)
PARAM_ERROR = "query/partials/param_error.html"


def param_error_page(request: HttpRequest, *, project, error: ParamError, title: str, template: str = PAGE) -> HttpResponse:
    """400: the page (or, on an HTMX swap, its body) naming the parameter at fault."""
    context = {"project": project, "error": error, "title": title, "partial": PARAM_ERROR}
    return page(request, template, PARAM_ERROR, context, status=400)
