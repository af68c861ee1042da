"""JSON API of the analytics area. Authenticated by session or personal API key (Bearer)."""

from zoneinfo import ZoneInfo

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.analytics import selectors
from apps.analytics.engagement import lifecycle, stickiness
from apps.analytics.params import MAX_SERIES, cursor_decode, int_param, series_parse, trend_series_check
from apps.analytics.retention import ANY_EVENT, CELL_LIMIT, retention, retention_cell_parse, retention_cell_persons, retention_query_parse
from apps.analytics.selectors import EventFilters, events_list
from apps.persons.api import PERSON_FIELDS
from apps.persons.selectors import persons_of_keys
from apps.projects.selectors import project_get_for_user
from apps.query.breakdown import breakdown_type_parse
from apps.query.dates import date_bound, date_range_resolve
from apps.query.filters import property_filters_parse
from apps.query.openapi import AXIS_FIELDS, CARD, RANGE_PARAMETERS
from pulseboard.errors import ParamError


# A stored event as the read API returns it (what a client may send is ingest's EVENT_FIELDS).
STORED_EVENT_FIELDS = {
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
            {"results": inline_serializer("Event", STORED_EVENT_FIELDS, many=True), "next_cursor": serializers.CharField(allow_null=True), "next": serializers.URLField(allow_null=True)},
        ),
    )
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        tz = ZoneInfo(project.timezone)
        q = request.query_params
        filters = EventFilters(
            event=q.get("event", ""),
            distinct_id=q.get("distinct_id", ""),
            date_from=date_bound(q.get("date_from"), field="date_from", tz=tz, end=False),
            date_to=date_bound(q.get("date_to"), field="date_to", tz=tz, end=True),
        )
        page = events_list(
            project_id=project.id,
            filters=filters,
            cursor=cursor_decode(q["cursor"]) if q.get("cursor") else None,
            limit=int_param(q.get("limit"), field="limit", default=100, low=1, high=1000),
        )
        next_url = None
        if page.next_cursor:
            params = q.copy()
            params["cursor"] = page.next_cursor
            next_url = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        return Response({"results": page.events, "next_cursor": page.next_cursor, "next": next_url})


# --- Insights ---------------------------------------------------------------------------------

INT_LIST = serializers.ListField(child=serializers.IntegerField())
ACTIVE_USERS_SHAPE = inline_serializer(
    "ActiveUsers",
    {
        **AXIS_FIELDS,
        "dau": serializers.ListField(child=serializers.IntegerField(), help_text="Distinct users in each bucket."),
        "wau": serializers.ListField(child=serializers.IntegerField(), help_text="Distinct users in the 7 days ending on each bucket's last day."),
        "mau": serializers.ListField(child=serializers.IntegerField(), help_text="Distinct users in the 30 days ending on each bucket's last day."),
    },
)
TOP_EVENT_FIELDS = {"event": serializers.CharField(), "count": serializers.IntegerField(), "users": serializers.IntegerField()}


class InsightAPI(APIView):
    """Shared parsing: the member's project, then the date range in its timezone."""

    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        date_range = date_range_resolve(params=request.query_params, tz_name=project.timezone)
        return Response(self.compute(project, date_range, request.query_params))

    def compute(self, project, date_range, params) -> dict:
        raise NotImplementedError


class ActiveUsersAPI(InsightAPI):
    @extend_schema(summary="DAU, WAU and MAU", parameters=RANGE_PARAMETERS, responses=ACTIVE_USERS_SHAPE)
    def get(self, request, project_id: int):
        return super().get(request, project_id)

    def compute(self, project, date_range, params):
        if date_range.interval == "hour":
            raise ParamError("interval", "active users are daily figures: use day or week")
        return selectors.active_users(project_id=project.id, date_range=date_range)


