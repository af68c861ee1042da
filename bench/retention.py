"""Retention on chdb: a scheduled DELETE through the deletion helper against ClickHouse TTL.

Fills a fresh chdb (a temporary directory) with N events of one project spread over 90 days
(the materialised views fill every rollup and person table), then measures:

* the retention task's check when nothing is due (one count of events before the cutoff);
* the helper deleting everything older than 60 days from every table (the first run after
  retention is set), then one more day (the daily run after that);
* deleting the whole project, as project deletion does, for comparison;
* TTL on a copy of ``events`` alone: ``MODIFY TTL`` (which rewrites every part to apply it),
  one TTL merge of a month's partition (what ClickHouse repeats in the background, every
  ``merge_with_ttl_timeout``, while a partition holds expired rows), and whether a TTL can
  be per project at all (a TTL that reads a dictionary of retention days).

    .venv/bin/python bench/retention.py [--events 1000000]

Redis must answer at ``REDIS_URL`` (the writers' lock); Postgres is not used.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pulseboard.test_settings")  # a temporary var dir and Redis prefix

import django  # noqa: E402

django.setup()

from apps.ingest import stream  # noqa: E402
from apps.ingest.deletion import Condition, rows_delete_locked  # noqa: E402
from pulseboard import clickhouse  # noqa: E402
from pulseboard.clickhouse.migrate import migrations_apply  # noqa: E402

PROJECT = 1
DAYS = 90


@contextmanager
def timed(label: str, results: dict):
    start = time.perf_counter()
    yield
    results[label] = time.perf_counter() - start
    print(f"{label:<72} {results[label] * 1000:9.1f} ms", flush=True)


def parts(table: str) -> int:
    return clickhouse.query(
        "SELECT count() FROM system.parts WHERE database = currentDatabase() AND table = {t:String} AND active", {"t": table}
    ).scalar()


def fill(events: int, now: datetime) -> None:
    step = DAYS * 86400 * 1000 // events  # milliseconds between two events
    clickhouse.command(
        f"""
        INSERT INTO events (project_id, event_id, event, timestamp, distinct_id, user_id, anonymous_id, session_id, properties, received_at)
        SELECT {PROJECT}, generateUUIDv4(number), ['$pageview', 'click', 'buy', 'signed_up'][number % 4 + 1],
               {{now:DateTime64(3, 'UTC')}} - toIntervalMillisecond(number * {step}),
               concat('d', toString(number % 50000)), if(number % 7 = 0, concat('u', toString(number % 20000)), ''),
               if(number % 7 = 0, concat('d', toString(number % 50000)), ''), concat('s', toString(intDiv(number, 20))),
               if(number % 100 = 0, '{{"$set": {{"plan": "pro"}}}}', '{{}}'), {{now:DateTime64(3, 'UTC')}}
        FROM numbers({events})
        SETTINGS max_partitions_per_insert_block = 1000, max_insert_threads = 2
        """,
        {"now": now},
    )
    clickhouse.command("OPTIMIZE TABLE events FINAL")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    results: dict[str, float] = {}
    now = datetime.now(timezone.utc).replace(microsecond=0)
    migrations_apply()
    print(f"chdb at {clickhouse.backend().path}; {args.events} events over {DAYS} days", flush=True)
    with timed(f"fill {args.events} events (views fill every table)", results):
        fill(args.events, now)
    print(f"events: {parts('events')} active parts", flush=True)

    # TTL, on a copy of events alone (dropped before the helper runs: it would walk it too).
    clickhouse.command("DROP TABLE IF EXISTS events_ttl")
    clickhouse.command("CREATE TABLE events_ttl AS events")
    clickhouse.command("INSERT INTO events_ttl SELECT * FROM events")
    clickhouse.command("OPTIMIZE TABLE events_ttl FINAL")
    print(f"events_ttl (a copy of events, no views): {parts('events_ttl')} active parts", flush=True)
    try:
        with timed("TTL, events alone: MODIFY TTL 60 DAY (materialised: rewrites every part)", results):
            clickhouse.command("ALTER TABLE events_ttl MODIFY TTL toDateTime(timestamp) + INTERVAL 60 DAY SETTINGS mutations_sync = 2")
        print(f"  keeps {clickhouse.query('SELECT count() FROM events_ttl').scalar()} rows", flush=True)
        with timed("TTL, events alone: a day later (59 DAY), MATERIALIZE TTL (rewrites every part)", results):
            clickhouse.command("ALTER TABLE events_ttl MODIFY TTL toDateTime(timestamp) + INTERVAL 59 DAY SETTINGS mutations_sync = 2")
        with timed("TTL, events alone: a background merge of everything kept (OPTIMIZE FINAL)", results):
            clickhouse.command("OPTIMIZE TABLE events_ttl FINAL")
        with timed("TTL, events alone: per project, DELETE WHERE project_id = 1 (materialised)", results):
            clickhouse.command(
                "ALTER TABLE events_ttl MODIFY TTL toDateTime(timestamp) + INTERVAL 58 DAY DELETE WHERE project_id = 1, "
                "toDateTime(timestamp) + INTERVAL 30 DAY DELETE WHERE project_id = 2 SETTINGS mutations_sync = 2"
            )
        clickhouse.command("ALTER TABLE events_ttl REMOVE TTL")
        cutoff = now - timedelta(days=57)
        with timed("lightweight DELETE, events alone: one more day (as the task would)", results):
            clickhouse.command(
                "DELETE FROM events_ttl WHERE project_id = 1 AND timestamp < {cutoff:DateTime64(3, 'UTC')} SETTINGS lightweight_deletes_sync = 2",
                {"cutoff": cutoff},
            )
        clickhouse.command("CREATE TABLE IF NOT EXISTS retention_days (project_id UInt64, days UInt16) ENGINE = Memory")
        clickhouse.command("DROP DICTIONARY IF EXISTS retention_dict")
        clickhouse.command(
            "CREATE DICTIONARY retention_dict (project_id UInt64, days UInt16) PRIMARY KEY project_id "
            "SOURCE(CLICKHOUSE(TABLE 'retention_days')) LAYOUT(HASHED()) LIFETIME(60)"
        )
        try:
            clickhouse.command(
                "ALTER TABLE events_ttl MODIFY TTL toDateTime(timestamp) + toIntervalDay(dictGetOrDefault('retention_dict', 'days', project_id, 36500))"
            )
            print("per-project TTL read from a dictionary: accepted", flush=True)
        except clickhouse.ClickHouseError as exc:
            print(f"per-project TTL read from a dictionary: refused ({str(exc).splitlines()[0][:140]})", flush=True)
    finally:
        clickhouse.command("DROP TABLE IF EXISTS events_ttl")
        clickhouse.command("DROP DICTIONARY IF EXISTS retention_dict")
        clickhouse.command("DROP TABLE IF EXISTS retention_days")

    # The scheduled task, through the deletion helper: every table, rollups rebuilt at the edge.
    count_before = "SELECT count() FROM events WHERE project_id = {p:UInt64} AND timestamp < {cutoff:DateTime64(3, 'UTC')}"
    try:
        for i in range(3):
            with timed(f"task, nothing due: count of events before the cutoff (run {i + 1})", results):
                assert clickhouse.query(count_before, {"p": PROJECT, "cutoff": now - timedelta(days=DAYS + 1)}).scalar() == 0
        for days in (60, 59):
            cutoff = now - timedelta(days=days)
            due = clickhouse.query(count_before, {"p": PROJECT, "cutoff": cutoff}).scalar()
            with timed(f"task: helper deletes {due} events older than {days} days from every table", results):
                removed = rows_delete_locked(Condition.events(PROJECT, until=cutoff))
            print("  rows removed:", {t: n for t, n in removed.items() if n}, flush=True)
        left = clickhouse.query("SELECT count() FROM events WHERE project_id = {p:UInt64}", {"p": PROJECT}).scalar()
        with timed(f"project deletion: every row of the project ({left} events) from every table", results):
            rows_delete_locked(Condition.project(PROJECT))
    finally:
        r = stream.client()
        for key in r.scan_iter(match=f"{django.conf.settings.REDIS_KEY_PREFIX}:*"):
            r.delete(key)


if __name__ == "__main__":
    main()
