"""The web overview's JSON twin: ``GET /api/v1/projects/<id>/insights/web``."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.projects.selectors import project_get_for_user
from apps.web.overview import LISTS, SESSION_LISTS, overview_query_parse, sessions_flag, web_overview, web_session_pages

ROW = inline_serializer(
    "WebListRow",
    {
        "value": serializers.CharField(help_text="The value, as its filter takes it: '' is unknown, $direct a visit without referrer."),
        "visitors": serializers.IntegerField(help_text="Distinct persons with a pageview of this value (merged ids counted once)."),
        "pageviews": serializers.IntegerField(help_text="$pageview events of this value."),
    },
    many=True,
)

SESSION_ROW = inline_serializer(
    "WebSessionPageRow",
    {
        "value": serializers.CharField(help_text="The path of the first (entry) or last (exit) pageview of a session."),
        "visitors": serializers.IntegerField(help_text="Distinct persons of those sessions."),
        "sessions": serializers.IntegerField(help_text="Sessions that began (entry) or ended (exit) on this path."),
        "pageviews": serializers.IntegerField(help_text="$pageview events of those sessions."),
    },
    many=True,
    allow_null=True,
)

FILTER_PARAMETERS = [
    OpenApiParameter("page", OpenApiTypes.STR, description="Only pageviews of this path (as in `pages`), e.g. /pricing."),
    OpenApiParameter("referrer", OpenApiTypes.STR, description="Only pageviews from this referrer domain, or $direct."),
    OpenApiParameter("utm_source", OpenApiTypes.STR, description="Only pageviews whose page_url has this utm_source."),
    OpenApiParameter("utm_medium", OpenApiTypes.STR, description="Only pageviews whose page_url has this utm_medium."),
    OpenApiParameter("utm_campaign", OpenApiTypes.STR, description="Only pageviews whose page_url has this utm_campaign."),
    OpenApiParameter("browser", OpenApiTypes.STR, description="Only pageviews of this browser ('' for unknown)."),
    OpenApiParameter("os", OpenApiTypes.STR, description="Only pageviews of this operating system ('' for unknown)."),
    OpenApiParameter("device_type", OpenApiTypes.STR, enum=["Desktop", "Mobile", "Tablet", "Bot", ""], description="Only pageviews of this device type."),
    OpenApiParameter("country", OpenApiTypes.STR, description="Only pageviews from this ISO 3166-1 country code ('' for unknown)."),
]
RANGE_PARAMETERS = [
    OpenApiParameter("range", OpenApiTypes.STR, enum=["24h", "7d", "30d", "90d"], description="A preset ending now (default 30d). Ignored when date_from/date_to are given."),
    OpenApiParameter("date_from", OpenApiTypes.STR, description="ISO date or date-time, in the project timezone."),
    OpenApiParameter("date_to", OpenApiTypes.STR, description="ISO date (inclusive) or date-time."),
]

WEB_OVERVIEW_SHAPE = inline_serializer(
    "WebOverview",
    {
        "timezone": serializers.CharField(),
        "date_from": serializers.DateTimeField(help_text="Start of the range (UTC)."),
        "date_to": serializers.DateTimeField(help_text="End of the range, exclusive (UTC)."),
        "filters": inline_serializer("WebFilter", {"key": serializers.CharField(), "value": serializers.CharField()}, many=True),
        "totals": inline_serializer(
            "WebTotals",
            {"visitors": serializers.IntegerField(help_text="Distinct persons with a pageview."), "pageviews": serializers.IntegerField()},
        ),
        "lists": inline_serializer(
            "WebLists",
            {
                **{name: ROW for name in LISTS},
                **{name: SESSION_ROW for name in SESSION_LISTS},  # null with sessions=false
            },
            help_text="The top 10 of each list, most visitors first. Entry and exit pages come from the sessions that start in the range.",
        ),
    },
)


class WebOverviewAPI(APIView):
    @extend_schema(
        summary="Web overview: top pages, referrers, UTM parameters, browsers, OS, devices and countries of $pageview events",
        description=(
            "Each list counts visitors (persons) and pageviews per value; the filters (AND-ed) narrow every list and the totals. "
            "An unknown parameter or a bad filter value is a 400 naming it."
        ),
        parameters=[
            *RANGE_PARAMETERS,
            *FILTER_PARAMETERS,
            OpenApiParameter(
                "sessions", OpenApiTypes.BOOL,
                description="false leaves out entry_pages and exit_pages (null): they sessionize every event of the range, several times the cost of the other lists.",
            ),
        ],
        responses=WEB_OVERVIEW_SHAPE,
    )
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        query = overview_query_parse(request.query_params, tz_name=project.timezone, extra=frozenset({"sessions"}))
        data = web_overview(project_id=project.id, query=query)
        pages = None
        if sessions_flag(request.query_params.get("sessions")):
            pages = web_session_pages(project_id=project.id, gap_minutes=project.session_gap_minutes, query=query)
        data["lists"].update(pages or {name: None for name in SESSION_LISTS})
        return Response(data)
