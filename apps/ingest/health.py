"""What ingest adds to ``/healthz`` (registered in :class:`apps.ingest.apps.IngestConfig`)."""

from __future__ import annotations

from apps.ingest import stream
from apps.ingest.models import ReconcileRun


def stream_report() -> dict:
    """Accepted events not yet written, and the age of the oldest."""
    current = stream.stream_backlog()
    return {"pending": current.entries, "oldest_age_seconds": current.oldest_age_seconds}


def dead_letter_report() -> dict:
    """Events ClickHouse refused, kept for an operator (``manage.py deadletter``)."""
    return {"events": stream.deadletter_count()}


def flush_report() -> dict:
    """When the flush last succeeded, and its error if the runs since have failed."""
    return stream.flush_status()


def reconcile_report() -> dict | None:
    """The last finished rollup reconciliation: when, and the drift it found and repaired."""
    run = ReconcileRun.objects.exclude(finished_at=None).order_by("-finished_at").first()
    if run is None:
        return None
    return {
        "run": run.id,
        "status": run.status,
        "finished_at": run.finished_at.isoformat(),
        "buckets": run.buckets,
        "drift": run.drift,
        "repaired": run.repaired,
    }
