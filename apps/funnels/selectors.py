"""Reads of the funnels area: saved funnels of a project, and their results.

The results are the engine's (:func:`apps.funnels.engine.funnel_run`) plus the axis the
API and pages show them with: the resolved range and the project's timezone.
"""

from __future__ import annotations

from datetime import datetime, timezone

from django.db.models import Count, Prefetch, QuerySet

from apps.funnels.engine import FunnelDefinition, funnel_run
from apps.funnels.models import Funnel, FunnelStep
from apps.projects.models import Project
from apps.query.dates import DateRange, date_range_resolve
from pulseboard.errors import NotFound

PREVIEW_RANGE = "30d"


def funnels_for_project(*, project: Project) -> QuerySet[Funnel]:
    """The project's funnels, most recently changed first, with ``step_count``."""
    return (
        Funnel.objects.filter(project=project)
        .select_related("created_by")
        .annotate(step_count=Count("steps"))
        .order_by("-updated_at", "-id")
    )


def funnel_get(*, project: Project, funnel_id: int) -> Funnel:
    """A funnel of ``project`` with its steps; :class:`NotFound` for any other id (never says it exists)."""
    funnel = (
        Funnel.objects.filter(project=project, id=funnel_id)
        .select_related("created_by", "project")
        .prefetch_related(Prefetch("steps", queryset=FunnelStep.objects.order_by("order", "id")))
        .first()
    )
    if funnel is None:
        raise NotFound("No such funnel.")
    return funnel


def funnel_results(*, project: Project, definition: FunnelDefinition, date_range: DateRange) -> dict:
    """People who entered the funnel in the range and how far they got, with the axis."""
    result = funnel_run(
        project_id=project.id, definition=definition, date_from=date_range.date_from, date_to=date_range.date_to
    )
    return {
        **result,
        "date_from": date_range.date_from,
        "date_to": date_range.date_to,
        "timezone": date_range.timezone_name,
    }


def funnel_results_recent(*, funnel: Funnel, now: datetime | None = None) -> dict:
    """A saved funnel's results over the last 30 days of its project's timezone."""
    date_range = date_range_resolve(
        params={"range": PREVIEW_RANGE}, tz_name=funnel.project.timezone, now=now or datetime.now(timezone.utc)
    )
    return funnel_results(project=funnel.project, definition=funnel.definition(), date_range=date_range)
