import logging
import os
import socket

from celery import shared_task
from django.conf import settings

from apps.ingest import lifecycle, reconcile, services, stream
from apps.ingest.models import EventDeletion, ReconcileRun

logger = logging.getLogger(__name__)


def consumer_name() -> str:
    """One stream consumer per worker process; a restarted worker is a new consumer."""
    return f"{socket.gethostname()}:{os.getpid()}"


# Beat runs this about every second. It needs no retry policy of its own: a failed run
# leaves its entries pending, and the next tick writes them (see services.events_flush).
@shared_task(name="ingest.flush_events", ignore_result=True, expires=10)
def flush_events() -> dict:
    try:
        stats = services.events_flush(
            consumer=consumer_name(),
            max_events=settings.FLUSH_MAX_EVENTS,
            max_bytes=settings.FLUSH_MAX_BYTES,
            claim_idle_ms=settings.FLUSH_CLAIM_IDLE_MS,
            max_seconds=settings.FLUSH_MAX_SECONDS,
        )
    except Exception as exc:
        stream.flush_status_record(error=f"{type(exc).__name__}: {exc}")
        raise
    stream.flush_status_record(error=None)
    if stats.events_written or stats.duplicates_skipped or stats.events_refused:
        logger.info(
            "flushed %d events in %d batches (%d duplicates skipped, %d refused)",
            stats.events_written,
            stats.batches,
            stats.duplicates_skipped,
            stats.events_refused,
        )
    return stats.__dict__


@shared_task(name="ingest.prune_ingest_requests", ignore_result=True)
def prune_ingest_requests() -> int:
    stream.consumers_prune(idle_ms=3600 * 1000)
    return services.ingest_requests_prune(older_than_hours=settings.INGEST_IDEMPOTENCY_TTL_HOURS)


# Nightly by beat, or queued by `manage.py reconcile` (with the run it recorded).
@shared_task(name="ingest.reconcile_rollups", ignore_result=True)
def reconcile_rollups(run_id: int | None = None) -> int:
    run = ReconcileRun.objects.filter(id=run_id).first() if run_id is not None else None
    return reconcile.reconcile_run(
        run=run,
        project_id=run.project_id if run else None,
        repair=run.repair if run else True,
    ).drift


# Queued by the Data page when an owner confirms a deletion of events; runs at once on a
# worker. While writers or another deletion hold the write lock it stays queued and is
# tried again; any other failure is recorded on the deletion (its status and error).
@shared_task(
    name="ingest.delete_events", ignore_result=True, autoretry_for=(stream.WriteLockBusy,), retry_backoff=5, max_retries=8
)
def delete_events(deletion_id: str) -> None:
    deletion = EventDeletion.objects.select_related("project").filter(id=deletion_id, status=EventDeletion.Status.QUEUED).first()
    if deletion is not None:
        lifecycle.event_deletion_run(deletion=deletion)


# Every hour by beat: each project's retention (a count per project when nothing is due).
@shared_task(name="ingest.apply_retention", ignore_result=True)
def apply_retention() -> dict:
    return lifecycle.retention_apply_all()


# Every hour by beat: the IP hash's day salts whose 48 hours are over (apps/ingest/salt.py).
@shared_task(name="ingest.prune_ip_salts", ignore_result=True)
def prune_ip_salts() -> int:
    from apps.ingest.salt import ip_salts_prune

    return ip_salts_prune()
