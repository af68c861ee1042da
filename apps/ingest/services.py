"""Writes of the ingest path: accept a request into the stream, and flush the stream to ClickHouse."""

from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models.functions import Greatest, Least

from apps.ingest import stream
from apps.ingest.devices import country_of
from apps.ingest.hooks import StoredRows, stored_notify, written_notify
from apps.ingest.formats import Door
from apps.ingest.gate import Refusal, limit_settle, limit_take, request_gate
from apps.ingest.models import EventDefinition, IngestRequest
from apps.ingest.plan import plan_violations_count, tracking_plan_for_ingest
from apps.ingest.salt import ip_hash_of
from apps.ingest.sql import EVENTS_TABLE, EXISTING_EVENT_IDS
from apps.ingest.validation import EVENT_COLUMNS, BodyError, Limits, RequestContext, converted_validate, idempotency_key_check
from apps.projects.models import Project
from apps.projects.selectors import project_for_ingest_key
from pulseboard import clickhouse
from pulseboard.clickhouse import ClickHouseError

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
    """A hash of the client IP with the day's salt (:mod:`apps.ingest.salt`): lets you count
    distinct IPs within a UTC day, never recovers one."""
    return ip_hash_of(ip)


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
    valid, 401 for a bad key, 403, 413 or 429 from the key's origin rules and limits
    (:mod:`apps.ingest.gate`), 413 for an oversized body, 503 if the stream or the database
    is unreachable (nothing accepted then), and 200 "duplicate" with the first answer for a replayed
    idempotency key. ``headers`` keys are lower-case.
    """
    try:
        result = _ingest(door=door, body=body, headers=headers, query=query, user_agent=user_agent, ip=ip)
    except DatabaseError:
        # Postgres (keys, tracking plans, salts, idempotency keys) did not answer: a 503 the
        # clients retry, never a 500. Should it fail after the append (an idempotency key's
        # answer), the retry takes the key over and its events' ids make it a duplicate.
        logger.exception("the database did not answer an ingest request")
        result = IngestResult(
            503,
            {"error": "unavailable", "message": "The project database is unreachable; nothing was accepted. Retry later."},
            {"Retry-After": "5"},
        )
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
        return _unknown_key()
    gate = request_gate(target=target, origin=headers.get("origin"), cost=len(parsed.items))
    if isinstance(gate, Refusal):  # its origin or key is not allowed, or it is over its limits
        return _gate_answer(gate)
    limit = gate  # None: no limits, or taken already; else taken with the append (on its own if nothing is valid)

    idempotency_key = parsed.idempotency_key
    if idempotency_key is not None:
        try:
            idempotency_key_check(idempotency_key)
        except BodyError as exc:
            return IngestResult(exc.status, exc.as_json())
    if idempotency_key:
        previous = IngestRequest.objects.filter(project_id=target.project_id, idempotency_key=idempotency_key).first()
        if previous is not None and not _abandoned(previous):
            return _duplicate(previous)

    received_at = datetime.now(timezone.utc)
    context = RequestContext(
        project_id=target.project_id, received_at=received_at, user_agent=user_agent, ip_hash=ip_hash(ip), country=country_of(ip)
    )
    converted = door.events_convert(parsed, project_id=target.project_id, now=received_at)
    # With an idempotency key, the event ids the server chooses follow from the key, so that
    # a retry that takes over an abandoned request (below) cannot append its events twice.
    id_seed = f"{target.project_id}:{idempotency_key}" if idempotency_key else None
    plan = tracking_plan_for_ingest(project_id=target.project_id)
    validated = converted_validate(
        converted, items=parsed.items, context=context, limits=limits, ip_hash_of=ip_hash, id_seed=id_seed, plan=plan
    )
    body_out = {
        "accepted": len(validated.rows),
        "event_ids": [row["event_id"] for row in validated.rows],
        "errors": [error.as_json() for error in validated.errors],
    }
    if not validated.rows:
        # Invalid events cost their tokens too; Redis not answering does not hide the errors.
        refused = limit_take(target=target, limit=limit) if limit else None
        if refused is not None and refused.status == 429:
            return _gate_answer(refused)
        return IngestResult(400, body_out)

    reservation = None
    if idempotency_key:
        reservation = _idempotency_reserve(project_id=target.project_id, key=idempotency_key)
        if isinstance(reservation, IngestResult):
            return reservation

    try:
        appended = stream.stream_append(
            project_id=target.project_id,
            rows=validated.rows,
            supplied_ids=validated.supplied_ids,
            catalog=_catalog(validated.rows),
            limit=limit,
        )
    except stream.LimitReached as exc:
        if reservation is not None:
            reservation.delete()
        return _gate_answer(limit_settle(target=target, limit=limit, reply=exc.reply))
    except stream.ProjectDeleted:
        # Deleted while its key was still cached: refused like any unknown key.
        if reservation is not None:
            reservation.delete()
        return _unknown_key()
    except Exception:
        if reservation is not None:
            reservation.delete()
        logger.exception("could not append to the event stream")
        return IngestResult(
            503,
            {"error": "unavailable", "message": "The event stream is unreachable; nothing was accepted. Retry later."},
            {"Retry-After": "5"},
        )

    if appended.limit is not None:
        limit_settle(target=target, limit=limit, reply=appended.limit)
    if reservation is not None:
        reservation.response = body_out
        reservation.save(update_fields=["response"])
    if validated.violations:
        _violations_count(target.project_id, validated.violations)
    return IngestResult(202, body_out)


def _violations_count(project_id: int, violations: list) -> None:
    """Count the accepted events' tracking-plan violations (observe mode); never fails the request."""
    try:
        plan_violations_count(project_id=project_id, violations=violations)
    except Exception:
        logger.warning("could not count the tracking plan's violations of project %s", project_id, exc_info=True)


