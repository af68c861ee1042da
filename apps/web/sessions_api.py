"""The sessions insight's JSON: ``GET /api/v1/projects/<id>/insights/sessions``."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.projects.selectors import project_get_for_user
from apps.query.openapi import AXIS_FIELDS, CARD, RANGE_PARAMETERS
from apps.web.sessions import METRICS, sessions_insight, sessions_query_parse

FIGURES = {
    "sessions": "Sessions that start in the period (or bucket).",
    "mean_duration": "Mean seconds from a session's first event to its last.",
    "median_duration": "Median of the same.",
    "bounce_rate": "Percent of sessions whose only event is a single $pageview or $screen.",
    "pageviews_per_session": "$pageview events per session.",
}
PAGE_ROW = inline_serializer(
    "SessionPage",
    {"page_url": serializers.CharField(), "sessions": serializers.IntegerField(help_text="Sessions that begin (entry) or end (exit) here.")},
    many=True,
)
SESSIONS_SHAPE = inline_serializer(
    "Sessions",
    {
        **AXIS_FIELDS,
        "gap_minutes": serializers.IntegerField(help_text="The gap that cut the sessions without a session id."),
        "cards": inline_serializer("SessionCards", {metric: CARD for metric in METRICS}),
        "series": inline_serializer(
            "SessionSeries",
            {metric: serializers.ListField(child=serializers.FloatField(), help_text=f"Per bucket: {FIGURES[metric]}") for metric in METRICS},
        ),
        "entry_pages": PAGE_ROW,
        "exit_pages": PAGE_ROW,
    },
)


class SessionsAPI(APIView):
    @extend_schema(
        summary="Sessions: count, duration, bounce rate, pageviews per session, entry and exit pages",
        description=(
            "A session is its session_id when the event has one; events without one are grouped per person, and a new "
            "session starts after more than `gap` minutes without events. A session counts in the bucket of its first event. "
            + " ".join(f"{metric}: {text}" for metric, text in FIGURES.items())
        ),
        parameters=[
            *RANGE_PARAMETERS,
            OpenApiParameter("gap", OpenApiTypes.INT, description="Minutes, 1 to 240: overrides the project's session gap (default: the project setting, 30)."),
            OpenApiParameter("filters", OpenApiTypes.STR, description='JSON list of property filters (as in trends): only matching events make up sessions.'),
        ],
        responses=SESSIONS_SHAPE,
    )
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        query = sessions_query_parse(request.query_params, project=project)
        return Response(sessions_insight(project_id=project.id, query=query))
