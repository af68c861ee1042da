"""Saved funnels: a named, ordered list of steps and how to count them.

The configuration lives here (Postgres); the counting is :mod:`apps.funnels.engine`
(ClickHouse). :meth:`Funnel.definition` turns one into the other.
"""

from __future__ import annotations

from typing import Any, Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.funnels.engine import MAX_STEPS, MIN_STEPS, MODES, WINDOW_UNITS, FunnelDefinition, Step
from apps.projects.models import Project
from apps.query.filters import FilterError, PropertyFilter, property_filters_clean

# The longest conversion window: a year, in any unit.
MAX_WINDOW_SECONDS = 365 * 86400
STEP_COUNT_MESSAGE = f"A funnel needs between {MIN_STEPS} and {MAX_STEPS} steps."


def filters_clean(value: Any) -> list[dict[str, str]]:
    """A step's property filters as stored, ``[{"key", "operator", "value"}]``: checked and
    normalised by the one rule of :mod:`apps.query.filters`; a bad one is a ValidationError."""
    try:
        return [f.as_json() for f in property_filters_clean(value)]
    except FilterError as error:
        raise ValidationError(str(error)) from None


def validate_filters(value: Any) -> None:
    filters_clean(value)


def validate_step_count(count: int) -> None:
    if not MIN_STEPS <= count <= MAX_STEPS:
        raise ValidationError(STEP_COUNT_MESSAGE, code="step_count")


def validate_window(*, value: int, unit: str) -> None:
    if unit not in WINDOW_UNITS:
        raise ValidationError({"window_unit": f"Choose one of {', '.join(WINDOW_UNITS)}."})
    if value is not None and value * WINDOW_UNITS[unit] > MAX_WINDOW_SECONDS:
        raise ValidationError({"window_value": "The conversion window can be at most 365 days."})


def definition_build(
    *,
    steps: Iterable[dict[str, Any]],
    window_value: int,
    window_unit: str,
    order_mode: str,
    breakdown_property: str = "",
    breakdown_type: str = "event",
) -> FunnelDefinition:
    """The engine's definition from plain values (a saved funnel's, or an ad-hoc one).

    ``steps`` are dicts with ``event``, optional ``label`` and ``filters``; the values
    are expected to be validated already.
    """
    return FunnelDefinition(
        steps=tuple(
            Step(
                event=step["event"],
                label=step.get("label") or "",
                filters=tuple(
                    PropertyFilter(
                        key=f["key"],
                        operator=f["operator"],
                        value="" if f["operator"] == "is_set" else f.get("value", ""),
                        type=f.get("type", "event"),
                    )
                    for f in step.get("filters") or ()
                ),
            )
            for step in steps
        ),
        window_seconds=window_value * WINDOW_UNITS[window_unit],
        mode=order_mode,
        breakdown=breakdown_property or None,
        breakdown_type=breakdown_type,
    )


class Funnel(models.Model):
    class WindowUnit(models.TextChoices):
        MINUTES = "minutes", "minutes"
        HOURS = "hours", "hours"
        DAYS = "days", "days"

    class OrderMode(models.TextChoices):
        ORDERED = "ordered", "Ordered"
        STRICT = "strict", "Strict order"
        UNORDERED = "unordered", "Any order"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="funnels")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    window_value = models.PositiveIntegerField(
        "conversion window",
        default=14,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_WINDOW_SECONDS // 60)],
        help_text="How long a person has, from the first step, to complete the funnel.",
    )
    window_unit = models.CharField(max_length=16, choices=WindowUnit.choices, default=WindowUnit.DAYS)
    order_mode = models.CharField(
        "order",
        max_length=16,
        choices=OrderMode.choices,
        default=OrderMode.ORDERED,
        help_text=(
            "Ordered: the steps happen in this order, other events in between are fine. "
            "Strict: each step is the person's very next event. "
            "Any order: all steps happen within the window, in any order."
        ),
    )
    class BreakdownType(models.TextChoices):
        EVENT = "event", "of the first step's event"
        PERSON = "person", "of the person"

    breakdown_property = models.CharField(
        max_length=200, blank=True, help_text="A property to split the results by, e.g. browser or plan."
    )
    breakdown_type = models.CharField(
        max_length=8,
        choices=BreakdownType.choices,
        default=BreakdownType.EVENT,
        blank=True,
        help_text="Whose property: the first step's event's, or the person's current one.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="funnels_created"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["project", "-updated_at"], name="funnel_project_updated")]

    def __str__(self) -> str:
        return self.name

    @property
    def window_seconds(self) -> int:
        return self.window_value * WINDOW_UNITS[self.window_unit]

    @property
    def window_display(self) -> str:
        unit = self.window_unit[:-1] if self.window_value == 1 else self.window_unit
        return f"{self.window_value} {unit}"

    def clean(self) -> None:
        self.breakdown_type = self.breakdown_type or self.BreakdownType.EVENT
        if self.order_mode not in MODES:
            raise ValidationError({"order_mode": f"Choose one of {', '.join(MODES)}."})
        validate_window(value=self.window_value, unit=self.window_unit)

    def definition(self, breakdown: str | None = None, breakdown_type: str | None = None) -> FunnelDefinition:
        """The engine's definition of this saved funnel. ``breakdown`` overrides the saved
        ``breakdown_property`` ("" for none), ``breakdown_type`` the saved type; None keeps
        the saved ones."""
        return definition_build(
            steps=[{"event": s.event, "label": s.label, "filters": s.filters} for s in self.steps.all()],
            window_value=self.window_value,
            window_unit=self.window_unit,
            order_mode=self.order_mode,
            breakdown_property=self.breakdown_property if breakdown is None else breakdown,
            breakdown_type=self.breakdown_type if breakdown_type is None else breakdown_type,
        )


class FunnelStep(models.Model):
    funnel = models.ForeignKey(Funnel, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveSmallIntegerField(help_text="Steps are counted in ascending order.")
    event = models.CharField(max_length=200)
    label = models.CharField(max_length=200, blank=True, help_text="Shown instead of the event name.")
    filters = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_filters],
        help_text='Property filters the event must match, e.g. [{"key": "plan", "operator": "equals", "value": "pro"}].',
    )

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["funnel", "order"], name="funnelstep_unique_funnel_order")]

    def __str__(self) -> str:
        return f"{self.order}. {self.label or self.event}"

    def clean(self) -> None:
        if not self.event or not self.event.strip():
            raise ValidationError({"event": "Name the event of this step."})
        self.event = self.event.strip()
        self.filters = filters_clean(self.filters)

    @property
    def display_name(self) -> str:
        return self.label or self.event