def _gate_answer(refusal: Refusal) -> IngestResult:
    return IngestResult(refusal.status, refusal.body, refusal.headers)


def _unknown_key() -> IngestResult:
    return IngestResult(401, {"error": "invalid_api_key", "message": "The API key does not belong to any project."})


def _abandoned(previous: IngestRequest) -> bool:
    """A reservation whose request never answered within the lease: its process died."""
    lease = timedelta(seconds=settings.INGEST_IDEMPOTENCY_LEASE_SECONDS)
    return previous.response is None and previous.created_at < datetime.now(timezone.utc) - lease


def _idempotency_reserve(*, project_id: int, key: str) -> IngestRequest | IngestResult:
    """Reserve an idempotency key for this request, or the answer a repeat gets.

    A reservation left without an answer for longer than the lease (its request's process
    died) is taken over by the next attempt; the first one to move the lease wins."""
    try:
        with transaction.atomic():
            return IngestRequest.objects.create(project_id=project_id, idempotency_key=key)
    except IntegrityError:
        pass
    previous = IngestRequest.objects.filter(project_id=project_id, idempotency_key=key).first()
    if previous is None:
        if not Project.objects.filter(id=project_id).exists():
            # Deleted while its key was still cached (here or in another process).
            return _unknown_key()
        return IngestResult(409, {"error": "conflict", "message": "Retry: the request with this Idempotency-Key just failed."})
    if _abandoned(previous):
        now = datetime.now(timezone.utc)
        cutoff = now - timedelta(seconds=settings.INGEST_IDEMPOTENCY_LEASE_SECONDS)
        taken = IngestRequest.objects.filter(pk=previous.pk, response__isnull=True, created_at__lt=cutoff).update(created_at=now)
        if taken:
            logger.warning("idempotency key %r of project %s: took over a request that never answered", key, project_id)
            return previous
    return _duplicate(previous)


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

# ClickHouse refuses an insert block that spans more partitions than this
# (max_partitions_per_insert_block). Every table that events feed is partitioned by the
# month of the event's time, so a batch is cut into inserts of at most this many months.
MAX_PARTITIONS_PER_INSERT = 100


