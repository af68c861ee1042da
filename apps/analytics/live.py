"""The live feed: the one helper that pushes stored events to the browser, and its message.

After each batch is in ClickHouse and settled, the flush's after-storage hook calls
:func:`live_broadcast` (subscribed in :class:`apps.analytics.apps.AnalyticsConfig`), on a
thread of its own so that the flush never waits for it. It sends
one message per project of the batch to that project's Channels group (channels_redis, in
both deployments); :class:`apps.analytics.consumers.LiveEventsConsumer` forwards it to every
socket of the group. The message, as the socket sends it::

    {"type": "events", "total": 250, "events": [{"event_id", "event", "distinct_id",
     "timestamp", "received_at", "page_url", "source"}, ...]}

``events`` are the newest :data:`LIVE_MAX_EVENTS` events of the batch for that project,
newest first; ``total`` counts all of them. A redelivered batch is sent again, so a client
may see an event twice: the live page drops repeats by ``event_id``.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from apps.ingest.hooks import StoredRows

logger = logging.getLogger(__name__)

# Events per project in one message: a larger batch sends its newest ones and the total.
LIVE_MAX_EVENTS = 100
# A page URL longer than this is cut in the message (the stored event keeps all of it).
LIVE_PAGE_URL_MAX = 512
# A broadcast gives up after this long, so a stuck channel layer cannot hold up the next ones.
LIVE_SEND_TIMEOUT_SECONDS = 2.0


def live_group(*, project_id: int) -> str:
    """The Channels group of a project's live sockets."""
    return f"live.project.{project_id}"


def live_socket_path(*, project_id: int) -> str:
    """Where the live page opens its socket (routed in ``pulseboard/routing.py``)."""
    return f"/ws/projects/{project_id}/live/"


def _iso(text: str) -> str:
    """ClickHouse UTC text (``2026-11-22 10:00:00.123``) as ISO 8601 (``2026-11-22T10:00:00.123Z``)."""
    return text.replace(" ", "T", 1) + "Z"


def _compact(row: dict) -> dict:
    return {
        "event_id": row["event_id"],
        "event": row["event"],
        "distinct_id": row["distinct_id"],
        "timestamp": _iso(row["timestamp"]),
        "received_at": _iso(row["received_at"]),
        "page_url": row["page_url"][:LIVE_PAGE_URL_MAX],
        "source": row["source"],
    }


def live_messages(*, stored: list[StoredRows], max_events: int = LIVE_MAX_EVENTS) -> dict[int, dict]:
    """The message of each project in a stored batch.

    Rows are in arrival order; walking them backwards parses only the rows that are sent,
    however large the batch.
    """
    totals: dict[int, int] = {}
    newest: dict[int, list[dict]] = {}
    for part in reversed(stored):
        totals[part.project_id] = totals.get(part.project_id, 0) + part.count
        kept = newest.setdefault(part.project_id, [])
        if len(kept) >= max_events:
            continue
        for line in reversed(part.rows.split(b"\n")):
            if line:
                kept.append(_compact(orjson.loads(line)))
                if len(kept) >= max_events:
                    break
    return {project_id: {"type": "events", "total": total, "events": newest[project_id]} for project_id, total in totals.items()}


async def _group_send_all(messages: dict[int, dict]) -> None:
    layer = get_channel_layer()
    sends = [
        layer.group_send(live_group(project_id=project_id), {"type": "live.events", "text": orjson.dumps(message).decode()})
        for project_id, message in messages.items()
    ]
    await asyncio.wait_for(asyncio.gather(*sends), timeout=LIVE_SEND_TIMEOUT_SECONDS)


def live_broadcast(stored: list[StoredRows]) -> None:
    """Push a stored batch to its projects' live groups. Never raises.

    The events are stored whatever happens here, so a failure is logged and the next batch
    goes on (the live page misses those events, the dashboards do not).
    """
    if not stored:
        return
    try:
        async_to_sync(_group_send_all)(live_messages(stored=stored))
    except Exception:
        logger.warning("live feed: could not broadcast a batch of %d events", sum(p.count for p in stored), exc_info=True)
