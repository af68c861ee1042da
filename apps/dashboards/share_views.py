"""A dashboard shared by a public link: ``/shared/<token>/``, read-only, without a login.

The token is the whole credential, and it opens one dashboard only: its page (the tile
frames, without the sidebar, the project switcher or any link into the project), the
content of its tiles (``/shared/<token>/tiles/<tile_id>/``, checking that the tile belongs
to that dashboard) and their CSV. Nothing else of the project: no other page or API reads a
token. A token that is unknown, malformed or revoked is a 404 page, the same for each.

Every answer carries ``X-Robots-Tag: noindex, nofollow`` (and the page a robots meta tag),
is never cached by a shared cache, and sends no referrer on, so the token does not leak
through a link of a text card. Visitors see the dashboard's saved range (no range of their
own) and cannot force a tile to be computed afresh: they read the cache, like any reload.
"""

from __future__ import annotations

from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from apps.dashboards import dashboards as boards
from apps.dashboards.dashboard_views import tile_csv_response, tile_frames, tile_response
from apps.dashboards.models import Dashboard
from pulseboard.errors import NotFound

ROBOTS = "noindex, nofollow"


def _private(response: HttpResponse) -> HttpResponse:
    response["X-Robots-Tag"] = ROBOTS
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _missing(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboards/shared/missing.html", status=404)


def shared(view):
    """Resolve the token to its dashboard (else the same 404 for every bad token or tile of
    another dashboard) and mark the answer private."""

    @wraps(view)
    def wrapper(request: HttpRequest, token: str, **kwargs) -> HttpResponse:
        dashboard = boards.dashboard_for_share_token(token=token)
        if dashboard is None:
            return _private(_missing(request))
        try:
            return _private(view(request, token, dashboard, **kwargs))
        except NotFound:
            return _private(_missing(request))

    return wrapper


@require_GET
@shared
def shared_dashboard(request: HttpRequest, token: str, dashboard: Dashboard) -> HttpResponse:
    project = dashboard.project
    override = dict(dashboard.date_range or {})
    tiles = boards.tiles_of(dashboard=dashboard)
    frames = tile_frames(
        project=project,
        tiles=tiles,
        tile_url=lambda tile: reverse("shared-tile", kwargs={"token": token, "tile_id": tile.id}),
        csv_url=lambda tile: reverse("shared-tile-csv", kwargs={"token": token, "tile_id": tile.id}),
        open_urls=False,
        range_query="",
        override=override,
        public=True,
    )
    context = {
        "dashboard": dashboard,
        "project_name": project.name,
        "timezone": project.timezone,
        "frames": frames,
        "range_label": boards.date_range_label(override),
        "grid_columns": boards.GRID_COLUMNS,
    }
    return render(request, "dashboards/shared/page.html", context)


@require_GET
@shared
def shared_tile(request: HttpRequest, token: str, dashboard: Dashboard, tile_id: int) -> HttpResponse:
    tile = boards.tile_get(dashboard=dashboard, tile_id=tile_id)
    body_url = reverse("shared-tile", kwargs={"token": token, "tile_id": tile.id})
    override = dict(dashboard.date_range or {})
    return tile_response(request, project=dashboard.project, tile=tile, override=override, body_url=body_url, public=True)


@require_GET
@shared
def shared_tile_csv(request: HttpRequest, token: str, dashboard: Dashboard, tile_id: int) -> HttpResponse:
    tile = boards.tile_get(dashboard=dashboard, tile_id=tile_id)
    return tile_csv_response(project=dashboard.project, tile=tile, override=dict(dashboard.date_range or {}))