@dataclass
class FlushStats:
    batches: int = 0
    events_written: int = 0
    duplicates_skipped: int = 0
    entries_acked: int = 0
    events_refused: int = 0


@dataclass
class Batch:
    """Stream entries written together, in the order their manifest records."""

    manifest: stream.Manifest
    entries: list[stream.Entry]


@dataclass
class BatchResult:
    written: int
    skipped: int
    stored: list[StoredRows]
    dead: list[stream.DeadRow]


def _groups(entries: list[stream.Entry], *, max_events: int, max_bytes: int):
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


def batches_plan(entries: list[stream.Entry], *, max_events: int, max_bytes: int) -> list[Batch]:
    """Cut entries into batches, and record each new batch's manifest before it is written.

    An entry read again (its writer crashed, or ClickHouse failed) that belongs to a
    recorded batch is written again as that same batch, with its other members fetched if
    this read did not return them: the same rows in the same order make the same insert,
    which ClickHouse deduplicates per table (see :func:`_insert`). Entries read again
    without a manifest (their writer died before recording one, or Redis lost it) form new
    batches that are checked against ClickHouse before writing (``verified=False``).
    """
    by_id = {entry.id: entry for entry in entries}
    manifests = stream.manifests_of([entry.id for entry in entries if entry.redelivered])
    planned: list[Batch] = []
    rebuilt: set[str] = set()  # batch ids
    taken: set[str] = set()  # entry ids
    for entry in entries:
        manifest = manifests.get(entry.id)
        if manifest is None or manifest.batch_id in rebuilt:
            continue
        rebuilt.add(manifest.batch_id)
        members = {i: by_id[i] for i in manifest.entry_ids if i in by_id}
        missing = [i for i in manifest.entry_ids if i not in members]
        if missing:
            members.update(stream.entries_fetch(missing))
        if len(members) == len(manifest.entry_ids):
            planned.append(Batch(manifest, [members[i] for i in manifest.entry_ids]))
            taken.update(manifest.entry_ids)
        # Otherwise some members are gone from the stream (deleted by hand): the manifest
        # no longer describes a batch, and the entries left are checked and written anew.
    rest = [entry for entry in entries if entry.id not in taken]
    for group in _groups(rest, max_events=max_events, max_bytes=max_bytes):
        verified = not any(entry.redelivered for entry in group)
        planned.append(Batch(stream.manifest_record(entry_ids=[e.id for e in group], verified=verified), group))
    return planned


def _insert(payload: bytes) -> None:
    """ONE insert into events (and, through their materialised views, every rollup).

    Its deduplication token is a hash of the rows: an insert repeated with the same rows
    after a failure writes, in each table, only what that table missed, and never a row
    twice. Different rows always make a different token."""
    token = hashlib.blake2b(payload, digest_size=16).hexdigest()
    clickhouse.insert_json_each_row(EVENTS_TABLE, EVENT_COLUMNS, payload, token=token)


Line = tuple[int, bytes]  # (project id, row as a JSON line)


def _lines(entries: list[stream.Entry]) -> list[Line]:
    return [(entry.project_id, line) for entry in entries for line in entry.rows.split(b"\n") if line]


_MONTH = re.compile(rb"\d{4}-\d{2}")


def _months(entries: list[stream.Entry]) -> int:
    """An upper bound of the months a batch's events span, from the entries' catalog
    summaries (their first and last timestamps) where they have one."""
    stamps: list[str] = []
    for entry in entries:
        if entry.catalog is not None:
            stamps += [t for _, first, last in entry.catalog.values() for t in (first, last)]
        else:
            stamps += [str(_row(line).get("timestamp", "")) for line in entry.rows.split(b"\n") if line]
    if not stamps:
        return 0
    first, last = min(stamps), max(stamps)
    if not (_MONTH.match(first.encode()) and _MONTH.match(last.encode())):
        return MAX_PARTITIONS_PER_INSERT + 1  # not a time: look at each row
    return (int(last[:4]) - int(first[:4])) * 12 + int(last[5:7]) - int(first[5:7]) + 1


