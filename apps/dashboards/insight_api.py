"""JSON API of saved insights: list, create, read, change, delete, and a saved insight's
results. Authenticated by session or personal API key (Bearer), like the other APIs; a
project the caller is not a member of is a 404, and a viewer may only read (403 on writes).

``query`` is the insight page's GET parameters, ``{name: [values]}`` (a single string value
is taken as a list of one). Creating or changing it runs the kind's parse: a query that does
not make that insight is a 400 naming the field ``query``, with the parse error's message.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.dashboards import insights as service
from apps.dashboards import registry
from apps.dashboards.models import SavedInsight
from apps.projects.selectors import Access, project_get_for_user
from pulseboard.errors import NotFound, ParamError

TAGS = ["saved insights"]
QUERY_HELP = (
    "The insight page's GET parameters, as {name: [values]}: e.g. "
    '{"events": ["$pageview"], "math": ["unique"], "range": ["30d"]} for trends; a funnel insight names its saved '
    'funnel, {"funnel_id": ["3"], "range": ["7d"]}. Opening the insight opens its page with them.'
)


@extend_schema_field({"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}})
class QueryField(serializers.JSONField):
    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        if not isinstance(data, dict):
            raise serializers.ValidationError("must be an object of parameter names to lists of values")
        for name, value in data.items():
            values = value if isinstance(value, list) else [value]
            if not all(isinstance(v, (str, int, float, bool)) for v in values):
                raise serializers.ValidationError(f"{name}: each value must be a string")
        return data


class SavedInsightSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(choices=(), help_text="The insight's type: a key of the insight registry.")
    name = serializers.CharField(max_length=service.NAME_MAX)
    description = serializers.CharField(required=False, allow_blank=True, max_length=service.DESCRIPTION_MAX, default="")
    query = QueryField(required=False, default=dict, help_text=QUERY_HELP)
    created_by = serializers.SerializerMethodField(help_text="The username of who saved it (null once that user is gone).")
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
    last_viewed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    url = serializers.SerializerMethodField(help_text="The insight's page, with its query.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = list(registry.REGISTRY)

    def get_created_by(self, insight: SavedInsight) -> str | None:
        return insight.created_by.get_username() if insight.created_by else None

    def get_url(self, insight: SavedInsight) -> str | None:
        try:
            return registry.insight_type(insight.kind).url(insight.project_id, insight.query)
        except NotFound:  # an unknown kind: no page to open
            return None


ResultsSerializer = inline_serializer(
    "SavedInsightResults",
    {
        "id": serializers.IntegerField(),
        "kind": serializers.CharField(),
        "header": serializers.ListField(child=serializers.CharField()),
        "rows": serializers.ListField(child=serializers.ListField(child=serializers.JSONField())),
    },
)
RANGE_PARAMETERS = [
    OpenApiParameter("range", OpenApiTypes.STR, enum=["24h", "7d", "30d", "90d"], description="Replaces the saved range (like a dashboard's range)."),
    OpenApiParameter("date_from", OpenApiTypes.STR, description="With date_to: a fixed range replacing the saved one."),
    OpenApiParameter("date_to", OpenApiTypes.STR, description="ISO date (inclusive) or date-time."),
    OpenApiParameter("interval", OpenApiTypes.STR, enum=["hour", "day", "week"], description="Replaces the saved interval."),
]


def _get(request, project_id: int, insight_id: int, need: Access = Access.READ) -> SavedInsight:
    project = project_get_for_user(user=request.user, project_id=project_id, need=need)
    return service.insight_get(project=project, insight_id=insight_id)


class InsightListAPI(APIView):
    @extend_schema(
        tags=TAGS,
        summary="List the project's saved insights",
        parameters=[
            OpenApiParameter("search", OpenApiTypes.STR, description="Matches the name or the description."),
            OpenApiParameter("kind", OpenApiTypes.STR, description="Only insights of this type."),
        ],
        responses=SavedInsightSerializer(many=True),
    )
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        insights = service.insights_for_project(
            project=project, search=request.query_params.get("search", ""), kind=request.query_params.get("kind", "")
        )
        return Response(SavedInsightSerializer(insights, many=True).data)

    @extend_schema(tags=TAGS, summary="Save an insight", request=SavedInsightSerializer, responses={201: SavedInsightSerializer})
    def post(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
        serializer = SavedInsightSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        insight = service.insight_create(project=project, created_by=request.user, **serializer.validated_data)
        return Response(SavedInsightSerializer(insight).data, status=201)


class InsightDetailAPI(APIView):
    @extend_schema(tags=TAGS, summary="A saved insight", responses=SavedInsightSerializer)
    def get(self, request, project_id: int, insight_id: int):
        return Response(SavedInsightSerializer(_get(request, project_id, insight_id)).data)

    @extend_schema(
        tags=TAGS,
        summary="Change a saved insight",
        description="Any of name, description and query (a new kind needs its query too). The query is checked as on create.",
        request=SavedInsightSerializer(partial=True),
        responses=SavedInsightSerializer,
    )
    def patch(self, request, project_id: int, insight_id: int):
        insight = _get(request, project_id, insight_id, need=Access.EDIT)
        serializer = SavedInsightSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = {k: v for k, v in serializer.validated_data.items() if k in request.data}
        insight = service.insight_update(insight=insight, **changes)
        return Response(SavedInsightSerializer(insight).data)

    @extend_schema(tags=TAGS, summary="Delete a saved insight (and its dashboard tiles)", responses={204: None})
    def delete(self, request, project_id: int, insight_id: int):
        service.insight_delete(insight=_get(request, project_id, insight_id, need=Access.EDIT))
        return Response(status=204)


class InsightResultsAPI(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Results of a saved insight",
        description=(
            "The insight's table, as its page's CSV export has it: a header and rows. A range given here replaces the "
            "saved one. A saved query that no longer works is a 400 naming `query`."
        ),
        parameters=RANGE_PARAMETERS,
        responses=ResultsSerializer,
    )
    def get(self, request, project_id: int, insight_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        insight = service.insight_get(project=project, insight_id=insight_id)
        override = {k: request.query_params.getlist(k) for k in registry.RANGE_KEYS if request.query_params.get(k)}
        try:
            header, rows = registry.insight_table(project, insight, override=override)
        except ParamError as error:
            if error.field in override:  # this request's own range parameter
                raise
            raise ParamError("query", f"{error.field}: {error.message}") from None
        return Response({"id": insight.id, "kind": insight.kind, "header": header, "rows": [list(row) for row in rows]})
