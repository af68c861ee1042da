"""Reads of the ingest area: the event catalog and what the batch writer left behind."""

from __future__ import annotations

from apps.ingest.models import EventDefinition
from apps.ingest.sql import EVENT_NAMES_BY_VOLUME
from pulseboard import clickhouse


def event_names_hidden(*, project_id: int) -> list[str]:
    return list(EventDefinition.objects.filter(project_id=project_id, hidden=True).values_list("name", flat=True))


def event_names_by_volume(*, project_id: int, limit: int = 500, include_hidden: bool = False) -> list[str]:
    """The project's event names, the most frequent first (then by name): what the event
    pickers offer. Names the team hid on the Events page are left out unless
    ``include_hidden`` (the deletion form, which must reach every name)."""
    hidden = [] if include_hidden else event_names_hidden(project_id=project_id)
    result = clickhouse.query(EVENT_NAMES_BY_VOLUME, {"project_id": project_id, "limit": limit, "hidden": hidden})
    return [row[0] for row in result.rows]