def _row(line: bytes) -> dict:
    """A stream row as a dict; a line that is not one (it was damaged) as an empty dict,
    which ClickHouse will refuse like any row it cannot read."""
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError:
        return {}
    return row if isinstance(row, dict) else {}


def _by_partitions(lines: list[Line]) -> list[list[Line]]:
    """Lines in groups of at most :data:`MAX_PARTITIONS_PER_INSERT` months, by month."""
    months: dict[str, list[Line]] = {}
    for line in lines:
        months.setdefault(str(_row(line[1]).get("timestamp", ""))[:7], []).append(line)
    keys = sorted(months)
    return [
        [line for key in keys[start : start + MAX_PARTITIONS_PER_INSERT] for line in months[key]]
        for start in range(0, len(keys), MAX_PARTITIONS_PER_INSERT)
    ]


def _stored_ids(lines: list[Line]) -> set[str]:
    """The event ids of these lines that ClickHouse already holds (rows it could not have
    stored, without a readable id or time, are left out)."""
    rows = []
    for _, line in lines:
        row = _row(line)
        try:
            uuid.UUID(str(row.get("event_id")))
            datetime.strptime(str(row.get("timestamp")), "%Y-%m-%d %H:%M:%S.%f")
            int(row["project_id"])
        except (ValueError, KeyError, TypeError):
            continue
        rows.append(row)
    if not rows:
        return set()
    result = clickhouse.query(
        EXISTING_EVENT_IDS,
        {
            "project_ids": sorted({int(row["project_id"]) for row in rows}),
            "ts_from": min(row["timestamp"] for row in rows),
            "ts_to": max(row["timestamp"] for row in rows),
            "event_ids": [row["event_id"] for row in rows],
        },
    )
    return {row[0] for row in result.rows}


def _split_stored(lines: list[Line]) -> tuple[list[Line], list[Line]]:
    """The lines ClickHouse already holds, and the others."""
    ids = _stored_ids(lines)
    if not ids:
        return [], lines
    stored: list[Line] = []
    missing: list[Line] = []
    for line in lines:
        (stored if _row(line[1]).get("event_id") in ids else missing).append(line)
    return stored, missing


# ClickHouse usually names the row it refused, counting from 1 ("... at row 21").
_AT_ROW = re.compile(r"\bat row (\d+)\b")


def _pieces(lines: list[Line], error: ClickHouseError) -> list[list[Line]]:
    """How to split lines whose insert failed: around the row ClickHouse named (that row
    alone, and the rows on each side), or else in halves."""
    match = _AT_ROW.search(str(error))
    row = int(match.group(1)) - 1 if match else -1
    if 0 <= row < len(lines):
        return [piece for piece in (lines[:row], lines[row : row + 1], lines[row + 1 :]) if piece]
    middle = len(lines) // 2
    return [lines[:middle], lines[middle:]]


def _isolate(lines: list[Line], error: ClickHouseError, dead: list[stream.DeadRow]) -> list[Line]:
    """ClickHouse refused an insert of ``lines`` for some of its rows: split it until the
    refused rows stand alone, and store every other row. Returns the lines stored; the
    refused ones go to ``dead`` with their error.

    The row ClickHouse names is only a hint: it is tried alone, and dead-lettered only if
    refused alone. Without a hint the lines are halved, so k refused rows among n take
    about k·log2(n/k) inserts; with hints, about 3k."""
    stored: list[Line] = []
    failed = [(lines, error)]
    while failed:
        part, refusal = failed.pop()
        if len(part) == 1:
            dead.append(stream.DeadRow(project_id=part[0][0], row=part[0][1], code=refusal.code, error=str(refusal)))
            continue
        for piece in _pieces(part, refusal):
            try:
                _insert(b"\n".join(line for _, line in piece))
            except ClickHouseError as exc:
                if exc.transient:
                    raise
                failed.append((piece, exc))
            else:
                stored += piece
    return stored


