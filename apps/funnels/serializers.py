"""JSON shapes of the funnels API: a funnel (read and write), an ad-hoc query, and results."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.settings import api_settings

from apps.funnels.engine import MODES, WINDOW_UNITS
from apps.funnels.models import MAX_WINDOW_SECONDS, STEP_COUNT_MESSAGE, Funnel, validate_step_count
from apps.query.dates import PRESETS
from apps.query.filters import KEY_MAX_LENGTH, MAX_FILTERS, OPERATORS, VALUE_MAX_LENGTH, FilterError, property_filter_clean

DATETIME = serializers.DateTimeField()


class FilterSerializer(serializers.Serializer):
    """A property filter, checked by the one rule of :mod:`apps.query.filters` (the fields
    below describe it for the schema)."""

    key = serializers.CharField(max_length=KEY_MAX_LENGTH, help_text="An event property name.")
    operator = serializers.ChoiceField(choices=OPERATORS, default="equals")
    value = serializers.CharField(
        max_length=VALUE_MAX_LENGTH,
        required=False,
        allow_blank=True,
        default="",
        help_text="Text, a number or true/false, compared as text (numbers and booleans as their JSON); not needed by is_set.",
    )

    def to_internal_value(self, data: Any) -> dict[str, str]:
        try:
            return property_filter_clean(data).as_json()
        except FilterError as error:
            raise serializers.ValidationError({error.field or api_settings.NON_FIELD_ERRORS_KEY: [error.message]}) from None


class StepSerializer(serializers.Serializer):
    event = serializers.CharField(max_length=200, help_text="The event name of this step.")
    label = serializers.CharField(max_length=200, required=False, allow_blank=True, default="", help_text="Shown instead of the event name.")
    filters = FilterSerializer(many=True, required=False, default=list, max_length=MAX_FILTERS, help_text="All must hold.")


class WindowSerializer(serializers.Serializer):
    value = serializers.IntegerField(min_value=1, default=14)
    unit = serializers.ChoiceField(choices=list(WINDOW_UNITS), default="days")

    def validate(self, attrs: dict) -> dict:
        if attrs["value"] * WINDOW_UNITS[attrs["unit"]] > MAX_WINDOW_SECONDS:
            raise serializers.ValidationError({"value": "The conversion window can be at most 365 days."})
        return attrs


def _default_window() -> dict[str, Any]:
    return {"value": 14, "unit": "days"}


class FunnelSerializer(serializers.Serializer):
    """A saved funnel. Writing it (POST, PUT) replaces the whole definition, steps included."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    steps = StepSerializer(many=True, help_text=STEP_COUNT_MESSAGE)
    window = WindowSerializer(required=False, default=_default_window, help_text="The conversion window (default 14 days).")
    order_mode = serializers.ChoiceField(
        choices=MODES,
        default="ordered",
        help_text="ordered: steps in this order, other events in between allowed; strict: each step is the "
        "person's very next event; unordered: all steps within the window, in any order.",
    )
    breakdown_property = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default="", help_text="A property to split the results by."
    )
    breakdown_type = serializers.ChoiceField(
        choices=["event", "person"],
        default="event",
        help_text="Whose property breakdown_property names: the first step's event's (event) or the person's current one (person).",
    )
    created_by = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField(read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)

    @extend_schema_field(serializers.CharField(allow_null=True, help_text="Username of the creator."))
    def get_created_by(self, funnel: Funnel) -> str | None:
        return funnel.created_by.get_username() if funnel.created_by else None

    def validate_steps(self, steps: list[dict]) -> list[dict]:
        try:
            validate_step_count(len(steps))
        except DjangoValidationError:
            raise serializers.ValidationError(STEP_COUNT_MESSAGE) from None
        return steps

    def to_representation(self, funnel: Funnel) -> dict[str, Any]:
        return {
            "id": funnel.id,
            "name": funnel.name,
            "description": funnel.description,
            "steps": [{"event": s.event, "label": s.label, "filters": s.filters} for s in funnel.steps.all()],
            "window": {"value": funnel.window_value, "unit": funnel.window_unit},
            "order_mode": funnel.order_mode,
            "breakdown_property": funnel.breakdown_property,
            "breakdown_type": funnel.breakdown_type,
            "created_by": self.get_created_by(funnel),
            "created_at": DATETIME.to_representation(funnel.created_at),
            "updated_at": DATETIME.to_representation(funnel.updated_at),
        }


def funnel_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Validated funnel data as the keyword arguments of the services."""
    return {
        "name": data.get("name", ""),
        "description": data.get("description", ""),
        "steps": [dict(step, filters=[dict(f) for f in step.get("filters", [])]) for step in data["steps"]],
        "window_value": data["window"]["value"],
        "window_unit": data["window"]["unit"],
        "order_mode": data["order_mode"],
        "breakdown_property": data.get("breakdown_property", ""),
        "breakdown_type": data.get("breakdown_type", "event"),
    }


class FunnelQuerySerializer(FunnelSerializer):
    """An ad-hoc funnel: the body of a create, the name optional, plus the date range."""

    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    date_from = serializers.CharField(required=False, allow_blank=True, write_only=True, help_text="ISO date or date-time.")
    date_to = serializers.CharField(required=False, allow_blank=True, write_only=True, help_text="ISO date (inclusive) or date-time.")
    range = serializers.ChoiceField(
        choices=list(PRESETS), required=False, write_only=True, help_text="A preset ending now (default 30d); ignored with dates."
    )


# --- Results (documentation of the response) --------------------------------------------------


class StepResultSerializer(serializers.Serializer):
    step = serializers.IntegerField(help_text="1-based.")
    event = serializers.CharField()
    label = serializers.CharField()
    count = serializers.IntegerField(help_text="People who reached this step.")
    conversion_from_start = serializers.FloatField(help_text="Percent of step 1.")
    conversion_from_previous = serializers.FloatField(help_text="Percent of the previous step.")
    drop_off = serializers.IntegerField(help_text="People lost since the previous step (0 for step 1).")
    avg_time_to_convert = serializers.FloatField(allow_null=True, help_text="Seconds from the previous step; null for step 1.")
    median_time_to_convert = serializers.FloatField(allow_null=True, help_text="Seconds from the previous step; null for step 1.")


class BreakdownValueSerializer(serializers.Serializer):
    value = serializers.CharField(help_text="The property value; '' without it, $other for the rest.")
    label = serializers.CharField()
    steps = StepResultSerializer(many=True)


class FunnelResultsSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=MODES)
    window_seconds = serializers.IntegerField()
    breakdown = serializers.CharField(allow_null=True)
    steps = StepResultSerializer(many=True)
    breakdown_values = BreakdownValueSerializer(many=True, help_text="Empty without a breakdown.")
    date_from = serializers.DateTimeField(help_text="Start of the range, UTC: people entering the funnel from then...")
    date_to = serializers.DateTimeField(help_text="...until this end (exclusive, UTC).")
    timezone = serializers.CharField(help_text="The project's IANA timezone the range was resolved in.")
