"""A project's data lifecycle: deleting the project, deleting events, and retention.

Each goes through :func:`apps.ingest.deletion.rows_delete`, under the writers' lock, so every
ClickHouse table with project data (the rollups included) stays consistent with ``events``.

* **Deleting a project** marks it deleted in Redis first (:func:`apps.ingest.stream.project_tombstone`):
  from that moment ingest refuses its events in every process (the mark is checked in the
  same atomic step as the append, whatever the key cache of a process still says), and the
  flush leaves out those still in the stream. Then every row of the project goes from every
  table, its refused events from the dead-letter stream, and its configuration from Postgres
  (after the audit entry is written).
* **Deleting events** (by name and/or a range of days in the project's timezone) runs on a
  worker and is recorded (:class:`apps.ingest.models.EventDeletion`). It also forgets the
  deleted events' ids in ingest's dedup memory, so that events sent again with the same ids
  are stored again.
* **Retention** keeps the last ``Project.retention_days`` days (today included, in the
  project's timezone): beat runs :func:`retention_apply_all` every hour, and a project with
  nothing older than its cutoff costs one count.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone as django_timezone

from apps.ingest import stream
from apps.ingest.deletion import Condition, rows_delete, rows_delete_locked
from apps.ingest.models import EventDeletion
from apps.projects.models import AuditEntry, Project
from apps.projects.selectors import project_key_cache_clear
from apps.projects.services import audit_record
from pulseboard import clickhouse

logger = logging.getLogger(__name__)

RETENTION_MAX_DAYS = 3650
RETENTION_MESSAGE = f"Keep between 1 and {RETENTION_MAX_DAYS} days of events, or leave it empty to keep everything."


def _confirm_check(*, project: Project, confirm: str, what: str) -> None:
    """The typed confirmation of a deletion: the project's name, exactly."""
    if (confirm or "").strip() != project.name:
        raise ValidationError({"confirm": f"Type the project's name, {project.name}, exactly to {what}."})


# --- Reads -------------------------------------------------------------------------------------------


def oldest_event_at(*, project_id: int) -> datetime | None:
    """The time of the project's oldest stored event, or None if it has none."""
    count, oldest = clickhouse.query(
        "SELECT count(), min(timestamp) FROM events WHERE project_id = {project_id:UInt64}", {"project_id": project_id}
    ).rows[0]
    return oldest if count else None


def events_matching(*, condition: Condition) -> int:
    """How many stored events an event deletion would remove."""
    return clickhouse.query(f"SELECT count() FROM events WHERE {condition.where()}", condition.params).scalar()


def event_deletions_for_project(*, project: Project, limit: int = 20):
    return EventDeletion.objects.filter(project=project).order_by("-requested_at")[:limit]


def event_deletion_get(*, project: Project, deletion_id) -> EventDeletion | None:
    return EventDeletion.objects.filter(project=project, id=deletion_id).first()


# --- Deleting events ---------------------------------------------------------------------------------


def local_today(*, project: Project, now: datetime | None = None) -> date:
    return (now or django_timezone.now()).astimezone(ZoneInfo(project.timezone)).date()


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(), tz).astimezone(timezone.utc)


def event_deletion_range(
    *, project: Project, event: str, date_from: date | None, date_to: date | None, now: datetime | None = None
) -> Condition:
    """The events an owner asks to delete: of a name and/or from ``date_from`` to ``date_to``
    (whole days in the project's timezone, both included; either may be left out). Raises
    ``ValidationError`` naming the field: neither a name nor a date, a range in the future,
    or one that ends before it starts."""
    event = (event or "").strip()
    if not event and date_from is None and date_to is None:
        raise ValidationError({"event": "Choose an event name, a date range, or both: deleting every event is deleting the project's data (use Delete project)."})
    today = local_today(project=project, now=now)
    errors = {}
    if date_from is not None and date_from > today:
        errors["date_from"] = f"{date_from:%Y-%m-%d} is in the future (today is {today:%Y-%m-%d} in {project.timezone}): there is nothing to delete yet."
    if date_to is not None and date_to > today:
        errors["date_to"] = f"{date_to:%Y-%m-%d} is in the future (today is {today:%Y-%m-%d} in {project.timezone}): end the range today at the latest."
    if date_from is not None and date_to is not None and date_from > date_to and not errors:
        errors["date_to"] = "The range ends before it starts."
    if errors:
        raise ValidationError(errors)
    tz = ZoneInfo(project.timezone)
    since = _local_midnight(date_from, tz) if date_from is not None else None
    until = _local_midnight(date_to + timedelta(days=1), tz) if date_to is not None else None
    return Condition.events(project.id, event=event or None, since=since, until=until)


