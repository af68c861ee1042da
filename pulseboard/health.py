"""``GET /healthz``: the state of each component and the stream backlog. 503 if any is down."""

from __future__ import annotations

import time

from django.db import connection
from django.http import JsonResponse

from apps.ingest import stream
from pulseboard import clickhouse


def _timed(check):
    started = time.perf_counter()
    try:
        detail = check()
        state = {"ok": True}
        if detail:
            state.update(detail)
    except Exception as exc:  # a health check reports every failure, whatever its kind
        state = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}
    state["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return state


def _db():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"engine": connection.vendor}


def _redis():
    stream.client().ping()


def _clickhouse():
    clickhouse.query("SELECT 1")
    return {"backend": clickhouse.backend().name}


def livez(request):
    """Liveness: the process answers HTTP. No dependency is checked (that is /healthz)."""
    return JsonResponse({"status": "ok"})


def healthz(request):
    components = {"db": _timed(_db), "redis": _timed(_redis), "clickhouse": _timed(_clickhouse)}
    backlog = None
    if components["redis"]["ok"]:
        try:
            current = stream.stream_backlog()
            backlog = {"pending": current.entries, "oldest_age_seconds": current.oldest_age_seconds}
        except Exception as exc:  # reported, not raised: the answer must still come back
            backlog = {"error": str(exc)[:500]}
    ok = all(c["ok"] for c in components.values())
    return JsonResponse({"status": "ok" if ok else "unavailable", "components": components, "stream": backlog}, status=200 if ok else 503)
