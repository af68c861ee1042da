"""Rollup reconciliation: every rollup agrees with ``events``, and drift is repaired.

The flush writes each batch so that every table ends up with each event exactly once (see
:func:`apps.ingest.services.batch_write`). This is the check behind that promise, run
nightly by beat and on demand (``manage.py reconcile``): for each project and rollup, it
compares a fingerprint of every bucket (an hour, or a day for the day tables) computed from
the rollup with the same computed from ``events``. A bucket that differs is checked again
while no batch is being written (the writers' lock, :func:`apps.ingest.stream.writers_excluded`),
so that an insert half-way through its views is not taken for drift, and if it still
differs it is rebuilt from ``events``. The run is recorded, and ``/healthz`` reports the last.

Apps above ingest that add a rollup fed from ``events`` register it with :func:`rollup_register`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable

from django.utils import timezone as django_timezone

from apps.ingest import sql, stream
from apps.ingest.models import ReconcileRun
from apps.projects.models import Project
from pulseboard import clickhouse

logger = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# The whole time axis of a DateTime.
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
END_OF_TIME = datetime(2105, 12, 31, tzinfo=timezone.utc)
# Drifting buckets listed in a run's record (all are repaired).
DETAILS_MAX = 100


@dataclass(frozen=True)
class Rollup:
    """A table filled from ``events`` by a materialised view.

    ``from_events`` selects the table's rows, as its view would, for the events of one
    project in [start, end); ``rollup`` selects the table's own rows for that range (the
    columns ``fingerprint`` hashes); ``fingerprint`` (with ``{source}`` for either) gives
    ``bucket, n, h`` per bucket; ``range`` is the WHERE condition of the table's rows in
    the range, used to delete a bucket before it is rebuilt.
    """

    table: str
    bucket: timedelta
    from_events: str
    rollup: str
    fingerprint: str
    range: str

    def fingerprint_sql(self, *, of_events: bool) -> str:
        return self.fingerprint.format(source=self.from_events if of_events else self.rollup)


ROLLUPS: list[Rollup] = [
    Rollup("event_counts_15m", HOUR, sql.EVENT_COUNTS_FROM_EVENTS, sql.EVENT_COUNTS_ROLLUP, sql.EVENT_COUNTS_FINGERPRINT, sql.SLOT_RANGE),
    Rollup("person_slots_15m", HOUR, sql.PERSON_SLOTS_FROM_EVENTS, sql.PERSON_SLOTS_ROLLUP, sql.PERSON_SLOTS_FINGERPRINT, sql.SLOT_RANGE),
    Rollup(
        "session_slots_15m", HOUR, sql.SESSION_SLOTS_FROM_EVENTS, sql.SESSION_SLOTS_ROLLUP, sql.SESSION_SLOTS_FINGERPRINT, sql.SLOT_RANGE
    ),
    Rollup(
        "session_parts_15m", HOUR, sql.SESSION_PARTS_FROM_EVENTS, sql.SESSION_PARTS_ROLLUP, sql.SESSION_PARTS_FINGERPRINT, sql.SLOT_RANGE
    ),
    Rollup("person_days", DAY, sql.PERSON_DAYS_FROM_EVENTS, sql.PERSON_DAYS_ROLLUP, sql.PERSON_DAYS_FINGERPRINT, sql.DAY_RANGE),
    Rollup(
        "person_event_days",
        DAY,
        sql.PERSON_EVENT_DAYS_FROM_EVENTS,
        sql.PERSON_EVENT_DAYS_ROLLUP,
        sql.PERSON_EVENT_DAYS_FINGERPRINT,
        sql.DAY_RANGE,
    ),
    Rollup(
        "funnel_events", HOUR, sql.FUNNEL_EVENTS_FROM_EVENTS, sql.FUNNEL_EVENTS_ROLLUP, sql.FUNNEL_EVENTS_FINGERPRINT, sql.ORDER_KEY_RANGE
    ),
]


def rollup_register(rollup: Rollup) -> None:
    """Have the reconciler check (and repair) another table fed from ``events``."""
    if all(existing.table != rollup.table for existing in ROLLUPS):
        ROLLUPS.append(rollup)


@dataclass(frozen=True)
class Drift:
    table: str
    project_id: int
    bucket: datetime
    events: int  # keys (or events) per the events table
    rollup: int  # per the rollup

    def as_json(self) -> dict:
        return {
            "table": self.table,
            "project_id": self.project_id,
            "bucket": self.bucket.isoformat(),
            "events": self.events,
            "rollup": self.rollup,
        }


@dataclass
class Report:
    buckets: int = 0
    drift: list[Drift] = field(default_factory=list)
    repaired: int = 0


def _fingerprints(rollup: Rollup, *, of_events: bool, project_id: int, start: datetime, end: datetime) -> dict[datetime, tuple[int, int]]:
    result = clickhouse.query(rollup.fingerprint_sql(of_events=of_events), {"project_id": project_id, "start": start, "end": end})
    return {bucket: (n, h) for bucket, n, h in result.rows}


def _drifting(rollup: Rollup, *, project_id: int, start: datetime, end: datetime) -> tuple[int, list[Drift]]:
    truth = _fingerprints(rollup, of_events=True, project_id=project_id, start=start, end=end)
    held = _fingerprints(rollup, of_events=False, project_id=project_id, start=start, end=end)
    buckets = sorted(set(truth) | set(held))
    drift = [
        Drift(rollup.table, project_id, bucket, truth.get(bucket, (0, 0))[0], held.get(bucket, (0, 0))[0])
        for bucket in buckets
        if truth.get(bucket) != held.get(bucket)
    ]
    return len(buckets), drift


def _ranges_where(rollup: Rollup, *, project_id: int, ranges: list[tuple[datetime, datetime]]) -> tuple[str, dict]:
    """The condition of a rollup's rows in any of these [start, end) ranges, with its parameters."""
    conditions, params = [], {"project_id": project_id}
    for i, (start, end) in enumerate(ranges):
        conditions.append("(" + rollup.range.replace("{start:", f"{{start_{i}:").replace("{end:", f"{{end_{i}:") + ")")
        params.update({f"start_{i}": start, f"end_{i}": end})
    return " OR ".join(conditions), params