def event_deletion_request(
    *, project: Project, user: AbstractBaseUser | None, event: str, date_from: date | None, date_to: date | None, confirm: str
) -> EventDeletion:
    """Record an owner's confirmed request to delete events (the task runs it: :func:`event_deletion_run`)."""
    condition = event_deletion_range(project=project, event=event, date_from=date_from, date_to=date_to)
    _confirm_check(project=project, confirm=confirm, what="delete these events")
    signed_in = user is not None and getattr(user, "is_authenticated", False)
    return EventDeletion.objects.create(
        project=project,
        event=condition.event or "",
        date_from=date_from,
        date_to=date_to,
        timezone=project.timezone,
        since=condition.since,
        until=condition.until,
        rows_matched=events_matching(condition=condition),
        requested_by=user if signed_in else None,
        requested_by_name=user.get_username() if signed_in else "",
    )


def _recent_event_ids(condition: Condition) -> list[str]:
    """The ids of the events ``condition`` names that ingest may still remember (received
    within its dedup window): those are the ones to forget."""
    received_since = django_timezone.now() - timedelta(seconds=settings.INGEST_EVENT_DEDUP_SECONDS)
    result = clickhouse.query(
        f"SELECT DISTINCT toString(event_id) FROM events WHERE {condition.where()} AND received_at >= {{received_since:DateTime64(3, 'UTC')}}",
        {**condition.params, "received_since": received_since},
    )
    return [row[0] for row in result.rows]


def event_deletion_run(*, deletion: EventDeletion) -> EventDeletion:
    """Delete the events a request names from every table, forget their ids in ingest's
    dedup memory, and record the rows removed per table (and an audit entry)."""
    deletion.running(started_at=django_timezone.now())
    condition = Condition.events(deletion.project_id, event=deletion.event or None, since=deletion.since, until=deletion.until)
    removed: dict[str, int] = {}
    try:
        with stream.writers_excluded():
            event_ids = _recent_event_ids(condition)
            removed = rows_delete(condition)
        # Events sent again with these ids are new events now, not repeats. (ClickHouse's
        # insert deduplication does not stand in the way: a batch's token is a hash of its
        # rows, and a row sent again has a new received_at.)
        stream.dedup_forget(project_id=deletion.project_id, event_ids=event_ids)
    except stream.WriteLockBusy:
        # Nothing was deleted: it waits for its turn (the task tries it again).
        deletion.status = EventDeletion.Status.QUEUED
        deletion.save(update_fields=["status"])
        raise
    except Exception as exc:
        deletion.ended(removed, error=exc)
        raise
    deletion.ended(removed)
    audit_record(
        project=deletion.project,
        actor=deletion.requested_by,
        action=AuditEntry.Action.EVENTS_DELETED,
        summary=f"Deleted {deletion.describe()}: {removed.get('events', 0)} events.",
        details={
            "deletion": str(deletion.id),
            "event": deletion.event,
            "date_from": deletion.date_from.isoformat() if deletion.date_from else None,
            "date_to": deletion.date_to.isoformat() if deletion.date_to else None,
            "timezone": deletion.timezone,
            "rows_removed": removed,
        },
    )
    return deletion


# --- Deleting a project ------------------------------------------------------------------------------