class TrendsAPI(InsightAPI):
    @extend_schema(
        summary="Trends of one or more events",
        parameters=[
            OpenApiParameter("events", OpenApiTypes.STR, required=True, description="Comma-separated event names, one series each."),
            OpenApiParameter(
                "math",
                OpenApiTypes.STR,
                description="total (events), unique (users), wau or mau; or sum, avg, min, max, p50, p90, p95, p99 of the numeric event property "
                "`math_property`. One for all series or comma-separated per series.",
            ),
            OpenApiParameter(
                "math_property",
                OpenApiTypes.STR,
                description="The numeric event property of the series whose math is sum, avg, min, max or a percentile: one for all of them, or "
                "comma-separated per series (empty for the series that count, e.g. `math=total,avg&math_property=,duration_ms`). "
                "Events where it is missing or not a number (a JSON number, or a string such as \"12.5\") are left out.",
            ),
            OpenApiParameter("breakdown", OpenApiTypes.STR, description="A property name: one line per value, top 10 values, the rest as $other (total, unique and property maths)."),
            OpenApiParameter("breakdown_type", OpenApiTypes.STR, enum=["event", "person"], description="Whose property `breakdown` names: the event's (default) or its person's (current person properties)."),
            OpenApiParameter("filters", OpenApiTypes.STR, description='JSON list of {"key", "operator": equals|not_equals|contains|is_set, "value", "type": event|person}, all must hold; type person filters on the current person properties (default event).'),
            *RANGE_PARAMETERS,
        ],
        responses=inline_serializer(
            "Trends",
            {
                **AXIS_FIELDS,
                "breakdown": serializers.CharField(allow_null=True),
                "breakdown_type": serializers.CharField(allow_null=True, help_text="event or person; null without a breakdown."),
                "series": inline_serializer(
                    "TrendSeries",
                    {
                        "label": serializers.CharField(),
                        "event": serializers.CharField(),
                        "math": serializers.CharField(),
                        "math_property": serializers.CharField(allow_null=True, help_text="The property a property math aggregates; null for the maths that count."),
                        "breakdown_value": serializers.CharField(allow_null=True, help_text="'' for events without the property, $other for the rest."),
                        "data": serializers.ListField(
                            child=serializers.FloatField(allow_null=True),
                            help_text="One value per bucket: integers for the maths that count; for a property math the bucket's figure, "
                            "null when no event of the bucket had the property as a number (0 for sum).",
                        ),
                        "total": serializers.FloatField(
                            allow_null=True,
                            help_text="total math: the sum of data; a property math: the math over the whole range (null when no event had the "
                            "property; 0 for sum); else null.",
                        ),
                        "property_events": serializers.ListField(
                            child=serializers.IntegerField(),
                            allow_null=True,
                            help_text="Property maths: per bucket, the events whose property was a number (the others are left out); else null.",
                        ),
                        "property_events_total": serializers.IntegerField(
                            allow_null=True, help_text="Property maths: the events of the range whose property was a number; else null."
                        ),
                    },
                    many=True,
                ),
            },
        ),
    )
    def get(self, request, project_id: int):
        return super().get(request, project_id)

    def compute(self, project, date_range, params):
        series = series_parse(params.get("events"), params.get("math"), params.get("math_property"))
        breakdown = params.get("breakdown") or None
        breakdown_type = breakdown_type_parse(params.get("breakdown_type"))
        trend_series_check(series=series, date_range=date_range, breakdown=breakdown)
        filters = property_filters_parse(params.get("filters"))
        return selectors.trends(
            project_id=project.id, date_range=date_range, series=series, breakdown=breakdown, breakdown_type=breakdown_type, filters=filters
        )


class TopEventsAPI(InsightAPI):
    @extend_schema(
        summary="The most frequent events",
        parameters=[*RANGE_PARAMETERS, OpenApiParameter("limit", OpenApiTypes.INT, description="1 to 100 (default 10).")],
        responses=inline_serializer("TopEvents", {**AXIS_FIELDS, "results": inline_serializer("TopEvent", TOP_EVENT_FIELDS, many=True)}),
    )
    def get(self, request, project_id: int):
        return super().get(request, project_id)

    def compute(self, project, date_range, params):
        limit = int_param(params.get("limit"), field="limit", default=10, low=1, high=100)
        results = selectors.top_events(project_id=project.id, date_range=date_range, limit=limit)
        return {**selectors.axis(date_range), "results": results}


