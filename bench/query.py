"""Query benchmark: the insight endpoints, the overview page and funnels on 10M realistic events.

    .venv/bin/python bench/query.py [--events 10000000] [--days 30] [--runs 10] [--keep DIR]

Seeds a fresh chdb directory with `seed_events` traffic (about 100k monthly users for
10M events), then, in this process, times each endpoint through Django's whole request
stack (URL routing, middleware, session auth, serialisation or template rendering) and
the very same ClickHouse queries run directly on chdb, p50 of --runs each (the two in turns),
and prints the ratio endpoint / raw SQL. Nothing here is asserted: it prints what it measures.

It also holds what the other in-process benchmarks (events_page, paths, sessions, web) share:
the copy of a seeded var directory, Django's setup, and the timing and report of their cases.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_INSIGHT_MS = 200
TARGET_OVERVIEW_PAGE_MS = 500
TARGET_RATIO = 1.5
TARGET_FUNNEL_MS = 300
TARGET_PERSONS_MS = 300


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--keep", help="Use (and keep) this var directory; reuses its data if already seeded.")
    parser.add_argument(
        "--signups", type=float, default=3.0,
        help="Scale of the sign-up chance of the seeded visitors (default 3: about 40%% of persons then have two ids or more).",
    )
    parser.add_argument("--only", action="append", default=[], metavar="TEXT", help="Time only the cases whose name contains TEXT (repeatable).")
    return parser.parse_args()


def from_args(doc: str | None, runs: int = 10, options=None) -> argparse.Namespace:
    """--from DIR (a var directory seeded by this script's --keep, checked) and --runs;
    ``options(parser)`` adds a script's own."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", required=True, type=Path, help="a var directory seeded by bench/query.py --keep DIR (read only)")
    parser.add_argument("--runs", type=int, default=runs)
    if options is not None:
        options(parser)
    args = parser.parse_args()
    if not (args.source / "chdb").is_dir():
        raise SystemExit(f"{args.source} holds no chdb: seed it first with .venv/bin/python bench/query.py --keep {args.source}")
    return args


@contextmanager
def var_copy(source: Path, prefix: str):
    """A private copy of the var directory ``source`` (never written), removed afterwards."""
    from deletion import copy_var

    var = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        copy_var(source, var)
        yield var
    finally:
        shutil.rmtree(var, ignore_errors=True)


def setup_django(var_dir: str) -> None:
    """Django on ``var_dir``, with its Django and ClickHouse migrations applied."""
    os.environ["PULSEBOARD_VAR_DIR"] = str(var_dir)
    os.environ.setdefault("REDIS_KEY_PREFIX", f"pbbench:{uuid.uuid4().hex[:8]}")
    os.environ["DJANGO_SETTINGS_MODULE"] = "pulseboard.settings"
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from pulseboard.clickhouse.migrate import migrations_apply

    migrations_apply()


def bench_login(project_name: str = "Bench", username: str = "bench"):
    """The project a ``--keep`` directory was seeded for, a test client logged in as its user,
    and the number of its events."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from apps.projects.models import Project
    from pulseboard import clickhouse

    project = Project.objects.get(name=project_name)
    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    events = clickhouse.query("SELECT count() FROM events WHERE project_id = {p:UInt64}", {"p": project.id}).scalar()
    return project, client, events


def seed(project_id: int, events: int, days: int, signups: float) -> tuple[float, float]:
    from pulseboard import clickhouse

    stored = clickhouse.query("SELECT count() FROM events WHERE project_id = {p:UInt64}", {"p": project_id}).scalar()
    if stored >= events:
        print(f"reusing {stored:,} stored events")
        return 0.0, 0.0
    from tqdm import tqdm

    from apps.demo.services import events_seed

    started = time.perf_counter()
    with tqdm(total=events, unit="ev", unit_scale=True, desc="seeding") as bar:
        written = events_seed(project_id=project_id, days=days, events=events, seed=1, progress=bar.update, signups=signups)
    elapsed = time.perf_counter() - started
    return elapsed, written / elapsed


def settle_merges(limit_seconds: float = 300) -> None:
    """Wait until ClickHouse has merged the parts the seeding wrote (a merge running in the
    background would slow whichever query it overlaps, and a live install is past it)."""
    from pulseboard import clickhouse

    started = time.monotonic()
    while clickhouse.query("SELECT count() FROM system.merges").scalar() and time.monotonic() - started < limit_seconds:
        time.sleep(1)
    print(f"background merges settled after {time.monotonic() - started:.0f} s", flush=True)


@contextmanager
def recorded_queries():
    """Collect the (sql, params) of every ClickHouse query run inside the block."""
    from pulseboard import clickhouse

    original = clickhouse.query
    seen: list[tuple[str, dict]] = []

    def recording(sql, params=None):
        seen.append((sql, params))
        return original(sql, params)

    clickhouse.query = recording
    try:
        yield seen
    finally:
        clickhouse.query = original


def p50(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def interleaved(endpoint, raw, runs: int) -> tuple[float, float]:
    """p50 of each, run in turns: on a shared machine both then meet the same load."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for fn, spent in zip((endpoint, raw), times):
            started = time.perf_counter()
            fn()
            spent.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[0]), statistics.median(times[1])


