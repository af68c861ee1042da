"""JSON API of the analytics area. Authenticated by session or personal API key (Bearer)."""

from zoneinfo import ZoneInfo

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.analytics.params import ParamError, cursor_decode, date_bound, int_param
from apps.analytics.selectors import events_list
from apps.projects.selectors import project_get_for_user


def param_error_response(error: ParamError) -> Response:
    return Response({"error": "invalid_parameter", "field": error.field, "message": error.message}, status=400)


EVENT_FIELDS = {
    "event_id": serializers.UUIDField(),
    "event": serializers.CharField(),
    "timestamp": serializers.DateTimeField(),
    "distinct_id": serializers.CharField(),
    "user_id": serializers.CharField(),
    "anonymous_id": serializers.CharField(),
    "session_id": serializers.CharField(),
    "source": serializers.CharField(),
    "page_url": serializers.CharField(),
    "referrer": serializers.CharField(),
    "properties": serializers.DictField(),
    "received_at": serializers.DateTimeField(),
}


class EventsAPI(APIView):
    @extend_schema(
        summary="List raw events, newest first",
        parameters=[
            OpenApiParameter("event", OpenApiTypes.STR, description="Only events with this name."),
            OpenApiParameter("distinct_id", OpenApiTypes.STR, description="Only events of this distinct id."),
            OpenApiParameter("date_from", OpenApiTypes.STR, description="ISO date or date-time; dates are days in the project timezone."),
            OpenApiParameter("date_to", OpenApiTypes.STR, description="ISO date (inclusive) or date-time (exclusive)."),
            OpenApiParameter("limit", OpenApiTypes.INT, description="Page size, 1 to 1000 (default 100)."),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="The `next_cursor` of the previous page."),
        ],
        responses=inline_serializer(
            "EventsPage",
            {"results": inline_serializer("Event", EVENT_FIELDS, many=True), "next_cursor": serializers.CharField(allow_null=True), "next": serializers.URLField(allow_null=True)},
        ),
    )
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        tz = ZoneInfo(project.timezone)
        q = request.query_params
        try:
            page = events_list(
                project_id=project.id,
                event=q.get("event", ""),
                distinct_id=q.get("distinct_id", ""),
                date_from=date_bound(q.get("date_from"), field="date_from", tz=tz, end=False),
                date_to=date_bound(q.get("date_to"), field="date_to", tz=tz, end=True),
                cursor=cursor_decode(q["cursor"]) if q.get("cursor") else None,
                limit=int_param(q.get("limit"), field="limit", default=100, low=1, high=1000),
            )
        except ParamError as error:
            return param_error_response(error)
        next_url = None
        if page.next_cursor:
            params = q.copy()
            params["cursor"] = page.next_cursor
            next_url = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        return Response({"results": page.events, "next_cursor": page.next_cursor, "next": next_url})