def rollup_count(rollup: Rollup, *, project_id: int, ranges: list[tuple[datetime, datetime]]) -> int:
    """The rollup's rows in these ranges."""
    where, params = _ranges_where(rollup, project_id=project_id, ranges=ranges)
    return clickhouse.query(f"SELECT count() FROM {rollup.table} WHERE {where}", params).scalar()


def rollup_clear(rollup: Rollup, *, project_id: int, ranges: list[tuple[datetime, datetime]]) -> None:
    """Start deleting the rollup's rows in these ranges: one DELETE, which touches every part
    of the table however many ranges it names. It returns at once; wait for it with
    :func:`pulseboard.clickhouse.mutations_wait` before :func:`rollup_fill`."""
    where, params = _ranges_where(rollup, project_id=project_id, ranges=ranges)
    clickhouse.command(f"DELETE FROM {rollup.table} WHERE {where} SETTINGS lightweight_deletes_sync = 0", params)


def rollup_fill(rollup: Rollup, *, project_id: int, ranges: list[tuple[datetime, datetime]]) -> None:
    """Insert the rollup's rows of these ranges as computed from events."""
    for start, end in ranges:
        # Not deduplicated: a rebuilt bucket may well have the very rows of an earlier insert.
        clickhouse.command(
            f"INSERT INTO {rollup.table} {rollup.from_events} SETTINGS insert_deduplicate = 0",
            {"project_id": project_id, "start": start, "end": end},
        )


def rollup_rebuild(rollup: Rollup, *, project_id: int, ranges: list[tuple[datetime, datetime]]) -> None:
    """Compute a rollup's rows of these ranges again from events (hold the writers' lock)."""
    rollup_clear(rollup, project_id=project_id, ranges=ranges)
    clickhouse.mutations_wait([rollup.table])
    rollup_fill(rollup, project_id=project_id, ranges=ranges)