@dataclass
class Result:
    name: str
    endpoint: float  # p50 ms through Django's whole stack
    raw: float  # p50 ms of the same ClickHouse queries run directly
    queries: int
    target: float  # ms

    @property
    def ratio(self) -> float:
        return self.endpoint / self.raw if self.raw else float("inf")


def time_cases(client, cases, runs: int, *, target: float | None = None, interleave: bool = True) -> list[Result]:
    """Time each case through Django's whole stack and as the very ClickHouse queries it ran.

    A case is (name, url) or (name, url, target ms); url is a path to GET, or (path, body)
    to POST as JSON. Each is requested once (SystemExit unless it answers 200), then once
    more with its queries recorded; the endpoint and those queries are timed, p50 of
    ``runs`` each, in turns (or one after the other when ``interleave`` is false)."""
    from pulseboard import clickhouse

    def requester(url):
        if isinstance(url, tuple):
            path, body = url
            return lambda: client.post(path, body, content_type="application/json")
        return lambda: client.get(url)

    results = []
    for name, url, *case_target in cases:
        request = requester(url)
        response = request()
        if response.status_code != 200:
            raise SystemExit(f"{name}: HTTP {response.status_code}: {response.content[:300]!r}")
        with recorded_queries() as queries:
            request()

        def raw_sql(queries=queries):
            return [clickhouse.query(sql, params) for sql, params in queries]

        if interleave:
            endpoint, raw = interleaved(request, raw_sql, runs)
        else:
            endpoint, raw = p50(request, runs), p50(raw_sql, runs)
        results.append(Result(name, endpoint, raw, len(queries), case_target[0] if case_target else target))
        print(f"  {name}: {endpoint:.1f} ms (raw SQL {raw:.1f} ms)", flush=True)
    return results


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def report(load_start: str, data: str, results: list[Result], label: str, width: int, target_ratio: float = TARGET_RATIO) -> None:
    """The machine, the date, the load average at the start of the timings and now, ``data``
    (what was measured on), and the table of the results: p50, raw SQL, queries, ratio, and
    the verdict on the targets."""
    print()
    print(f"machine: {os.cpu_count()} cores, {cpu_model()}; date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"load average at the start of the timings: {load_start}, at the end: {load_average()}")
    print(data)
    print()
    print(f"{label:{width}} {'p50 ms':>8} {'raw SQL ms':>11} {'queries':>8} {'ratio':>6}  target")
    for r in results:
        verdict = "PASS" if r.endpoint < r.target and r.ratio <= target_ratio else "MISS"
        print(f"{r.name:{width}} {r.endpoint:8.1f} {r.raw:11.1f} {r.queries:8d} {r.ratio:6.2f}  <{r.target} ms, ≤{target_ratio}x  {verdict}")


def main() -> None:
    args = parse_args()
    var_dir = args.keep or tempfile.mkdtemp(prefix="pulseboard-bench-query-")
    setup_django(var_dir)

    from django.test import Client

    from apps.projects.services import user_bootstrap
    from pulseboard import clickhouse

    boot = user_bootstrap(username="bench", password="bench-password", project_name="Bench")
    project = boot.project
    if project.timezone != "America/New_York":
        project.timezone = "America/New_York"
        project.save()
    seed_seconds, seed_rate = seed(project.id, args.events, args.days, args.signups)
    settle_merges()
    from apps.demo.selectors import persons_with_ids

    events_total = clickhouse.query("SELECT count() FROM events WHERE project_id = {p:UInt64}", {"p": project.id}).scalar()
    persons, merged = persons_with_ids(project_id=project.id)

    client = Client()
    client.force_login(boot.user)
    base = f"/api/v1/projects/{project.id}/insights"
    cases = [
        ("active-users (DAU/WAU/MAU, 30d)", f"{base}/active-users?range=30d", TARGET_INSIGHT_MS),
        ("active-users (DAU/WAU/MAU, 90d)", f"{base}/active-users?range=90d", TARGET_INSIGHT_MS),
        ("trends total, 2 events (30d)", f"{base}/trends?events=$pageview,signed_up&range=30d", TARGET_INSIGHT_MS),
        ("trends unique users (30d)", f"{base}/trends?events=$pageview&math=unique&range=30d", TARGET_INSIGHT_MS),
        ("trends WAU (30d)", f"{base}/trends?events=$pageview&math=wau&range=30d", TARGET_INSIGHT_MS),
        ("trends hourly (7d)", f"{base}/trends?events=$pageview&interval=hour&range=7d", TARGET_INSIGHT_MS),
        ("trends filter plan=pro (30d)", f'{base}/trends?events=purchase&filters=[{{"key":"plan","operator":"equals","value":"pro"}}]&range=30d', TARGET_INSIGHT_MS),
        ("trends breakdown country (30d)", f"{base}/trends?events=signed_up&breakdown=country&range=30d", TARGET_INSIGHT_MS),
        ("trends breakdown $browser, 5.5M pageviews (30d)", f"{base}/trends?events=$pageview&breakdown=$browser&range=30d", TARGET_INSIGHT_MS),
        ("trends unique, breakdown $browser (30d)", f"{base}/trends?events=$pageview&math=unique&breakdown=$browser&range=30d", TARGET_INSIGHT_MS),
        ("trends unique, person filter plan=pro", f'{base}/trends?events=$pageview&math=unique&filters=[{{"key":"plan","operator":"equals","value":"pro","type":"person"}}]&range=30d', TARGET_INSIGHT_MS),
        ("trends unique, person breakdown plan", f"{base}/trends?events=$pageview&math=unique&breakdown=plan&breakdown_type=person&range=30d", TARGET_INSIGHT_MS),
        ("top-events (30d)", f"{base}/top-events?range=30d", TARGET_INSIGHT_MS),
        ("overview API (30d)", f"{base}/overview?range=30d", TARGET_INSIGHT_MS),
        ("overview API (24h)", f"{base}/overview?range=24h", TARGET_INSIGHT_MS),
        ("overview page HTML (30d)", f"/projects/{project.id}/?range=30d", TARGET_OVERVIEW_PAGE_MS),
        ("retention weekly, 8 periods", f"{base}/retention?start_event=signed_up&return_event=$pageview&period=week&periods=8", TARGET_INSIGHT_MS),
        ("retention daily, 14 periods", f"{base}/retention?start_event=$pageview&period=day&periods=14", TARGET_INSIGHT_MS),
        ("stickiness $pageview, signed_up (30d)", f"{base}/stickiness?events=$pageview,signed_up&range=30d", TARGET_INSIGHT_MS),
        ("lifecycle $pageview (30d)", f"{base}/lifecycle?event=$pageview&range=30d", TARGET_INSIGHT_MS),
        ("persons API (first page)", f"/api/v1/projects/{project.id}/persons", TARGET_PERSONS_MS),
        ("persons page HTML", f"/projects/{project.id}/persons/", TARGET_PERSONS_MS),
        ("persons API search", f"/api/v1/projects/{project.id}/persons?search=usr_a", TARGET_PERSONS_MS),
    ]
    funnel_url = f"/api/v1/projects/{project.id}/funnels/query"
    # The signup-first funnel of the targets; the visit -> signup one crosses the merge of
    # each visitor's anonymous id into their user id.
    steps = [{"event": name} for name in ("signed_up", "$pageview", "created_project", "purchase")]
    for mode in ("ordered", "strict", "unordered"):
        body = {"steps": steps, "window": {"value": 14, "unit": "days"}, "order_mode": mode, "range": "30d"}
        cases.append((f"funnel 4 steps, {mode} (30d)", (funnel_url, body), TARGET_FUNNEL_MS))
    body = {"steps": [{"event": "$pageview"}, {"event": "signed_up"}], "window": {"value": 14, "unit": "days"}, "range": "30d"}
    cases.append(("funnel $pageview -> signed_up (30d)", (funnel_url, body), TARGET_FUNNEL_MS))
    # A browsing funnel: everyone with a pageview starts it (about 8M events to order).
    steps = [{"event": name} for name in ("$pageview", "searched", "viewed_item", "clicked_cta")]
    for mode in ("ordered", "strict", "unordered"):
        body = {"steps": steps, "window": {"value": 1, "unit": "days"}, "order_mode": mode, "range": "30d"}
        cases.append((f"funnel from $pageview, {mode} (30d)", (funnel_url, body), TARGET_FUNNEL_MS))
    if args.only:
        cases = [case for case in cases if any(text in case[0] for text in args.only)]
    load_start = load_average()
    results = time_cases(client, cases, args.runs)

    # What every request pays around its queries: the same stack answering 404 (session, user
    # and membership looked up; no ClickHouse query).
    missing = f"/api/v1/projects/{project.id + 1}/insights/trends?events=$pageview"
    logging.disable(logging.WARNING)  # Django logs every 404
    if client.get(missing).status_code != 404:
        raise SystemExit(f"{missing} should be a 404 for the bench user")
    fixed = p50(lambda: client.get(missing), 200)
    logging.disable(logging.NOTSET)

    data = (
        f"data: {events_total:,} events over {args.days} days, {persons:,} persons, {merged:,} ({merged / max(persons, 1):.0%}) "
        f"of them with two ids or more; chdb at {var_dir}"
    )
    if seed_seconds:
        data += f"\nseed_events: {args.events:,} events in {seed_seconds:.1f} s = {seed_rate:,.0f} events/s ({1_000_000 / seed_rate:.1f} s per 1M)"
    report(load_start, data, results, "endpoint", 40)
    print(f"\nfixed cost of a request with no query (a 404 after session, user and membership), p50 of 200: {fixed:.2f} ms")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    main()