def _store(lines: list[Line], dead: list[stream.DeadRow]) -> list[Line]:
    """Insert lines (at most :data:`MAX_PARTITIONS_PER_INSERT` months); return those stored."""
    try:
        _insert(b"\n".join(line for _, line in lines))
    except ClickHouseError as exc:
        if exc.transient:
            raise
        return _refused(lines, exc, dead)
    return lines


def _refused(lines: list[Line], error: ClickHouseError, dead: list[stream.DeadRow]) -> list[Line]:
    """Store what can be stored of lines whose insert ClickHouse refused; see :func:`_isolate`."""
    logger.warning("ClickHouse refused a batch of %d events; isolating the refused rows: %s", len(lines), error)
    # A refusal may come after events took the rows (a view failing on one of them): those
    # rows are stored, and only the others are split and tried again. The reconciler
    # rebuilds what such a view missed.
    stored, remaining = _split_stored(lines)
    if stored:
        logger.error("%d events were stored before the refusal; rollups may miss them until reconciled", len(stored))
    return stored + _isolate(remaining, error, dead)


def _stored_rows(lines: list[Line]) -> list[StoredRows]:
    per_project: dict[int, list[bytes]] = {}
    for project_id, line in lines:
        per_project.setdefault(project_id, []).append(line)
    return [StoredRows(project_id=p, count=len(rows), rows=b"\n".join(rows)) for p, rows in per_project.items()]


def _seen(lines: list[Line]) -> dict[tuple[int, str], list[str]]:
    """Per project and event name, the first and last timestamps of these lines."""
    seen: dict[tuple[int, str], list[str]] = {}
    for project_id, line in lines:
        row = _row(line)
        _seen_add(seen, project_id, row["event"], row["timestamp"], row["timestamp"])
    return seen


def _seen_add(seen: dict[tuple[int, str], list[str]], project_id: int, name: str, first: str, last: str) -> None:
    span = seen.get((project_id, name))
    if span is None:
        seen[(project_id, name)] = [first, last]
    else:
        span[0] = min(span[0], first)
        span[1] = max(span[1], last)


def _seen_of_entries(entries: list[stream.Entry]) -> dict[tuple[int, str], list[str]]:
    seen: dict[tuple[int, str], list[str]] = {}
    for entry in entries:
        summary = entry.catalog or _catalog([_row(line) for line in entry.rows.split(b"\n") if line])
        for name, (_, first, last) in summary.items():
            _seen_add(seen, entry.project_id, name, first, last)
    return seen


def _parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def event_definitions_update(*, seen: dict[tuple[int, str], list[str]]) -> None:
    """Fold first and last timestamps per project and event name into the catalog.

    Idempotent (the earliest and latest win), so a batch written again changes nothing.
    How many events a name has is ClickHouse's to say (``event_counts_15m``)."""
    live_projects = set(Project.objects.filter(id__in={pid for pid, _ in seen}).values_list("id", flat=True))
    for (project_id, name), (first, last) in sorted(seen.items()):
        if project_id not in live_projects:
            continue
        first_at, last_at = _parse_utc(first), _parse_utc(last)
        updated = EventDefinition.objects.filter(project_id=project_id, name=name).update(
            first_seen=Least("first_seen", first_at), last_seen=Greatest("last_seen", last_at)
        )
        if updated:
            continue
        try:
            with transaction.atomic():
                EventDefinition.objects.create(project_id=project_id, name=name, first_seen=first_at, last_seen=last_at)
        except IntegrityError:  # another worker created it first
            EventDefinition.objects.filter(project_id=project_id, name=name).update(
                first_seen=Least("first_seen", first_at), last_seen=Greatest("last_seen", last_at)
            )


