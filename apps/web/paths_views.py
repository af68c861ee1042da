"""The Paths page and its CSV export; the page state (range, type, anchors, depth) lives in the URL."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from apps.ingest.selectors import event_names_by_volume
from apps.projects.selectors import project_get_for_user
from apps.query.dates import date_controls
from apps.query.pages import csv_view, param_error_page
from apps.web.paths import DEPTH_MAX, DEPTH_MIN, PATH_TYPES, TOP_EDGES, paths_page_insight, paths_table
from pulseboard.errors import ParamError
from pulseboard.htmx import page

PARTIAL = "web/partials/paths_body.html"
KEEP = ("path_type", "start", "end", "depth", "gap", "filters", "insight")
COLUMN_PX, NODE_PX, MIN_HEIGHT_PX = 200, 38, 360
TYPE_LABELS = {"pages": "Pages", "events": "Events"}


def _render(request: HttpRequest, context: dict, status: int = 200) -> HttpResponse:
    return page(request, "web/paths.html", PARTIAL, {**context, "partial": PARTIAL, "title": "Paths"}, status=status)


def _sankey_size(data: dict) -> dict:
    """Room for the flows: a column's width per step (scrolled sideways on a phone), and a
    line's height per node of the fullest column."""
    per_column = max((sum(1 for n in data["nodes"] if n["step"] == step["step"]) for step in data["steps"]), default=0)
    return {"sankey_width": COLUMN_PX * len(data["steps"]), "sankey_height": max(MIN_HEIGHT_PX, NODE_PX * per_column)}


@login_required
def paths_page(request: HttpRequest, project_id: int) -> HttpResponse:
    project = project_get_for_user(user=request.user, project_id=project_id)
    try:
        result = paths_page_insight(project, request.GET)
    except ParamError as error:
        return param_error_page(request, project=project, error=error, title="Paths")
    query = request.GET.copy()
    query.pop("insight", None)
    date_range = result["query"].date_range
    return _render(
        request,
        {
            **result,
            "project": project,
            "date_controls": date_controls(params=request.GET, date_range=date_range, intervals=(), keep=KEEP),
            "range_hidden": [(name, request.GET[name]) for name in ("preset", "range", "date_from", "date_to") if request.GET.get(name)],
            "csv_url": reverse("web-paths-csv", kwargs={"project_id": project.id}) + "?" + query.urlencode(),
            "types": [(value, TYPE_LABELS[value]) for value in PATH_TYPES],
            "depths": range(DEPTH_MIN, DEPTH_MAX + 1),
            "top_edges": TOP_EDGES,
            **_sankey_size(result["data"]),
            "event_names": event_names_by_volume(project_id=project.id, limit=200) if result["query"].path_type == "events" else [],
        },
    )


# The page's table of edges as CSV.
paths_csv = csv_view("paths", paths_page_insight, paths_table)