def project_delete(*, project: Project, actor: AbstractBaseUser | None, confirm: str) -> dict[str, int]:
    """Delete a project for good: its ingest key stops working in every process at once,
    every row of it goes from every ClickHouse table (and its refused events from the
    dead-letter stream), then its configuration from Postgres. Returns the rows removed per
    table. ``confirm`` must be the project's name (else ``ValidationError`` on ``confirm``,
    and nothing is deleted)."""
    _confirm_check(project=project, confirm=confirm, what="delete it")
    stream.project_tombstone(project.id)
    project_key_cache_clear(project.api_key)
    removed = rows_delete_locked(Condition.project(project.id))
    refused = [letter.id for letter in stream.deadletters(project_id=project.id, limit=100_000, scan=100_000)]
    stream.deadletters_drop(entry_ids=refused)
    with transaction.atomic():
        # Written before the project's row goes: the entry keeps its name (its link is set null).
        audit_record(
            project=project,
            actor=actor,
            action=AuditEntry.Action.PROJECT_DELETED,
            summary=f"Deleted the project {project.name} and its {removed.get('events', 0)} events.",
            details={"project_id": project.id, "rows_removed": removed, "refused_events_dropped": len(refused)},
        )
        project.delete()
    logger.info("project %s deleted: %s", project.name, removed)
    return removed


# --- Retention ---------------------------------------------------------------------------------------


def retention_set(*, project: Project, days: int | None, actor: AbstractBaseUser | None) -> Project:
    """Keep ``days`` days of the project's events (None: everything). Applied within the hour."""
    if days is not None and not 1 <= days <= RETENTION_MAX_DAYS:
        raise ValidationError({"retention_days": RETENTION_MESSAGE})
    before = project.retention_days
    if before == days:
        return project
    with transaction.atomic():
        project.retention_days = days
        project.save(update_fields=["retention_days", "updated_at"])
        audit_record(
            project=project,
            actor=actor,
            action=AuditEntry.Action.RETENTION_CHANGED,
            summary=f"Set retention to {_days_text(days)} (was {_days_text(before)}).",
            details={"from": before, "to": days},
        )
    return project


def _days_text(days: int | None) -> str:
    return "keep everything" if days is None else f"{days} day{'s' if days != 1 else ''}"


def retention_cutoff(*, project: Project, now: datetime | None = None) -> datetime | None:
    """Events before this time are past the project's retention: it keeps ``retention_days``
    whole days, today included, in its timezone. None when it keeps everything."""
    if not project.retention_days:
        return None
    first_kept = local_today(project=project, now=now) - timedelta(days=project.retention_days - 1)
    return _local_midnight(first_kept, ZoneInfo(project.timezone))


def retention_apply(*, project: Project, now: datetime | None = None) -> dict[str, int] | None:
    """Delete the project's events older than its retention from every table. Returns the
    rows removed per table, or None when there was nothing to remove (one count of the
    events before the cutoff, read from the sort key, and nothing else)."""
    cutoff = retention_cutoff(project=project, now=now)
    if cutoff is None:
        return None
    older = clickhouse.query(
        "SELECT count() FROM events WHERE project_id = {project_id:UInt64} AND timestamp < {cutoff:DateTime64(3, 'UTC')}",
        {"project_id": project.id, "cutoff": cutoff},
    ).scalar()
    if not older:
        return None
    removed = rows_delete_locked(Condition.events(project.id, until=cutoff))
    project.retention_applied_at = django_timezone.now()
    Project.objects.filter(id=project.id).update(retention_applied_at=project.retention_applied_at)
    first_kept = cutoff.astimezone(ZoneInfo(project.timezone)).date()
    audit_record(
        project=project,
        actor=None,
        action=AuditEntry.Action.RETENTION_APPLIED,
        summary=f"Retention ({_days_text(project.retention_days)}) removed {removed.get('events', 0)} events before {first_kept:%Y-%m-%d}.",
        details={"retention_days": project.retention_days, "cutoff": cutoff.isoformat(), "rows_removed": removed},
    )
    return removed


def retention_apply_all(*, now: datetime | None = None) -> dict[int, int]:
    """Apply every project's retention; returns the events removed per project that lost some.
    A project whose run fails is logged and tried again next time."""
    removed = {}
    for project in Project.objects.filter(retention_days__isnull=False).order_by("id"):
        try:
            rows = retention_apply(project=project, now=now)
        except Exception:
            logger.exception("retention of project %s failed; it is tried again on the next run", project.id)
            continue
        if rows:
            removed[project.id] = rows.get("events", 0)
    return removed
