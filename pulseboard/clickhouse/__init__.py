"""The one package that talks to ClickHouse: backends, versioned DDL, insert and query.

No other module imports chdb or clickhouse_driver. Use :func:`query`, :func:`command` and
:func:`insert_json_each_row`; they run on chdb (embedded) or a ClickHouse server
(``CLICKHOUSE_URL``) with the same SQL text and ``{name:Type}`` parameters.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Iterable

from pulseboard.clickhouse.backends import Backend, ClickHouseBusy, ClickHouseError, Result

__all__ = [
    "Backend",
    "ClickHouseBusy",
    "ClickHouseError",
    "Result",
    "backend",
    "command",
    "insert_json_each_row",
    "mutations_wait",
    "query",
]

_backend: Backend | None = None
_backend_lock = threading.Lock()


def backend() -> Backend:
    """The process-wide backend, opened on first use from settings."""
    global _backend
    if _backend is None:
        with _backend_lock:
            if _backend is None:
                from django.conf import settings

                if settings.CLICKHOUSE_URL:
                    from pulseboard.clickhouse.backends import DriverBackend

                    _backend = DriverBackend(settings.CLICKHOUSE_URL, settings.CLICKHOUSE_DATABASE)
                else:
                    from pulseboard.clickhouse.backends import ChdbBackend

                    _backend = ChdbBackend(settings.CHDB_PATH, settings.CLICKHOUSE_DATABASE)
    return _backend


def query(sql: str, params: dict[str, Any] | None = None) -> Result:
    return backend().query(sql, params)


def command(sql: str, params: dict[str, Any] | None = None) -> None:
    backend().command(sql, params)


def insert_json_each_row(table: str, columns: Iterable[str], payload: bytes, *, token: str | None = None) -> int:
    return backend().insert_json_each_row(table, columns, payload, token=token)


def mutations_wait(tables: Iterable[str], *, timeout: float = 600.0) -> None:
    """Wait until no mutation of these tables is pending.

    A ``DELETE`` touches every part of its table, one part after another; ClickHouse runs
    the mutations of different tables side by side. So statements that delete from several
    tables are sent with ``lightweight_deletes_sync = 0`` (they return at once) and then
    waited for here together. Raises :class:`ClickHouseError` with ClickHouse's reason if
    one fails (ClickHouse would retry it forever), or when ``timeout`` passes.
    """
    names = sorted(set(tables))
    deadline = time.monotonic() + timeout
    pause = 0.02
    while True:
        pending = query(
            "SELECT table, latest_fail_reason FROM system.mutations"
            " WHERE database = currentDatabase() AND table IN {tables:Array(String)} AND NOT is_done",
            {"tables": names},
        ).rows
        if not pending:
            return
        for table, reason in pending:
            if reason:
                raise ClickHouseError(f"the mutation of {table} failed: {reason}")
        if time.monotonic() > deadline:
            raise ClickHouseError(f"mutations of {', '.join(sorted({t for t, _ in pending}))} still pending after {timeout:.0f} s")
        time.sleep(pause)
        pause = min(pause * 2, 0.5)
