"""Writes of the ingest path: accept a request into the stream, and flush the stream to ClickHouse."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest, Least

from apps.analytics.live import live_broadcast
from apps.ingest import stream
from apps.ingest.formats import Door
from apps.ingest.models import EventDefinition, IngestRequest
from apps.ingest.sql import EVENTS_TABLE, EXISTING_EVENT_IDS
from apps.ingest.validation import EVENT_COLUMNS, BodyError, Limits, RequestContext, converted_validate, idempotency_key_check
from apps.projects.models import Project
from apps.projects.selectors import project_for_ingest_key
from pulseboard import clickhouse

logger = logging.getLogger(__name__)


def ingest_limits() -> Limits:
    return Limits(
        max_body_bytes=settings.INGEST_MAX_BODY_BYTES,
        max_events=settings.INGEST_MAX_EVENTS,
        max_properties_bytes=settings.INGEST_MAX_PROPERTIES_BYTES,
        max_depth=settings.INGEST_MAX_PROPERTIES_DEPTH,
        max_future=timedelta(hours=settings.INGEST_MAX_FUTURE_HOURS),
        max_past=timedelta(days=settings.INGEST_MAX_PAST_DAYS),
    )


def ip_hash(ip: str) -> str:
    """A salted hash of the client IP: lets you count distinct IPs, never recovers one."""
    if not ip:
        return ""
    return hmac.new(settings.INGEST_IP_SALT.encode(), ip.encode(), hashlib.sha256).hexdigest()[:32]


@dataclass
class IngestResult:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def _catalog(rows: list[dict]) -> dict[str, list]:
    summary: dict[str, list] = {}
    for row in rows:
        seen = summary.get(row["event"])
        if seen is None:
            summary[row["event"]] = [1, row["timestamp"], row["timestamp"]]
        else:
            seen[0] += 1
            seen[1] = min(seen[1], row["timestamp"])
            seen[2] = max(seen[2], row["timestamp"])
    return summary


def request_ingest(
    *,
    door: Door,
    body: bytes,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    user_agent: str,
    ip: str,
) -> IngestResult:
    """Read a request through its front door, validate its events and append the valid
    ones to the stream, then answer as the door's clients expect (``door.answer``).

    The native answers: 202 with what was accepted and what was not, 400 if nothing was
    valid, 401 for a bad key, 413 for an oversized body, 503 if the stream is unreachable
    (nothing accepted then), and 200 "duplicate" with the first answer for a replayed
    idempotency key. ``headers`` keys are lower-case.
    """
    result = _ingest(door=door, body=body, headers=headers, query=query, user_agent=user_agent, ip=ip)
    status, answer = door.answer(result.status, result.body)
    return IngestResult(status, answer, result.headers)


def _ingest(*, door: Door, body: bytes, headers: Mapping[str, str], query: Mapping[str, str], user_agent: str, ip: str) -> IngestResult:
    limits = ingest_limits()
    try:
        parsed = door.request_parse(body=body, headers=headers, query=query, limits=limits)
    except BodyError as exc:
        return IngestResult(exc.status, exc.as_json())

    api_key = parsed.api_key
    if not api_key:
        return IngestResult(401, {"error": "missing_api_key", "message": door.missing_key})
    target = project_for_ingest_key(api_key=api_key)
    if target is None:
        return IngestResult(401, {"error": "invalid_api_key", "message": "The API key does not belong to any project."})

    idempotency_key = parsed.idempotency_key
    if idempotency_key is not None:
        try:
            idempotency_key_check(idempotency_key)
        except BodyError as exc:
            return IngestResult(exc.status, exc.as_json())
    if idempotency_key:
        previous = IngestRequest.objects.filter(project_id=target.project_id, idempotency_key=idempotency_key).first()
        if previous is not None:
            return _duplicate(previous)

    received_at = datetime.now(timezone.utc)
    context = RequestContext(project_id=target.project_id, received_at=received_at, user_agent=user_agent, ip_hash=ip_hash(ip))
    converted = door.events_convert(parsed, project_id=target.project_id, now=received_at)
    validated = converted_validate(converted, items=parsed.items, context=context, limits=limits, ip_hash_of=ip_hash)
    body_out = {
        "accepted": len(validated.rows),
        "event_ids": [row["event_id"] for row in validated.rows],
        "errors": [error.as_json() for error in validated.errors],
    }
    if not validated.rows:
        return IngestResult(400, body_out)

    reservation = None
    if idempotency_key:
        try:
            with transaction.atomic():
                reservation = IngestRequest.objects.create(project_id=target.project_id, idempotency_key=idempotency_key)
        except IntegrityError:
            previous = IngestRequest.objects.filter(project_id=target.project_id, idempotency_key=idempotency_key).first()
            if previous is not None:
                return _duplicate(previous)
            return IngestResult(409, {"error": "conflict", "message": "Retry: the request with this Idempotency-Key just failed."})

    try:
        stream.stream_append(
            project_id=target.project_id, rows=validated.rows, supplied_ids=validated.supplied_ids, catalog=_catalog(validated.rows)
        )
    except Exception:
        if reservation is not None:
            reservation.delete()
        logger.exception("could not append to the event stream")
        return IngestResult(
            503,
            {"error": "unavailable", "message": "The event stream is unreachable; nothing was accepted. Retry later."},
            {"Retry-After": "5"},
        )

    if reservation is not None:
        reservation.response = body_out
        reservation.save(update_fields=["response"])
    return IngestResult(202, body_out)


def _duplicate(previous: IngestRequest) -> IngestResult:
    if previous.response is None:
        return IngestResult(
            409, {"error": "in_progress", "message": "A request with this Idempotency-Key is still being processed."}, {"Retry-After": "1"}
        )
    return IngestResult(200, {"status": "duplicate", **previous.response})


def ingest_requests_prune(*, older_than_hours: int) -> int:
    cutoff = datetime.now(timezone.utc) - timedelta(hours=older_than_hours)
    deleted, _ = IngestRequest.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# --- The batch writer ------------------------------------------------------------------


@dataclass
class FlushStats:
    batches: int = 0
    events_written: int = 0
    duplicates_skipped: int = 0
    entries_acked: int = 0


def _batches(entries: list[stream.Entry], *, max_events: int, max_bytes: int):
    batch: list[stream.Entry] = []
    events = size = 0
    for entry in entries:
        if batch and (events + entry.count > max_events or size + entry.size > max_bytes):
            yield batch
            batch, events, size = [], 0, 0
        batch.append(entry)
        events += entry.count
        size += entry.size
    if batch:
        yield batch


def _without_stored(payload: bytes) -> tuple[bytes, list[dict], int]:
    """Drop the rows of a redelivered batch that ClickHouse already holds."""
    rows = [orjson.loads(line) for line in payload.split(b"\n") if line]
    stored = set()
    if rows:
        result = clickhouse.query(
            EXISTING_EVENT_IDS,
            {
                "project_ids": sorted({row["project_id"] for row in rows}),
                "ts_from": min(row["timestamp"] for row in rows),
                "ts_to": max(row["timestamp"] for row in rows),
                "event_ids": [row["event_id"] for row in rows],
            },
        )
        stored = {row[0] for row in result.rows}
    missing = [row for row in rows if row["event_id"] not in stored]
    return b"\n".join(orjson.dumps(row) for row in missing), missing, len(rows) - len(missing)


def _catalog_merge(batch: list[stream.Entry], written_rows: list[dict] | None) -> dict[tuple[int, str], list]:
    merged: dict[tuple[int, str], list] = {}

    def add(project_id: int, name: str, count: int, first: str, last: str) -> None:
        seen = merged.get((project_id, name))
        if seen is None:
            merged[(project_id, name)] = [count, first, last]
        else:
            seen[0] += count
            seen[1] = min(seen[1], first)
            seen[2] = max(seen[2], last)

    if written_rows is not None:
        for row in written_rows:
            add(row["project_id"], row["event"], 1, row["timestamp"], row["timestamp"])
        return merged
    for entry in batch:
        summary = entry.catalog
        if summary is None:
            summary = _catalog([orjson.loads(line) for line in entry.rows.split(b"\n") if line])
        for name, (count, first, last) in summary.items():
            add(entry.project_id, name, count, first, last)
    return merged


def _parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def event_definitions_update(*, counts: dict[tuple[int, str], list]) -> None:
    """Fold a batch's per-name counts and first/last timestamps into the catalog."""
    live_projects = set(Project.objects.filter(id__in={pid for pid, _ in counts}).values_list("id", flat=True))
    for (project_id, name), (count, first, last) in sorted(counts.items()):
        if project_id not in live_projects:
            continue
        first_at, last_at = _parse_utc(first), _parse_utc(last)
        updated = EventDefinition.objects.filter(project_id=project_id, name=name).update(
            count=F("count") + count, first_seen=Least("first_seen", first_at), last_seen=Greatest("last_seen", last_at)
        )
        if updated:
            continue
        try:
            with transaction.atomic():
                EventDefinition.objects.create(project_id=project_id, name=name, first_seen=first_at, last_seen=last_at, count=count)
        except IntegrityError:  # another worker created it first
            EventDefinition.objects.filter(project_id=project_id, name=name).update(
                count=F("count") + count, first_seen=Least("first_seen", first_at), last_seen=Greatest("last_seen", last_at)
            )


