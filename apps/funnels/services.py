"""Writes of the funnels area: create, replace and delete saved funnels.

A funnel and its steps are always written together, in one transaction, and checked with
the model rules (``full_clean``) plus the 2–20 steps rule. Invalid input raises Django's
``ValidationError`` with a dict of field errors (``steps`` for anything about the steps).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.funnels.models import Funnel, FunnelStep, filters_clean, validate_step_count
from apps.projects.models import Project


def steps_clean(*, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Steps as ``[{"event", "label", "filters"}]``: 2 to 20 of them, each with an event name
    and valid filters. Errors are reported under ``steps`` and name the step."""
    validate_step_count(len(steps))
    cleaned, errors = [], []
    for number, step in enumerate(steps, start=1):
        event = str(step.get("event") or "").strip()
        if not event:
            errors.append(f"Step {number}: name the event.")
            continue
        if len(event) > 200:
            errors.append(f"Step {number}: the event name is longer than 200 characters.")
            continue
        try:
            filters = filters_clean(step.get("filters") or [])
        except ValidationError as exc:
            errors.extend(f"Step {number}: {message}" for message in exc.messages)
            continue
        cleaned.append({"event": event, "label": str(step.get("label") or "").strip()[:200], "filters": filters})
    if errors:
        raise ValidationError(errors)
    return cleaned


def _save(funnel: Funnel, steps: list[dict[str, Any]], *, replace: bool) -> Funnel:
    errors: dict[str, list[str]] = {}
    try:
        funnel.full_clean(exclude=["project", "created_by"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        steps = steps_clean(steps=steps)
    except ValidationError as exc:
        errors["steps"] = exc.messages
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        funnel.save()
        if replace:
            funnel.steps.all().delete()
        FunnelStep.objects.bulk_create(
            [FunnelStep(funnel=funnel, order=order, **step) for order, step in enumerate(steps, start=1)]
        )
    return funnel


def funnel_create(
    *,
    project: Project,
    name: str,
    steps: list[dict[str, Any]],
    description: str = "",
    window_value: int = 14,
    window_unit: str = Funnel.WindowUnit.DAYS,
    order_mode: str = Funnel.OrderMode.ORDERED,
    breakdown_property: str = "",
    breakdown_type: str = Funnel.BreakdownType.EVENT,
    created_by: AbstractBaseUser | None = None,
) -> Funnel:
    funnel = Funnel(
        project=project,
        name=name.strip(),
        description=description.strip(),
        window_value=window_value,
        window_unit=window_unit,
        order_mode=order_mode,
        breakdown_property=breakdown_property.strip(),
        breakdown_type=breakdown_type,
        created_by=created_by if created_by is not None and created_by.is_authenticated else None,
    )
    return _save(funnel, steps, replace=False)


def funnel_update(
    *,
    funnel: Funnel,
    name: str,
    steps: list[dict[str, Any]],
    description: str = "",
    window_value: int = 14,
    window_unit: str = Funnel.WindowUnit.DAYS,
    order_mode: str = Funnel.OrderMode.ORDERED,
    breakdown_property: str = "",
    breakdown_type: str = Funnel.BreakdownType.EVENT,
) -> Funnel:
    """Replace the whole definition, steps included."""
    funnel.name = name.strip()
    funnel.description = description.strip()
    funnel.window_value = window_value
    funnel.window_unit = window_unit
    funnel.order_mode = order_mode
    funnel.breakdown_property = breakdown_property.strip()
    funnel.breakdown_type = breakdown_type
    try:
        return _save(funnel, steps, replace=True)
    except ValidationError:
        funnel.refresh_from_db()
        raise


def funnel_delete(*, funnel: Funnel) -> None:
    funnel.delete()