class OverviewAPI(InsightAPI):
    @extend_schema(
        summary="Overview: cards, active users, events over time, top events",
        parameters=RANGE_PARAMETERS,
        responses=inline_serializer(
            "Overview",
            {
                **AXIS_FIELDS,
                "cards": inline_serializer(
                    "Cards",
                    {"events": CARD, "users": CARD, "sessions": CARD, "events_per_user": CARD},
                    help_text="sessions: distinct session ids with an event in the period (the sessions insight counts sessions by their first event, ids or not).",
                ),
                "active_users": ACTIVE_USERS_SHAPE,
                "events_over_time": inline_serializer("EventsOverTime", {**AXIS_FIELDS, "data": INT_LIST}),
                "top_events": inline_serializer("OverviewTopEvent", TOP_EVENT_FIELDS, many=True),
            },
        ),
    )
    def get(self, request, project_id: int):
        return super().get(request, project_id)

    def compute(self, project, date_range, params):
        return selectors.overview(project_id=project.id, date_range=date_range)


class RetentionAPI(APIView):
    @extend_schema(
        summary="Retention: of the persons who did the start event in a period, how many came back",
        parameters=[
            OpenApiParameter("start_event", OpenApiTypes.STR, required=True, description="The event that puts a person in a cohort; $any_event for any event."),
            OpenApiParameter("return_event", OpenApiTypes.STR, description="The event that counts as coming back (default: the start event); $any_event for any event."),
            OpenApiParameter("period", OpenApiTypes.STR, enum=["day", "week", "month"], description="Cohort and return periods, in the project timezone; weeks start on Monday (default week)."),
            OpenApiParameter("periods", OpenApiTypes.INT, description="Values per cohort, 1 to 30 (default 8): the cohort's own period and the ones after it."),
            OpenApiParameter("retention_type", OpenApiTypes.STR, enum=["recurring", "first_time"], description="recurring: a cohort is everyone with a start event in its period; first_time: everyone whose first start event ever is in it (default recurring)."),
            OpenApiParameter("range", OpenApiTypes.STR, enum=["7d", "30d", "90d"], description="A preset ending today: the cohorts are the periods its days touch."),
            OpenApiParameter("date_from", OpenApiTypes.STR, description="ISO date: the cohorts are the periods from the one holding date_from (default: the last `periods` periods)."),
            OpenApiParameter("date_to", OpenApiTypes.STR, description="ISO date (inclusive): the last cohort is the period holding it."),
            OpenApiParameter("filters", OpenApiTypes.STR, description="JSON property filters that both events must meet (as in trends)."),
            OpenApiParameter("start_filters", OpenApiTypes.STR, description="JSON property filters of the start event only."),
            OpenApiParameter("return_filters", OpenApiTypes.STR, description="JSON property filters of the return event only."),
        ],
        responses=inline_serializer(
            "Retention",
            {
                "period": serializers.CharField(),
                "periods": serializers.IntegerField(),
                "retention_type": serializers.CharField(),
                "start_event": serializers.CharField(),
                "return_event": serializers.CharField(),
                "timezone": serializers.CharField(),
                "date_from": serializers.DateTimeField(help_text="Start of the first cohort's period (UTC)."),
                "date_to": serializers.DateTimeField(help_text="End of the last cohort's period, exclusive (UTC)."),
                "buckets": serializers.ListField(child=serializers.CharField(), help_text="The first local day of each cohort's period."),
                "cohorts": inline_serializer(
                    "RetentionCohort",
                    {
                        "date": serializers.DateField(help_text="The first local day of the cohort's period."),
                        "size": serializers.IntegerField(help_text="Persons in the cohort."),
                        "values": INT_LIST,
                        "complete": serializers.ListField(child=serializers.BooleanField(), help_text="Whether each value's period has ended."),
                    },
                    many=True,
                ),
            },
        ),
    )
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        query = retention_query_parse(request.query_params, tz_name=project.timezone)
        return Response(retention(project_id=project.id, query=query))


def _event_names_parse(value: str | None) -> list[str]:
    names = list(dict.fromkeys(name.strip() for name in (value or "").split(",") if name.strip()))
    if not names:
        raise ParamError("events", "name at least one event, e.g. events=$pageview,signed_up")
    if len(names) > MAX_SERIES:
        raise ParamError("events", f"at most {MAX_SERIES} events")
    return names


