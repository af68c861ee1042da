"""JSON API of dashboards, their tiles and their layout. Authenticated by session or
personal API key (Bearer), like the other APIs: a project the caller is not a member of is
a 404; a viewer reads (403 on writes), members and owners change. A share link's token
opens nothing here.

A dashboard's ``date_range`` is ``{"range": ["7d"]}``, ``{"date_from": ["2026-01-01"],
"date_to": ["2026-01-31"]}`` or ``{}`` (each tile's own range); single strings are taken
too. Tiles sit on a 12-column grid at ``x, y`` and span ``w`` columns and ``h`` rows, never
overlapping: a layout or a place that breaks that is a 400 naming the field
(``tiles.2.w``), and nothing is saved.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.dashboards import dashboards as boards
from apps.dashboards.markdown import MAX_TEXT
from apps.dashboards.models import Dashboard, Tile
from apps.projects.models import Project
from apps.projects.selectors import Access, project_get_for_user
from pulseboard.errors import ParamError

TAGS = ["dashboards"]
RANGE_HELP = (
    'Replaces the range of every insight tile: {"range": ["7d"]} (24h, 7d, 30d or 90d), {"date_from": ["2026-01-01"], '
    '"date_to": ["2026-01-31"]}, or {} for each tile\'s own range.'
)


@extend_schema_field(
    {"type": "object", "properties": {k: {"type": "array", "items": {"type": "string"}} for k in ("range", "date_from", "date_to")}}
)
class DateRangeField(serializers.JSONField):
    pass


class TileSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    kind = serializers.SerializerMethodField(help_text='"insight" or "text".')
    insight = serializers.IntegerField(source="insight_id", allow_null=True, help_text="The saved insight's id (null for a text card).")
    insight_name = serializers.SerializerMethodField()
    insight_kind = serializers.SerializerMethodField(help_text="The saved insight's type (trends, funnel...).")
    text = serializers.CharField(help_text="Markdown of a text card (raw HTML is shown escaped).")
    x = serializers.IntegerField(help_text="Column of the left edge, from 0.")
    y = serializers.IntegerField(help_text="Row of the top edge, from 0.")
    w = serializers.IntegerField(help_text=f"Width in columns, 1 to {boards.GRID_COLUMNS}.")
    h = serializers.IntegerField(help_text=f"Height in rows, 1 to {boards.TILE_MAX_H}.")

    def get_kind(self, tile: Tile) -> str:
        return "insight" if tile.insight_id else "text"

    def get_insight_name(self, tile: Tile) -> str | None:
        return tile.insight.name if tile.insight_id else None

    def get_insight_kind(self, tile: Tile) -> str | None:
        return tile.insight.kind if tile.insight_id else None


class DashboardSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField()
    description = serializers.CharField()
    is_default = serializers.BooleanField(help_text="The project's home dashboard (the overview links to it).")
    date_range = DateRangeField(help_text=RANGE_HELP)
    date_range_label = serializers.SerializerMethodField()
    shared = serializers.SerializerMethodField(help_text="Whether a public read-only link works (the link itself is shown once, on the page).")
    shared_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_date_range_label(self, dashboard: Dashboard) -> str:
        return boards.date_range_label(dashboard.date_range)

    def get_shared(self, dashboard: Dashboard) -> bool:
        return bool(dashboard.share_token_hash)


class DashboardDetailSerializer(DashboardSerializer):
    tiles = serializers.SerializerMethodField()

    @extend_schema_field(TileSerializer(many=True))
    def get_tiles(self, dashboard: Dashboard) -> list[dict]:
        return TileSerializer(boards.tiles_of(dashboard=dashboard), many=True).data


DashboardCreate = inline_serializer(
    "DashboardCreate",
    {"name": serializers.CharField(max_length=boards.NAME_MAX), "description": serializers.CharField(required=False, allow_blank=True)},
)
DashboardChange = inline_serializer(
    "DashboardChange",
    {
        "name": serializers.CharField(required=False, max_length=boards.NAME_MAX),
        "description": serializers.CharField(required=False, allow_blank=True),
        "date_range": DateRangeField(required=False, help_text=RANGE_HELP),
        "is_default": serializers.BooleanField(required=False, help_text="true makes this the home dashboard (false is refused: make another one the home)."),
    },
)
TileCreate = inline_serializer(
    "TileCreate",
    {
        "insight": serializers.IntegerField(required=False, help_text="A saved insight of the project (or text)."),
        "text": serializers.CharField(required=False, max_length=MAX_TEXT, help_text="Markdown of a text card (or insight)."),
        "x": serializers.IntegerField(required=False),
        "y": serializers.IntegerField(required=False),
        "w": serializers.IntegerField(required=False),
        "h": serializers.IntegerField(required=False),
    },
)
TileChange = inline_serializer(
    "TileChange",
    {
        "insight": serializers.IntegerField(required=False, help_text="Another saved insight (an insight tile)."),
        "text": serializers.CharField(required=False, max_length=MAX_TEXT, help_text="New Markdown (a text card)."),
        "x": serializers.IntegerField(required=False),
        "y": serializers.IntegerField(required=False),
        "w": serializers.IntegerField(required=False),
        "h": serializers.IntegerField(required=False),
    },
)
Layout = inline_serializer(
    "Layout",
    {"tiles": inline_serializer("LayoutItem", {k: serializers.IntegerField() for k in ("id", "x", "y", "w", "h")}, many=True)},
)

BOX = ("x", "y", "w", "h")


def _body(request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ParamError("body", "must be a JSON object")
    return request.data


def _dashboard(request, project_id: int, dashboard_id: int, need: Access = Access.READ) -> Dashboard:
    project = project_get_for_user(user=request.user, project_id=project_id, need=need)
    return boards.dashboard_get(project=project, dashboard_id=dashboard_id)


def _detail(dashboard: Dashboard, status: int = 200) -> Response:
    dashboard.refresh_from_db()
    return Response(DashboardDetailSerializer(dashboard).data, status=status)


class DashboardListAPI(APIView):
    @extend_schema(tags=TAGS, summary="List the project's dashboards", responses=DashboardSerializer(many=True))
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        boards.dashboard_default_ensure(project=project)
        return Response(DashboardSerializer(boards.dashboards_for_project(project=project), many=True).data)

    @extend_schema(tags=TAGS, summary="Create a dashboard", request=DashboardCreate, responses={201: DashboardDetailSerializer})
    def post(self, request, project_id: int):
        project: Project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
        body = _body(request)
        dashboard = boards.dashboard_create(
            project=project, name=body.get("name"), description=body.get("description", ""), created_by=request.user
        )
        return _detail(dashboard, status=201)


class DashboardDetailAPI(APIView):
    @extend_schema(tags=TAGS, summary="A dashboard and its tiles", responses=DashboardDetailSerializer)
    def get(self, request, project_id: int, dashboard_id: int):
        return Response(DashboardDetailSerializer(_dashboard(request, project_id, dashboard_id)).data)

    @extend_schema(
        tags=TAGS,
        summary="Change a dashboard",
        description="Any of name, description, date_range ({} or null: each tile's own range) and is_default (true).",
        request=DashboardChange,
        responses=DashboardDetailSerializer,
    )
    def patch(self, request, project_id: int, dashboard_id: int):
        dashboard = _dashboard(request, project_id, dashboard_id, need=Access.EDIT)
        body = _body(request)
        unknown = sorted(set(body) - {"name", "description", "date_range", "is_default"})
        if unknown:
            raise ParamError(unknown[0], "unknown field (name, description, date_range, is_default)")
        if "is_default" in body and body["is_default"] is not True:
            raise ParamError("is_default", "only true: make another dashboard the home to change it")
        changes = {key: body[key] for key in ("name", "description", "date_range") if key in body}
        if "date_range" in changes and changes["date_range"] is None:
            changes["date_range"] = {}
        boards.dashboard_update(dashboard=dashboard, **changes)
        if body.get("is_default") is True:
            boards.dashboard_make_default(dashboard=dashboard)
        return _detail(dashboard)

    @extend_schema(tags=TAGS, summary="Delete a dashboard (not the home one; its saved insights stay)", responses={204: None})
    def delete(self, request, project_id: int, dashboard_id: int):
        boards.dashboard_delete(dashboard=_dashboard(request, project_id, dashboard_id, need=Access.EDIT))
        return Response(status=204)


class TileListAPI(APIView):
    @extend_schema(tags=TAGS, summary="A dashboard's tiles", responses=TileSerializer(many=True))
    def get(self, request, project_id: int, dashboard_id: int):
        dashboard = _dashboard(request, project_id, dashboard_id)
        return Response(TileSerializer(boards.tiles_of(dashboard=dashboard), many=True).data)

    @extend_schema(
        tags=TAGS,
        summary="Add a tile",
        description="A saved insight (insight) or a Markdown text card (text). Without x, y, w and h it goes to the first free place.",
        request=TileCreate,
        responses={201: TileSerializer},
    )
    def post(self, request, project_id: int, dashboard_id: int):
        dashboard = _dashboard(request, project_id, dashboard_id, need=Access.EDIT)
        body = _body(request)
        given = [key for key in BOX if key in body]
        if given and len(given) < 4:
            raise ParamError(next(key for key in BOX if key not in body), "give all of x, y, w and h, or none")
        tile = boards.tile_create(
            dashboard=dashboard, insight=body.get("insight"), text=body.get("text"), box={k: body[k] for k in BOX} if given else None
        )
        return Response(TileSerializer(boards.tile_get(dashboard=dashboard, tile_id=tile.id)).data, status=201)


class TileDetailAPI(APIView):
    def _tile(self, request, project_id, dashboard_id, tile_id, need=Access.READ) -> Tile:
        dashboard = _dashboard(request, project_id, dashboard_id, need=need)
        return boards.tile_get(dashboard=dashboard, tile_id=tile_id)

    @extend_schema(tags=TAGS, summary="A tile", responses=TileSerializer)
    def get(self, request, project_id: int, dashboard_id: int, tile_id: int):
        return Response(TileSerializer(self._tile(request, project_id, dashboard_id, tile_id)).data)

    @extend_schema(
        tags=TAGS,
        summary="Change a tile",
        description="Its place (any of x, y, w, h), its text (a text card) or its saved insight (an insight tile).",
        request=TileChange,
        responses=TileSerializer,
    )
    def patch(self, request, project_id: int, dashboard_id: int, tile_id: int):
        tile = self._tile(request, project_id, dashboard_id, tile_id, need=Access.EDIT)
        body = _body(request)
        unknown = sorted(set(body) - {"text", "insight", *BOX})
        if unknown:
            raise ParamError(unknown[0], "unknown field (text, insight, x, y, w, h)")
        changes: dict[str, Any] = {key: body[key] for key in ("text", "insight") if key in body}
        if any(key in body for key in BOX):
            changes["box"] = {key: body.get(key, getattr(tile, key)) for key in BOX}
        boards.tile_update(tile=tile, **changes)
        return Response(TileSerializer(boards.tile_get(dashboard=tile.dashboard, tile_id=tile.id)).data)

    @extend_schema(tags=TAGS, summary="Remove a tile (its saved insight stays)", responses={204: None})
    def delete(self, request, project_id: int, dashboard_id: int, tile_id: int):
        boards.tile_delete(tile=self._tile(request, project_id, dashboard_id, tile_id, need=Access.EDIT))
        return Response(status=204)


class LayoutAPI(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Move and resize tiles at once",
        description=(
            "Every tile's place, as {id, x, y, w, h} (a tile left out keeps its place). Checked whole first: an id that "
            "is not a tile of this dashboard, a place outside the grid, or two tiles overlapping is a 400 naming the "
            "field (tiles.2.w), and nothing is saved. Answers the dashboard's tiles."
        ),
        request=Layout,
        responses=TileSerializer(many=True),
    )
    def post(self, request, project_id: int, dashboard_id: int):
        dashboard = _dashboard(request, project_id, dashboard_id, need=Access.EDIT)
        body = _body(request)
        if "tiles" not in body:
            raise ParamError("tiles", "required: a list of {id, x, y, w, h}")
        boards.layout_apply(dashboard=dashboard, tiles=body["tiles"])
        return Response(TileSerializer(boards.tiles_of(dashboard=dashboard), many=True).data)
