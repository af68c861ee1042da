"""Reads of the analytics area: parameterised ClickHouse SQL, shaped for views and APIs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import orjson

from apps.analytics import sql
from apps.analytics.params import cursor_encode
from pulseboard import clickhouse

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
FAR_FUTURE = datetime(2200, 1, 1, tzinfo=timezone.utc)
MAX_UUID = "ffffffff-ffff-ffff-ffff-ffffffffffff"


@dataclass(frozen=True)
class EventsPage:
    events: list[dict]
    next_cursor: str | None


def events_list(
    *,
    project_id: int,
    event: str = "",
    distinct_id: str = "",
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    cursor: tuple[datetime, str] | None = None,
    limit: int = 100,
) -> EventsPage:
    """A page of a project's raw events, newest first."""
    cursor_ts, cursor_id = cursor or (date_to or FAR_FUTURE, MAX_UUID)
    result = clickhouse.query(
        sql.EVENTS_PAGE,
        {
            "project_id": project_id,
            "date_from": date_from or EPOCH,
            "date_to": date_to or FAR_FUTURE,
            "event": event,
            "distinct_id": distinct_id,
            "cursor_ts": cursor_ts,
            "cursor_id": cursor_id,
            "limit": limit + 1,
        },
    )
    rows = result.dicts()
    for row in rows:
        row["properties"] = orjson.loads(row["properties"] or "{}")
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = cursor_encode(rows[-1]["timestamp"], rows[-1]["event_id"])
    return EventsPage(events=rows, next_cursor=next_cursor)
