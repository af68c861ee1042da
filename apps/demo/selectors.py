"""Reads of the demo data: what the seeding commands report."""

from __future__ import annotations

from datetime import datetime

from pulseboard import clickhouse


def events_stored(*, project_id: int) -> int:
    """How many events the project has in ClickHouse."""
    return clickhouse.query(
        "SELECT count() FROM events WHERE project_id = {project_id:UInt64}", {"project_id": project_id}
    ).scalar()


def people_count(*, project_id: int, start: datetime, end: datetime) -> int:
    """Distinct people (``person_key``) with events in ``[start, end)``."""
    return clickhouse.query(
        "SELECT uniqExact(person_key) FROM events WHERE project_id = {project_id:UInt64}"
        " AND timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')}",
        {"project_id": project_id, "start": start, "end": end},
    ).scalar()
