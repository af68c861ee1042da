"""JSON API of the tracking plan: read it (with its violations) and replace it.

``GET /api/v1/projects/<id>/tracking-plan`` (any member) and ``PUT`` (members and owners),
authenticated by session or personal API key like the rest of the API. The rules live in
:mod:`apps.ingest.plan`; bad input is a 400 naming the field (``mode``,
``events.2.name``, ``events.0.properties.1.type``).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.ingest.models import PlanViolation, TrackingPlan
from apps.ingest.plan import (
    PLAN_MAX_EVENTS,
    PLAN_MAX_PROPERTIES,
    PROPERTY_TYPES,
    plan_violations_for_project,
    tracking_plan_get,
    tracking_plan_update,
)
from apps.projects.selectors import Access, project_get_for_user
from pulseboard.errors import ParamError

TAGS = ["tracking plan"]


class PlanPropertySerializer(serializers.Serializer):
    name = serializers.CharField(help_text="A property the event must carry.")
    type = serializers.ChoiceField(choices=PROPERTY_TYPES, help_text="string, number (not a numeric string, not a boolean) or boolean.")


class PlanEventSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="An accepted event name; each listed once.")
    description = serializers.CharField(required=False, allow_blank=True, help_text="What the event means, for the team.")
    properties = PlanPropertySerializer(many=True, required=False, help_text=f"Required properties, at most {PLAN_MAX_PROPERTIES}.")


class PlanViolationSerializer(serializers.Serializer):
    event = serializers.CharField()
    property = serializers.CharField(help_text="Empty for an unknown event.")
    kind = serializers.ChoiceField(choices=PlanViolation.Kind.values)
    count = serializers.IntegerField(help_text="Accepted events that broke the plan this way (observe mode).")
    last_seen = serializers.DateTimeField()


class TrackingPlanSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(
        choices=TrackingPlan.Mode.values,
        help_text="off: nothing is checked. observe: events outside the plan are accepted and counted. "
        "enforce: they are refused with a per-event error naming the field.",
    )
    allow_dollar_events = serializers.BooleanField(
        required=False, default=True, help_text="Accept every $-prefixed event of the client libraries ($pageview, $identify...)."
    )
    events = PlanEventSerializer(many=True, required=False, help_text=f"The accepted event names, at most {PLAN_MAX_EVENTS}.")
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)
    updated_by = serializers.CharField(read_only=True, allow_null=True)
    violations = PlanViolationSerializer(many=True, read_only=True, help_text="Counted in observe mode, the most recent first.")


def _answer(plan: TrackingPlan) -> dict:
    violations = plan_violations_for_project(project_id=plan.project_id)
    return {
        "mode": plan.mode,
        "allow_dollar_events": plan.allow_dollar_events,
        "events": [{"name": e["name"], "description": e.get("description", ""), "properties": e.get("properties", [])} for e in plan.events],
        "updated_at": serializers.DateTimeField().to_representation(plan.updated_at) if plan.updated_at else None,
        "updated_by": plan.updated_by.get_username() if plan.updated_by_id else None,
        "violations": [
            {"event": v.event, "property": v.property, "kind": v.kind, "count": v.count, "last_seen": serializers.DateTimeField().to_representation(v.last_seen)}
            for v in violations
        ],
    }


EXAMPLE = OpenApiExample(
    "A plan in enforce mode",
    request_only=True,
    value={
        "mode": "enforce",
        "allow_dollar_events": True,
        "events": [
            {"name": "signup", "properties": [{"name": "plan", "type": "string"}]},
            {"name": "purchase", "properties": [{"name": "amount", "type": "number"}, {"name": "trial", "type": "boolean"}]},
        ],
    },
)


class TrackingPlanAPI(APIView):
    @extend_schema(tags=TAGS, summary="The project's tracking plan and its violations", responses=TrackingPlanSerializer)
    def get(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id)
        return Response(_answer(tracking_plan_get(project=project)))

    @extend_schema(
        tags=TAGS,
        summary="Replace the project's tracking plan (members and owners)",
        description="The whole plan: events left out are no longer in it. It applies to ingest at once "
        "on this server and within 10 seconds on the others.",
        request=TrackingPlanSerializer,
        responses=TrackingPlanSerializer,
        examples=[EXAMPLE],
    )
    def put(self, request, project_id: int):
        project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
        data = request.data
        if not isinstance(data, dict):
            raise ParamError("body", "must be a JSON object: {\"mode\", \"allow_dollar_events\", \"events\"}")
        unknown = sorted(set(data) - {"mode", "allow_dollar_events", "events", "updated_at", "updated_by", "violations"})
        if unknown:
            raise ParamError(unknown[0], "unknown field")
        if "mode" not in data:
            raise ParamError("mode", "is required: off, observe or enforce")
        plan = tracking_plan_update(
            project=project,
            user=request.user,
            mode=data.get("mode"),
            allow_dollar_events=data.get("allow_dollar_events", True),
            events=data.get("events", []),
        )
        return Response(_answer(plan))
