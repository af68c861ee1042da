"""Web overview benchmark: the page, its JSON twin and a CSV export on 10M events, against raw SQL.

It starts from a var directory that ``bench/query.py --keep DIR`` seeded (10M events of the
project "Bench") and never changes DIR: it works on a copy. That data may predate migration
0008: its URL columns (page_path, referrer_domain, UTM parameters) are materialized into the
stored rows (timed), but the columns ingest fills (browser, OS, device type, country)
stay empty. On the copy they are then filled the way ingest would have, from each row's user agent (parsed by
``apps.ingest.devices``, one parse per distinct user agent, written with ``transform``) and
from the country the seeded visitor reports (the ``country`` property; the seeder's IPs
are random hashes, not addresses). Then, in this process, it times each request through
Django's whole stack and the very same ClickHouse queries run directly on chdb (p50 of
``--runs`` each, the two in turns), and prints the ratio. It also times the user agent parser, cold and cached.

    .venv/bin/python bench/web.py --from DIR [--runs 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from query import bench_login, from_args, load_average, report, settle_merges, setup_django, time_cases, var_copy  # noqa: E402

TARGET_MS = 400
PROJECT = "Bench"


def url_columns_materialize() -> None:
    """0008's URL columns of the rows stored before it, written at once rather than at merges."""
    from pulseboard import clickhouse

    started = time.monotonic()
    for column in ("page_path", "referrer_domain", "utm_source", "utm_medium", "utm_campaign"):
        clickhouse.command(f"ALTER TABLE events MATERIALIZE COLUMN {column}")
    clickhouse.mutations_wait(["events"], timeout=1800)
    print(f"0008's URL columns materialized in {time.monotonic() - started:.1f} s", flush=True)


def devices_fill(project_id: int) -> None:
    """Fill the device and country columns of rows stored without them, as ingest would."""
    from apps.ingest.devices import user_agent_parse
    from pulseboard import clickhouse

    params = {"p": project_id}
    if not clickhouse.query("SELECT count() FROM events WHERE project_id = {p:UInt64} AND browser = '' AND user_agent != ''", params).scalar():
        return
    started = time.monotonic()
    agents = [row[0] for row in clickhouse.query("SELECT DISTINCT user_agent FROM events WHERE project_id = {p:UInt64}", params).rows]
    parsed = [user_agent_parse(agent) for agent in agents]
    params.update(agents=agents, **{column: [p[i] for p in parsed] for i, column in enumerate(("browsers", "systems", "types"))})
    clickhouse.command(
        """ALTER TABLE events UPDATE
               browser = transform(user_agent, {agents:Array(String)}, {browsers:Array(String)}, ''),
               os = transform(user_agent, {agents:Array(String)}, {systems:Array(String)}, ''),
               device_type = transform(user_agent, {agents:Array(String)}, {types:Array(String)}, ''),
               country = JSONExtractString(properties, 'country')
           WHERE project_id = {p:UInt64}""",
        params,
    )
    clickhouse.mutations_wait(["events"])
    print(f"filled browser, os, device_type and country of {len(agents)} user agents in {time.monotonic() - started:.1f} s", flush=True)


def parser_speed() -> tuple[float, float]:
    """Microseconds per user agent: parsed for the first time, and again (cached)."""
    from apps.ingest.devices import user_agent_parse

    agents = [
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.{i}.0 Safari/537.36"
        for i in range(2000)
    ]
    user_agent_parse.cache_clear()
    started = time.perf_counter()
    for agent in agents:
        user_agent_parse(agent)
    cold = (time.perf_counter() - started) / len(agents) * 1e6
    started = time.perf_counter()
    for _ in range(10):
        for agent in agents:
            user_agent_parse(agent)
    return cold, (time.perf_counter() - started) / len(agents) / 10 * 1e6


def main() -> None:
    args = from_args(__doc__)
    with var_copy(args.source, "pulseboard-bench-web-") as var:
        setup_django(str(var))
        url_columns_materialize()
        run(args, var)


def run(args: argparse.Namespace, var: Path) -> None:
    project, client, events = bench_login(PROJECT)
    devices_fill(project.id)
    settle_merges()
    api = f"/api/v1/projects/{project.id}/insights/web"
    page = f"/projects/{project.id}/web/"
    cases = [
        ("web overview API, pageview lists (30d)", f"{api}?range=30d&sessions=false"),
        ("web overview API, pageview lists (7d)", f"{api}?range=7d&sessions=false"),
        ("web overview API, lists, browser=Chrome", f"{api}?range=30d&sessions=false&browser=Chrome"),
        ("web overview page HTML (30d)", f"{page}?range=30d"),
        ("web overview CSV of pages (30d)", f"/projects/{project.id}/web.csv?range=30d&list=pages"),
        ("entry/exit pages cards (30d)", f"{page}sessions?range=30d"),
        ("web overview API, everything (30d)", f"{api}?range=30d"),
    ]
    load_start = load_average()
    results = time_cases(client, cases, args.runs, target=TARGET_MS)
    cold, cached = parser_speed()

    report(load_start, f"data: {events:,} events of project {PROJECT!r} (a copy of {args.source})", results, "request", 44)
    print(f"\nuser agent parsing at ingest: {cold:.0f} µs per new user agent, {cached:.2f} µs per cached one")


if __name__ == "__main__":
    main()