DAY_RANGE_PARAMETERS = [
    *RANGE_PARAMETERS[:3],
    OpenApiParameter("interval", OpenApiTypes.STR, enum=["day", "week"], description="Day (default) or week buckets; weeks start on Monday."),
]


class StickinessAPI(InsightAPI):
    @extend_schema(
        summary="Stickiness: how many persons did each event on exactly 1, 2, … N days (or weeks) of the range",
        parameters=[OpenApiParameter("events", OpenApiTypes.STR, required=True, description="Comma-separated event names, one series each."), *DAY_RANGE_PARAMETERS],
        responses=inline_serializer(
            "Stickiness",
            {
                **AXIS_FIELDS,
                "lengths": INT_LIST,
                "labels": serializers.ListField(child=serializers.CharField(), help_text="1 day, 2 days, … (or weeks)."),
                "series": inline_serializer(
                    "StickinessSeries",
                    {"event": serializers.CharField(), "label": serializers.CharField(), "data": INT_LIST},
                    many=True,
                ),
            },
        ),
    )
    def get(self, request, project_id: int):
        return super().get(request, project_id)

    def compute(self, project, date_range, params):
        return stickiness(project_id=project.id, date_range=date_range, events=_event_names_parse(params.get("events")))


class LifecycleAPI(InsightAPI):
    @extend_schema(
        summary="Lifecycle: each bucket's persons as new, returning, resurrecting and dormant",
        parameters=[OpenApiParameter("event", OpenApiTypes.STR, required=True, description="An event name, or $any_event for any event."), *DAY_RANGE_PARAMETERS],
        responses=inline_serializer(
            "Lifecycle",
            {
                **AXIS_FIELDS,
                "event": serializers.CharField(),
                "new": serializers.ListField(child=serializers.IntegerField(), help_text="Persons whose first such event ever is in the bucket."),
                "returning": serializers.ListField(child=serializers.IntegerField(), help_text="Active in the bucket and the one before."),
                "resurrecting": serializers.ListField(child=serializers.IntegerField(), help_text="Active in the bucket, not in the one before, but earlier."),
                "dormant": serializers.ListField(child=serializers.IntegerField(), help_text="Active in the bucket before, not in this one: a negative count."),
            },
        ),
    )
    def get(self, request, project_id: int):
        return super().get(request, project_id)

    def compute(self, project, date_range, params):
        event = (params.get("event") or "").strip()
        if not event:
            raise ParamError("event", f"name an event, or {ANY_EVENT} for any event")
        return lifecycle(project_id=project.id, date_range=date_range, event=event)


class RetentionPersonsAPI(APIView):
    @extend_schema(
        summary="The persons of one cell of a retention table",
        parameters=[
            OpenApiParameter("cohort", OpenApiTypes.DATE, required=True, description="The `date` of the cohort, as the retention answer gives it."),
            OpenApiParameter("index", OpenApiTypes.INT, description="The period after the cohort's own (0: the cohort itself, default)."),
            OpenApiParameter("returned", OpenApiTypes.BOOL, description="true: those who came back in that period (default); false: those who did not."),
            OpenApiParameter("start_event", OpenApiTypes.STR, required=True, description="And every other parameter of the retention query the cell is from."),
        ],
        responses=inline_serializer(
            "RetentionPersons",
            {
                "cohort": serializers.DateField(),
                "index": serializers.IntegerField(),
                "returned": serializers.BooleanField(),
                "limit": serializers.IntegerField(help_text="At most this many persons are listed."),
                "results": inline_serializer("RetentionPerson", PERSON_FIELDS, many=True),
            },
        ),
    )
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        query = retention_query_parse(request.query_params, tz_name=project.timezone)
        cohort, index, returned = retention_cell_parse(request.query_params)
        keys = retention_cell_persons(project_id=project.id, query=query, cohort=cohort, index=index, returned=returned)
        persons = persons_of_keys(project_id=project.id, persons=keys)
        return Response({"cohort": cohort, "index": index, "returned": returned, "limit": CELL_LIMIT, "results": [p.as_json() for p in persons]})
