"""Paths benchmark: the paths insight on 10M events, against its raw SQL.

    .venv/bin/python bench/paths.py --from DIR [--runs 10]

DIR is a var directory seeded by ``bench/query.py --keep DIR`` (10M events of the project
"Bench"). It is copied first (this script writes: the Django and ClickHouse migrations).
Each case is timed through Django's whole stack and as the very same ClickHouse queries run
directly on chdb (p50 of --runs each, the two in turns): target under 500 ms and within 1.5x.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from query import bench_login, from_args, load_average, report, settle_merges, setup_django, time_cases, var_copy  # noqa: E402

TARGET_MS = 500


def main() -> None:
    args = from_args(__doc__)
    with var_copy(args.source, "pbbench-paths-") as var:
        run(var, args.runs, args.source)


def run(var: Path, runs: int, source: Path) -> None:
    setup_django(str(var))
    settle_merges()
    project, client, total = bench_login()
    api = f"/api/v1/projects/{project.id}/insights/paths"
    cases = [
        ("paths API, pages, 5 steps (30d)", f"{api}?range=30d&depth=5"),
        ("paths API, pages from /pricing (30d)", f"{api}?range=30d&depth=5&start=/pricing"),
        ("paths API, pages to /signup (30d)", f"{api}?range=30d&depth=5&end=/signup"),
        ("paths API, events, 5 steps (30d)", f"{api}?range=30d&depth=5&path_type=events"),
        ("paths API, pages, 3 steps (7d)", f"{api}?range=7d&depth=3"),
        ("paths page HTML, 3 steps (30d)", f"/projects/{project.id}/paths/?range=30d"),
    ]
    load_start = load_average()
    results = time_cases(client, cases, runs, target=TARGET_MS)

    report(load_start, f"data: {total:,} events of project 'Bench' (a copy of {source})", results, "endpoint", 40)


if __name__ == "__main__":
    main()
