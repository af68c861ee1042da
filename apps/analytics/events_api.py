"""JSON twin of the Events page: the catalog's names with their figures, and the change of
a name's description or visibility.

A definition is addressed by its ``id`` (in every row of the listing), not by its name: a
name may hold any character, ``/`` and ``%`` included, and may look like a number.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.analytics.api import AXIS_FIELDS, RANGE_PARAMETERS
from apps.analytics.events import (
    HIDDEN_FILTERS,
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    SORTS,
    SPARK_DAYS,
    event_definition_get,
    event_definition_update,
    event_definitions_table,
    event_description_clean,
    events_query_parse,
    row_json,
)
from apps.ingest.models import EVENT_DESCRIPTION_MAX
from apps.projects.selectors import Access, project_get_for_user
from pulseboard.errors import ParamError

TAGS = ["events"]
DEFINITION_FIELDS = {
    "id": serializers.IntegerField(help_text="Addresses the definition in PATCH."),
    "name": serializers.CharField(),
    "description": serializers.CharField(help_text=f"Up to {EVENT_DESCRIPTION_MAX} characters; '' when none."),
    "hidden": serializers.BooleanField(help_text="Left out of the event pickers of insights and funnels; still listed here."),
    "first_seen": serializers.DateTimeField(help_text="Timestamp of the earliest event of this name ever stored (UTC)."),
    "last_seen": serializers.DateTimeField(help_text="Timestamp of the latest one (UTC)."),
}
ROW_FIELDS = {
    **DEFINITION_FIELDS,
    "count": serializers.IntegerField(help_text="Events of this name in the range."),
    "unique_persons": serializers.IntegerField(help_text="Distinct persons (merged ids counted once) who did it in the range."),
    "sparkline": inline_serializer(
        "EventSparkline",
        {
            "dates": serializers.ListField(child=serializers.DateField(), help_text=f"The last {SPARK_DAYS} local days, oldest first, today last."),
            "counts": serializers.ListField(child=serializers.IntegerField(), help_text="Events of each of those days."),
        },
    ),
}
RANGE_FIELDS = {name: AXIS_FIELDS[name] for name in ("timezone", "date_from", "date_to")}


class EventDefinitionsAPI(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Every event name of the project, with its figures",
        parameters=[
            *RANGE_PARAMETERS[:3],
            OpenApiParameter("search", OpenApiTypes.STR, description="Only names containing this text (any case)."),
            OpenApiParameter("sort", OpenApiTypes.STR, description=f"One of {', '.join(SORTS)}; a leading - sorts descending (default -count). Ties by name."),
            OpenApiParameter("hidden", OpenApiTypes.STR, enum=list(HIDDEN_FILTERS), description="include (default), exclude or only the hidden names."),
            OpenApiParameter("page", OpenApiTypes.INT, description="1-based (default 1); a page past the last is empty."),
            OpenApiParameter("page_size", OpenApiTypes.INT, description=f"1 to {MAX_PAGE_SIZE} (default {PAGE_SIZE})."),
        ],
        responses=inline_serializer(
            "EventDefinitions",
            {
                **RANGE_FIELDS,
                "total": serializers.IntegerField(help_text="Names matching search and hidden, over all pages."),
                "page": serializers.IntegerField(),
                "page_size": serializers.IntegerField(),
                "pages": serializers.IntegerField(),
                "results": inline_serializer("EventDefinitionRow", ROW_FIELDS, many=True),
            },
        ),
    )
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        query = events_query_parse(request.query_params, tz_name=project.timezone)
        table = event_definitions_table(project_id=project.id, query=query)
        return Response(
            {
                "timezone": project.timezone,
                "date_from": query.date_range.date_from.isoformat(),
                "date_to": query.date_range.date_to.isoformat(),
                "total": table.total,
                "page": query.page,
                "page_size": query.page_size,
                "pages": table.pages,
                "results": [row_json(row, table.spark_days) for row in table.rows],
            }
        )


def _hidden_clean(value) -> bool:
    if not isinstance(value, bool):
        raise ParamError("hidden", "must be true or false")
    return value


class EventDefinitionAPI(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Describe an event, or hide it from the pickers (members and owners)",
        request=inline_serializer(
            "EventDefinitionChange",
            {
                "description": serializers.CharField(required=False, allow_blank=True, help_text=f"Up to {EVENT_DESCRIPTION_MAX} characters, trimmed."),
                "hidden": serializers.BooleanField(required=False),
            },
        ),
        responses=inline_serializer("EventDefinition", dict(DEFINITION_FIELDS)),  # a copy: DRF pops the fields it is given
    )
    def patch(self, request, project_id: int, definition_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
        definition = event_definition_get(project_id=project.id, definition_id=definition_id)
        body = request.data
        if not isinstance(body, dict):
            raise ParamError("body", "must be a JSON object")
        unknown = sorted(set(body) - {"description", "hidden"})
        if unknown:
            raise ParamError(unknown[0], "unknown field (description, hidden)")
        definition = event_definition_update(
            definition=definition,
            description=event_description_clean(body["description"]) if "description" in body else None,
            hidden=_hidden_clean(body["hidden"]) if "hidden" in body else None,
        )
        return Response({name: getattr(definition, name) for name in DEFINITION_FIELDS})
