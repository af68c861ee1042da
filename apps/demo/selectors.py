"""Reads of the demo data: what the seeding commands report."""

from __future__ import annotations

from datetime import datetime

from apps.query.persons import with_persons
from pulseboard import clickhouse


def events_stored(*, project_id: int) -> int:
    """How many events the project has in ClickHouse."""
    return clickhouse.query(
        "SELECT count() FROM events WHERE project_id = {project_id:UInt64}", {"project_id": project_id}
    ).scalar()


def people_count(*, project_id: int, start: datetime, end: datetime) -> int:
    """Distinct persons (ids merged into one counted once) with events in ``[start, end)``."""
    keys = (
        "SELECT DISTINCT person_key FROM events WHERE project_id = {project_id:UInt64}"
        " AND timestamp >= {start:DateTime64(3, 'UTC')} AND timestamp < {end:DateTime64(3, 'UTC')}"
    )
    return clickhouse.query(
        f"SELECT uniqExact(person) FROM ({with_persons(keys)})", {"project_id": project_id, "start": start, "end": end}
    ).scalar()


def persons_with_ids(*, project_id: int) -> tuple[int, int]:
    """How many persons the project has, and how many of them have two ids or more."""
    keys = "SELECT DISTINCT person_key FROM person_ids WHERE project_id = {project_id:UInt64}"
    return clickhouse.query(
        f"SELECT count(), countIf(ids > 1) FROM (SELECT person, count() AS ids FROM ({with_persons(keys)}) GROUP BY person)",
        {"project_id": project_id},
    ).rows[0]
