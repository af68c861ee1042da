"""JSON API of saved funnels and their results. Authenticated by session or personal API key
(Bearer), like the analytics API; a project the user is not a member of is a 404."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.funnels import selectors, services
from apps.funnels.models import definition_build
from apps.funnels.serializers import FunnelQuerySerializer, FunnelResultsSerializer, FunnelSerializer, funnel_fields
from apps.projects.selectors import Access, project_get_for_user
from apps.query.breakdown import breakdown_type_parse
from apps.query.dates import date_range_resolve

TAGS = ["funnels"]
RANGE_PARAMETERS = [
    OpenApiParameter("range", OpenApiTypes.STR, enum=["24h", "7d", "30d", "90d"], description="A preset ending now (default 30d). Ignored when date_from/date_to are given."),
    OpenApiParameter("date_from", OpenApiTypes.STR, description="ISO date or date-time; a date is the start of that day in the project timezone."),
    OpenApiParameter("date_to", OpenApiTypes.STR, description="ISO date (inclusive) or date-time."),
]


def _funnel_response(funnel, status: int = 200) -> Response:
    funnel = selectors.funnel_get(project=funnel.project, funnel_id=funnel.id)
    return Response(FunnelSerializer(funnel).data, status=status)


class FunnelListAPI(APIView):
    @extend_schema(tags=TAGS, summary="List the project's funnels", responses=FunnelSerializer(many=True))
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        funnels = selectors.funnels_for_project(project=project).prefetch_related("steps")
        return Response(FunnelSerializer(funnels, many=True).data)

    @extend_schema(tags=TAGS, summary="Create a funnel", request=FunnelSerializer, responses={201: FunnelSerializer})
    def post(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
        serializer = FunnelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        funnel = services.funnel_create(project=project, created_by=request.user, **funnel_fields(serializer.validated_data))
        return _funnel_response(funnel, status=201)


class FunnelDetailAPI(APIView):
    @extend_schema(tags=TAGS, summary="A funnel", responses=FunnelSerializer)
    def get(self, request, project_id: int, funnel_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(FunnelSerializer(selectors.funnel_get(project=project, funnel_id=funnel_id)).data)

    @extend_schema(
        tags=TAGS,
        summary="Replace a funnel's whole definition, steps included",
        request=FunnelSerializer,
        responses=FunnelSerializer,
    )
    def put(self, request, project_id: int, funnel_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
        funnel = selectors.funnel_get(project=project, funnel_id=funnel_id)
        serializer = FunnelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        funnel = services.funnel_update(funnel=funnel, **funnel_fields(serializer.validated_data))
        return _funnel_response(funnel)

    @extend_schema(tags=TAGS, summary="Delete a funnel", responses={204: None})
    def delete(self, request, project_id: int, funnel_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
        services.funnel_delete(funnel=selectors.funnel_get(project=project, funnel_id=funnel_id))
        return Response(status=204)


class FunnelResultsAPI(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Results of a saved funnel",
        description=(
            "People who did the first step in the range, and how many of them went on to each next step "
            "within the conversion window. Counts are people, not events."
        ),
        parameters=[
            *RANGE_PARAMETERS,
            OpenApiParameter(
                "breakdown",
                OpenApiTypes.STR,
                description="A property to break down by, instead of the funnel's own breakdown_property; empty for none.",
            ),
            OpenApiParameter(
                "breakdown_type", OpenApiTypes.STR, enum=["event", "person"], description="Whose property, instead of the funnel's own breakdown_type."
            ),
        ],
        responses=FunnelResultsSerializer,
    )
    def get(self, request, project_id: int, funnel_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        funnel = selectors.funnel_get(project=project, funnel_id=funnel_id)
        date_range = date_range_resolve(params=request.query_params, tz_name=project.timezone)
        breakdown = request.query_params.get("breakdown")
        breakdown_type = request.query_params.get("breakdown_type")
        definition = funnel.definition(
            breakdown=breakdown.strip() if breakdown is not None else None,
            breakdown_type=breakdown_type_parse(breakdown_type) if breakdown_type is not None else None,
        )
        return Response(selectors.funnel_results(project=project, definition=definition, date_range=date_range))


class FunnelQueryAPI(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Results of an ad-hoc funnel, without saving it",
        description="The body of a create (the name is optional) plus an optional range or date_from/date_to.",
        request=FunnelQuerySerializer,
        responses=FunnelResultsSerializer,
    )
    def post(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        serializer = FunnelQuerySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        date_range = date_range_resolve(
            params={k: data[k] for k in ("range", "date_from", "date_to") if data.get(k)}, tz_name=project.timezone
        )
        fields = funnel_fields(data)
        definition = definition_build(
            steps=fields["steps"],
            window_value=fields["window_value"],
            window_unit=fields["window_unit"],
            order_mode=fields["order_mode"],
            breakdown_property=fields["breakdown_property"],
            breakdown_type=fields["breakdown_type"],
        )
        return Response(selectors.funnel_results(project=project, definition=definition, date_range=date_range))