def rollups_check(*, project_ids: list[int], since: datetime | None = None, repair: bool = True) -> Report:
    """Compare every rollup with ``events`` for these projects (from ``since``, or all
    time), and rebuild the buckets that drifted when ``repair``."""
    report = Report()
    start = since or EPOCH
    found: list[Drift] = []
    for project_id in project_ids:
        for rollup in ROLLUPS:
            buckets, drift = _drifting(rollup, project_id=project_id, start=start, end=END_OF_TIME)
            report.buckets += buckets
            found += drift
    if not found:
        return report
    if not repair:
        report.drift = found
        return report
    by_table = {rollup.table: rollup for rollup in ROLLUPS}
    suspects: dict[tuple[str, int], list[datetime]] = {}
    for candidate in found:
        suspects.setdefault((candidate.table, candidate.project_id), []).append(candidate.bucket)
    with stream.writers_excluded():
        for (table, project_id), buckets in suspects.items():
            rollup = by_table[table]
            start, end = min(buckets), max(buckets) + rollup.bucket
            # Checked again with no insert in flight: what still differs is real drift.
            _, still = _drifting(rollup, project_id=project_id, start=start, end=end)
            report.drift += still
            if still:
                rollup_rebuild(rollup, project_id=project_id, ranges=bucket_runs([d.bucket for d in still], rollup.bucket))
            _, after = _drifting(rollup, project_id=project_id, start=start, end=end)
            if after:
                logger.error("reconcile: %s of project %s still differs after a rebuild in %d buckets", table, project_id, len(after))
            report.repaired += len(still) - len(after)
    return report


# Buckets closer than this many buckets are rebuilt as one range: a rebuild is exact for the
# buckets between them too, and each range is one more INSERT that reads events.
RUN_GAP = 48


def bucket_runs(buckets: list[datetime], step: timedelta) -> list[tuple[datetime, datetime]]:
    """Sorted buckets as ranges [start, end), those less than :data:`RUN_GAP` apart merged."""
    runs: list[tuple[datetime, datetime]] = []
    for bucket in sorted(buckets):
        if runs and bucket - runs[-1][1] < step * RUN_GAP:
            runs[-1] = (runs[-1][0], bucket + step)
        else:
            runs.append((bucket, bucket + step))
    return runs


def reconcile_run(
    *, run: ReconcileRun | None = None, project_id: int | None = None, since: datetime | None = None, repair: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> ReconcileRun:
    """Reconcile every project's rollups (or one project's) and record the run."""
    run = run or ReconcileRun.objects.create(project_id=project_id, repair=repair)
    run.status = ReconcileRun.Status.RUNNING
    run.started_at = django_timezone.now()
    run.save(update_fields=["status", "started_at"])
    ids = [project_id] if project_id is not None else list(Project.objects.order_by("id").values_list("id", flat=True))
    total = Report()
    try:
        for done, pid in enumerate(ids, start=1):
            part = rollups_check(project_ids=[pid], since=since, repair=repair)
            total.buckets += part.buckets
            total.drift += part.drift
            total.repaired += part.repaired
            if progress is not None:
                progress(done, len(ids))
    except Exception as exc:
        run.status = ReconcileRun.Status.FAILED
        run.error = f"{type(exc).__name__}: {exc}"[:2000]
        raise
    else:
        run.status = ReconcileRun.Status.DONE
    finally:
        run.projects = len(ids)
        run.buckets = total.buckets
        run.drift = len(total.drift)
        run.repaired = total.repaired
        run.details = [d.as_json() for d in total.drift[:DETAILS_MAX]]
        run.finished_at = django_timezone.now()
        run.save()
    if total.drift:
        logger.warning("reconcile: %d drifting buckets found, %d repaired", len(total.drift), total.repaired)
    return run
