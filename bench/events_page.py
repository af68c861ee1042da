"""The Events page and its API on 10M events, against the raw SQL they run.

    .venv/bin/python bench/events_page.py --from DIR [--runs 10]

DIR is a var directory that ``bench/query.py --keep DIR`` seeded (10M events of the
project "Bench"). It is copied first (the copy gets this checkout's migrations; DIR is never
written), then, in this process, each case is timed through Django's whole request stack
(routing, middleware, session auth, the catalog read from the config database, rendering)
and the very ClickHouse queries it ran are timed on their own, the two in turns: p50 of
--runs each, and the ratio of the two. Targets (issue "Sessions, paths, web analytics and the Events page"):
under 300 ms, within 1.5x of the raw SQL.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from query import bench_login, from_args, load_average, report, settle_merges, setup_django, time_cases, var_copy  # noqa: E402

TARGET_MS = 300


def main() -> None:
    args = from_args(__doc__)
    with var_copy(args.source, "pbbench-events-") as var:
        setup_django(str(var))
        run(args.runs, var)


def run(runs: int, var: Path) -> None:
    from apps.ingest.models import EventDefinition

    settle_merges()
    project, client, events = bench_login()
    names = EventDefinition.objects.filter(project=project).count()
    api = f"/api/v1/projects/{project.id}/event-definitions"
    page = f"/projects/{project.id}/events/"
    cases = [
        ("API, 30d, by count (default)", f"{api}?range=30d"),
        ("API, 90d, by unique persons", f"{api}?range=90d&sort=-unique_persons"),
        ("API, 24h", f"{api}?range=24h"),
        ("API, search 'view', by name", f"{api}?search=view&sort=name"),
        ("page HTML, 30d", f"{page}?range=30d"),
        ("page HTML, 7d, search 'sign'", f"{page}?preset=7d&search=sign"),
        ("CSV, 30d", f"/projects/{project.id}/events.csv?range=30d"),
    ]
    load_start = load_average()
    results = time_cases(client, cases, runs, target=TARGET_MS)

    report(load_start, f"data: {events:,} events, {names} event names, project {project.timezone}; a copy at {var}", results, "case", 34)


if __name__ == "__main__":
    main()