def batch_write(batch: Batch) -> BatchResult:
    """Write one batch to ClickHouse, in ONE insert unless it spans more than
    :data:`MAX_PARTITIONS_PER_INSERT` months, then fold it into the catalog.

    Rows ClickHouse refuses are isolated and returned as ``dead``; every other row is
    stored. A failure that is not about the rows (ClickHouse unreachable, busy, or not
    migrated) raises, and the batch stays in the stream.

    Entries of deleted projects are left out (and settled with the batch): the flush checks
    this under its writer's lease, and a project's deletion marks it deleted before it takes
    the lock alone, so no row of a deleted project is written after its rows were deleted.
    The rest is then written as a batch checked against ClickHouse, since its rows are no
    longer the ones a first attempt may have half written.
    """
    entries = batch.entries
    dead: list[stream.DeadRow] = []
    deleted = stream.projects_deleted({entry.project_id for entry in entries})
    if deleted:
        entries = [entry for entry in entries if entry.project_id not in deleted]
        logger.info("left out %d stream entries of deleted projects %s", len(batch.entries) - len(entries), sorted(deleted))
        batch = Batch(stream.Manifest(batch.manifest.batch_id, batch.manifest.entry_ids, verified=False), entries)
    if batch.manifest.verified and _months(entries) <= MAX_PARTITIONS_PER_INSERT:
        try:
            _insert(b"\n".join(entry.rows for entry in entries))
        except ClickHouseError as exc:
            if exc.transient:
                raise
            return _result(_refused(_lines(entries), exc, dead), skipped=0, dead=dead)
        event_definitions_update(seen=_seen_of_entries(entries))
        stored = [
            StoredRows(project_id=p, count=sum(e.count for e in group), rows=b"\n".join(e.rows for e in group))
            for p, group in _entries_by_project(entries).items()
        ]
        return BatchResult(written=sum(entry.count for entry in entries), skipped=0, stored=stored, dead=dead)
    lines = _lines(entries)
    total = len(lines)
    if not batch.manifest.verified:
        lines = _split_stored(lines)[1]
    stored_lines: list[Line] = []
    for group in _by_partitions(lines) if lines else []:
        stored_lines += _store(group, dead)
    return _result(stored_lines, skipped=total - len(lines), dead=dead)


def _result(lines: list[Line], *, skipped: int, dead: list[stream.DeadRow]) -> BatchResult:
    event_definitions_update(seen=_seen(lines))
    return BatchResult(written=len(lines), skipped=skipped, stored=_stored_rows(lines), dead=dead)


def _entries_by_project(entries: list[stream.Entry]) -> dict[int, list[stream.Entry]]:
    grouped: dict[int, list[stream.Entry]] = {}
    for entry in entries:
        grouped.setdefault(entry.project_id, []).append(entry)
    return grouped


def events_flush(
    *, consumer: str, max_events: int, max_bytes: int, claim_idle_ms: int, max_seconds: float, read_count: int = 1000
) -> FlushStats:
    """Drain the stream into ClickHouse: read, write each batch, settle it, tell the hooks.

    A crash anywhere before a batch is settled leaves its entries pending; they are read
    again by this consumer or reclaimed by another one, and written again as the same batch,
    so every table ends up with each row exactly once.
    """
    stats = FlushStats()
    stream.group_ensure()
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        entries = stream.stream_read(consumer=consumer, count=read_count, claim_idle_ms=claim_idle_ms)
        if not entries:
            break
        for batch in batches_plan(entries, max_events=max_events, max_bytes=max_bytes):
            with stream.writer_lease():
                result = batch_write(batch)
                written_notify(stored=result.stored)
                stream.batch_settle(manifest=batch.manifest, dead=result.dead)
            if result.dead:
                logger.error("%d events refused by ClickHouse were moved to the dead-letter stream", len(result.dead))
            stored_notify(stored=result.stored)
            stats.batches += 1
            stats.events_written += result.written
            stats.duplicates_skipped += result.skipped
            stats.events_refused += len(result.dead)
            stats.entries_acked += len(batch.entries)
    return stats
