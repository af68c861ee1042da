"""``GET /healthz``: the state of each component, and what the apps above report. 503 if a
component is down.

The components (the config database, Redis and ClickHouse) are checked here. Apps add
sections of their own with :func:`health_section_register` in their ``AppConfig.ready()``
(ingest reports its stream backlog, the dead-letter stream, the flush and the last rollup
reconciliation), so this module never imports them.
"""

from __future__ import annotations

import time
from typing import Callable

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse

from pulseboard import clickhouse

_sections: dict[str, Callable[[], dict | None]] = {}


def health_section_register(*, name: str, report: Callable[[], dict | None]) -> None:
    """Add ``name`` to every /healthz answer, with what ``report()`` returns. A report that
    raises shows as ``{"error": ...}``; it never turns the answer into a 503 by itself."""
    _sections[name] = report


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
    redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2).ping()


def _clickhouse():
    clickhouse.query("SELECT 1")
    return {"backend": clickhouse.backend().name}


def livez(request):
    """Liveness: the process answers HTTP. No dependency is checked (that is /healthz)."""
    return JsonResponse({"status": "ok"})


def healthz(request):
    components = {"db": _timed(_db), "redis": _timed(_redis), "clickhouse": _timed(_clickhouse)}
    ok = all(c["ok"] for c in components.values())
    body: dict = {"status": "ok" if ok else "unavailable", "components": components}
    for name, report in _sections.items():
        try:
            body[name] = report()
        except Exception as exc:  # reported, not raised: the answer must still come back
            body[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    return JsonResponse(body, status=200 if ok else 503)