def batch_write(batch: list[stream.Entry]) -> tuple[int, int]:
    """Write one batch of stream entries to ClickHouse in ONE insert; return (written, skipped).

    Entries that were delivered before (a crashed or failed flush) may already be stored:
    their rows are checked against ClickHouse and only the missing ones are written.
    """
    payload = b"\n".join(entry.rows for entry in batch)
    written_rows = None
    skipped = 0
    if any(entry.redelivered for entry in batch):
        payload, written_rows, skipped = _without_stored(payload)
    written = clickhouse.insert_json_each_row(EVENTS_TABLE, EVENT_COLUMNS, payload) if payload else 0
    event_definitions_update(counts=_catalog_merge(batch, written_rows))
    return written, skipped


def events_flush(
    *, consumer: str, max_events: int, max_bytes: int, claim_idle_ms: int, max_seconds: float, read_count: int = 1000
) -> FlushStats:
    """Drain the stream into ClickHouse: read, write each batch in one insert, then ack.

    A crash anywhere before the ack leaves the entries pending; they are read again by
    this consumer or reclaimed by another one, and written without duplicates.
    """
    stats = FlushStats()
    stream.group_ensure()
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        entries = stream.stream_read(consumer=consumer, count=read_count, claim_idle_ms=claim_idle_ms)
        if not entries:
            break
        for batch in _batches(entries, max_events=max_events, max_bytes=max_bytes):
            written, skipped = batch_write(batch)
            stream.stream_ack([entry.id for entry in batch])
            live_broadcast(entries=batch)
            stats.batches += 1
            stats.events_written += written
            stats.duplicates_skipped += skipped
            stats.entries_acked += len(batch)
    return stats
