"""Reads of the ingest area: the event catalog and what the batch writer left behind."""

from __future__ import annotations

from apps.ingest.sql import EVENT_NAMES_BY_VOLUME
from pulseboard import clickhouse


def event_names_by_volume(*, project_id: int, limit: int = 500) -> list[str]:
    """The project's event names, the most frequent first (then by name)."""
    result = clickhouse.query(EVENT_NAMES_BY_VOLUME, {"project_id": project_id, "limit": limit})
    return [row[0] for row in result.rows]
