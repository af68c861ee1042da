"""Deleting data on 10M events, and batched ingest while a deletion runs.

It starts from a var directory that ``bench/query.py --keep DIR`` seeded (10M events of the
project "Bench", owned by the login ``bench``) and never changes DIR: each part works on a
copy of it.

1. **In process** (``--only delete``), on a copy: the retention task when there is nothing
   to drop (the project keeps 3,650 days; median of ``--runs``), then deleting one event
   name, then one day, each through the code the Data page's task runs
   (``event_deletion_request`` + ``event_deletion_run``), with the rows removed per table,
   and last the whole project (``project_delete``, which the page runs in its request).
2. **Ingest during a deletion** (``--only ingest``): the embedded deployment (``manage.py
   serve``) on another copy, driven by ``wrk`` as ``bench/ingest.py`` does (50 events per
   request). It measures batched ingest in rounds of ``--round`` events until the rate is
   steady, then asks for a deletion of one day through the Data page as an owner would
   (login, form, confirmation), keeps measuring rounds while the deletion runs, and prints
   the rounds' rates and the loss against the rounds before it. The issue's bound: at most
   20% lost.

    .venv/bin/python bench/deletion.py --from DIR [--only delete|ingest] [--runs 5] [--round 100000]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

PROJECT = "Bench"
MAX_LOSS = 0.20


def copy_var(source: Path, target: Path) -> None:
    """DIR's chdb and config database into ``target`` (a private copy: deletions change it),
    with the database's write-ahead log (rows not yet checkpointed into its file) and DIR's
    secret key when it has them (the key only if ``target`` has none of its own)."""
    started = time.monotonic()
    for name in ("chdb", "pulseboard.sqlite3"):
        path = source / name
        if path.is_dir():
            shutil.copytree(path, target / name, symlinks=True)  # ClickHouse links its tables relatively
        else:
            shutil.copy2(path, target / name)
    wal = source / "pulseboard.sqlite3-wal"
    if wal.exists():
        shutil.copy2(wal, target / wal.name)
    if (source / "secret_key").exists() and not (target / "secret_key").exists():
        shutil.copy2(source / "secret_key", target / "secret_key")
    print(f"    copied {source} to {target} in {time.monotonic() - started:.1f} s", flush=True)


# --- 1. In process ---------------------------------------------------------------------------


def in_process(source: Path, runs: int) -> None:
    var = Path(tempfile.mkdtemp(prefix="pbdelete-"))
    try:
        copy_var(source, var)
        os.environ.update(
            DJANGO_SETTINGS_MODULE="pulseboard.settings",
            PULSEBOARD_VAR_DIR=str(var),
            REDIS_KEY_PREFIX=f"pbbench-delete:{os.getpid()}",
        )
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.core.management import call_command

        from pulseboard.clickhouse.migrate import migrations_apply

        call_command("migrate", verbosity=0)  # DIR may predate this code's migrations
        migrations_apply()
        from apps.ingest import lifecycle
        from apps.projects.models import Project
        from pulseboard import clickhouse

        project = Project.objects.get(name=PROJECT)
        total = clickhouse.query("SELECT count() FROM events WHERE project_id = {p:UInt64}", {"p": project.id}).scalar()
        parts = clickhouse.query("SELECT count() FROM system.parts WHERE active AND database = currentDatabase()").scalar()
        print(f"\n== in process: {total:,} events of project {project.id} ({project.timezone}), {parts} active parts", flush=True)

        project.retention_days = 3650
        project.save(update_fields=["retention_days"])
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            assert lifecycle.retention_apply(project=project) is None, "the data is older than 3,650 days?"
            times.append((time.perf_counter() - started) * 1000)
        print(f"    retention task, nothing to drop: p50 {statistics.median(times):.1f} ms over {runs} runs ({', '.join(f'{t:.0f}' for t in times)})")

        # The event name in the middle of the catalog by volume: neither a handful of rows nor most of them.
        names = clickhouse.query(
            "SELECT event FROM events WHERE project_id = {p:UInt64} GROUP BY event ORDER BY count() DESC", {"p": project.id}
        ).rows
        name = names[len(names) // 2][0]
        newest = clickhouse.query("SELECT max(timestamp) FROM events WHERE project_id = {p:UInt64}", {"p": project.id}).scalar()
        day = newest.date() - timedelta(days=10)
        for label, what in [
            (f"one event name ({name})", {"event": name, "date_from": None, "date_to": None}),
            (f"one day ({day}, {project.timezone})", {"event": "", "date_from": day, "date_to": day}),
        ]:
            deletion = lifecycle.event_deletion_request(project=project, user=None, confirm=project.name, **what)
            started = time.perf_counter()
            lifecycle.event_deletion_run(deletion=deletion)
            seconds = time.perf_counter() - started
            rows = ", ".join(f"{table} {count:,}" for table, count in sorted(deletion.rows_removed.items()) if count)
            print(f"    delete {label}: {seconds:.2f} s, {deletion.rows_matched:,} events matched; rows removed: {rows}", flush=True)
        left = clickhouse.query("SELECT count() FROM events WHERE project_id = {p:UInt64}", {"p": project.id}).scalar()
        started = time.perf_counter()
        lifecycle.project_delete(project=project, actor=None, confirm=project.name)
        print(f"    delete the project ({left:,} events): {time.perf_counter() - started:.2f} s", flush=True)
    finally:
        shutil.rmtree(var, ignore_errors=True)


# --- 2. Ingest while a deletion runs ---------------------------------------------------------------


def login(stack, username: str, password: str):
    import requests

    session = requests.Session()
    session.get(f"{stack.base_url}/login/", timeout=30)
    answer = session.post(
        f"{stack.base_url}/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": f"{stack.base_url}/login/"},
        timeout=30,
    )
    if "sessionid" not in session.cookies:
        raise SystemExit(f"could not log in as {username}: {answer.status_code}")
    return session


def deletion_state(var: Path) -> tuple[str, float | None]:
    """The newest event deletion's status and how long it ran, read from the config database."""
    with sqlite3.connect(var / "pulseboard.sqlite3", timeout=30) as db:
        row = db.execute(
            "SELECT status, started_at, finished_at FROM ingest_eventdeletion ORDER BY requested_at DESC LIMIT 1"
        ).fetchone()
    if row is None:
        return "none", None
    status, started, finished = row
    if started and finished:
        from datetime import datetime

        return status, (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    return status, None


def during_ingest(source: Path, round_events: int, warm_rounds: int) -> bool:
    from ingest import MODES, ingest_load, wait_drained, wrk_ensure
    from stack import Stack

    wrk_ensure()
    mode = MODES["batch"]
    stack = Stack("embedded", label="bench")
    try:
        copy_var(source, stack.var_dir)
        stack.start(timeout_s=180)
        boot = stack.bootstrap()
        api_key, project_id = boot["api_key"], boot["project_id"]
        session = login(stack, boot["username"], boot["password"])
        print(f"\n== ingest during a deletion: embedded at {stack.base_url}, project {project_id}, rounds of {round_events:,} events", flush=True)

        def round_(label: str) -> float:
            load = ingest_load(stack, api_key, mode, target=round_events, concurrency=mode.default_concurrency, max_seconds=300, label=label)
            return load.events_per_s

        before = [round_(f"before #{i + 1}") for i in range(warm_rounds)]
        wait_drained(stack, label="before", timeout_s=300)
        print("    before: " + ", ".join(f"{r:,.0f}" for r in before) + " ev/s", flush=True)

        data_url = f"{stack.base_url}/projects/{project_id}/settings/data/"
        page = session.get(data_url, timeout=60).text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        day = (date.today() - timedelta(days=10)).isoformat()
        form = {"event": "", "date_from": day, "date_to": day, "confirm": PROJECT, "csrfmiddlewaretoken": token}
        asked = session.post(f"{data_url}events/delete/", data=form, headers={"Referer": data_url}, timeout=60)
        if asked.status_code >= 400:
            raise SystemExit(f"the deletion was refused: {asked.status_code}\n{asked.text[:500]}")
        # A round counts when the deletion was still running at its end: it overlapped it whole.
        during, partly = [], None
        while partly is None:
            rate = round_(f"during #{len(during) + 1}")
            status, _ = deletion_state(stack.var_dir)
            if status in ("done", "failed"):
                partly = rate
            else:
                during.append(rate)
        status, seconds = deletion_state(stack.var_dir)
        after = [round_(f"after #{i + 1}") for i in range(2)]
        wait_drained(stack, label="after", timeout_s=600)
        if status != "done":
            print(f"    the deletion ended {status}")
            return False
        base = statistics.median(before[1:] or before)
        print(f"    deletion of {day}: {seconds:.1f} s")
        print("    during: " + (", ".join(f"{r:,.0f}" for r in during) or "no whole round") + f" ev/s (then {partly:,.0f} in the round it ended in)")
        print("    after:  " + ", ".join(f"{r:,.0f}" for r in after) + " ev/s")
        if not during:
            print("    the deletion ended within the first round: use a smaller --round")
            return False
        loss = 1 - statistics.mean(during) / base
        print(f"    loss during the deletion: {loss:.1%} of {base:,.0f} ev/s (bound {MAX_LOSS:.0%}): {'OK' if loss <= MAX_LOSS else 'MISSED'}")
        return loss <= MAX_LOSS
    finally:
        stack.stop()
        stack.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", required=True, type=Path, help="a var directory seeded by bench/query.py --keep")
    parser.add_argument("--only", choices=["delete", "ingest"])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--round", type=int, default=50_000, help="events per ingest round")
    parser.add_argument("--warm-rounds", type=int, default=4)
    args = parser.parse_args()
    if not (args.source / "chdb").is_dir():
        raise SystemExit(f"{args.source} holds no chdb: seed it first with .venv/bin/python bench/query.py --keep {args.source}")
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
    print(f"machine: {os.cpu_count()} cores, {cpu}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    ok = True
    if args.only in (None, "ingest"):
        # First: the in-process part sets Django up in this process, which the stack does not need.
        ok = during_ingest(args.source, args.round, args.warm_rounds)
    if args.only in (None, "delete"):
        in_process(args.source, args.runs)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
