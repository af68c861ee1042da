"""The paths insight's JSON: ``GET /api/v1/projects/<id>/insights/paths``."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.projects.selectors import project_get_for_user
from apps.query.openapi import RANGE_PARAMETERS
from apps.web.paths import DEPTH_DEFAULT, DEPTH_MAX, DEPTH_MIN, PATH_TYPES, TOP_EDGES, paths_insight, paths_query_parse

STEP = {"step": serializers.IntegerField(help_text="The column: 1 is the start point, or the first node of the session; with only an end point, the end point is column depth + 1.")}
PATHS_SHAPE = inline_serializer(
    "Paths",
    {
        "timezone": serializers.CharField(),
        "date_from": serializers.DateTimeField(help_text="Start of the range (UTC): sessions whose first event is in it count."),
        "date_to": serializers.DateTimeField(help_text="End of the range, exclusive (UTC)."),
        "path_type": serializers.ChoiceField(choices=PATH_TYPES),
        "start": serializers.CharField(allow_null=True, help_text="The start point as matched (a page is normalised: no query string, fragment or trailing slash)."),
        "end": serializers.CharField(allow_null=True),
        "depth": serializers.IntegerField(help_text="Steps (edges) after the start point, or before the end point."),
        "gap_minutes": serializers.IntegerField(help_text="The gap that cut the sessions without a session id."),
        "totals": inline_serializer("PathTotals", {"sessions": serializers.IntegerField(help_text="Sessions with a path: that reach the start/end point, or with at least one node.")}),
        "steps": inline_serializer("PathStep", {**STEP, "sessions": serializers.IntegerField(help_text="Sessions with a node in this column.")}, many=True),
        "nodes": inline_serializer(
            "PathNode",
            {**STEP, "name": serializers.CharField(help_text="A page path or an event name."), "sessions": serializers.IntegerField(help_text="Sessions at this node in this column.")},
            many=True,
            help_text="The nodes of the edges given, by column, busiest first.",
        ),
        "edges": inline_serializer(
            "PathEdge",
            {
                "step": serializers.IntegerField(help_text="From the node in column step to the node in column step + 1."),
                "source": serializers.CharField(),
                "target": serializers.CharField(),
                "sessions": serializers.IntegerField(help_text="Sessions that went from source to target at this step."),
            },
            many=True,
            help_text=f"The top {TOP_EDGES} edges of each step, by sessions.",
        ),
    },
)


class PathsAPI(APIView):
    @extend_schema(
        summary="Paths: the most common sequences of pages or events in sessions, after a start point or before an end point",
        description=(
            "Within each session (the sessions insight's definition) that starts in the range: its $pageview pages (the path "
            "of page_url, without query string, fragment or trailing slash) or its events (all but $identify, $create_alias, "
            "$set, $groupidentify and $pageleave), in order, the same node twice in a row counted once. With `start`, the path "
            "begins at the session's first occurrence of it; with `end`, it is the steps before the session's first occurrence "
            "of it; with both, it runs from the first start to the first end after it, when that is at most `depth` steps on. "
            f"Each step gives its top {TOP_EDGES} edges by sessions. An unknown parameter or a depth outside "
            f"{DEPTH_MIN}–{DEPTH_MAX} is a 400 naming it."
        ),
        parameters=[
            *RANGE_PARAMETERS,
            OpenApiParameter("path_type", OpenApiTypes.STR, enum=list(PATH_TYPES), description="pages (default): $pageview pages; events: event names."),
            OpenApiParameter("start", OpenApiTypes.STR, description="Start point: a page (e.g. /pricing) or an event name."),
            OpenApiParameter("end", OpenApiTypes.STR, description="End point: a page or an event name."),
            OpenApiParameter("depth", OpenApiTypes.INT, description=f"Steps, {DEPTH_MIN} to {DEPTH_MAX} (default {DEPTH_DEFAULT})."),
            OpenApiParameter("gap", OpenApiTypes.INT, description="Minutes, 1 to 240: overrides the project's session gap."),
            OpenApiParameter("filters", OpenApiTypes.STR, description="JSON list of property filters (as in trends): only matching events make up sessions."),
        ],
        responses=PATHS_SHAPE,
    )
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        query = paths_query_parse(request.query_params, project=project)
        return Response(paths_insight(project_id=project.id, query=query))
