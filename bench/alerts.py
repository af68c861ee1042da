"""One evaluation round of 100 alerts on 10M events, as beat runs it every minute.

    .venv/bin/python bench/alerts.py --from DIR [--runs 10]

DIR is a var directory that ``bench/query.py --keep DIR`` seeded (10M events of the
project "Bench"). It is copied first (the copy gets this checkout's migrations; DIR is never
written). 100 varied alerts are made on the project: each event name of the demo shop,
counts and unique persons, hour and day buckets, above / below / change conditions,
property filters, and ratios (purchases over pageviews). The clock is put just after the
newest stored event, so the judged buckets are full ones. Then, --runs times, every alert
is made due and one round is timed through the beat task's own code
(``services.alerts_evaluate_due``: claim, figures, judge, history), and the very
ClickHouse queries of a round are timed on their own, in turns: p50 of each. Target
(issue "Monitoring and guardrails"): under 5 s a round, within one beat period.
"""

from __future__ import annotations

import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from query import bench_login, from_args, load_average, recorded_queries, settle_merges, setup_django, var_copy  # noqa: E402

TARGET_MS = 5000
ALERTS = 100
EVENTS = ("$pageview", "$screen", "viewed_item", "clicked_cta", "searched", "signed_up", "created_project", "purchase")
FILTERS = (
    [],
    [{"key": "country", "operator": "equals", "value": "US"}],
    [{"key": "category", "operator": "equals", "value": "Audio"}],
    [{"key": "button", "operator": "is_set"}],
    [{"key": "country", "operator": "not_equals", "value": "DE"}],
)


def alert_specs(count: int) -> list[dict]:
    """``count`` alerts of every kind, in a fixed order (the same alerts on every run)."""
    specs = []
    for i in range(count):
        event = EVENTS[i % len(EVENTS)]
        spec = {
            "name": f"Bench alert {i:03d}",
            "series": {"event": event, "math": "unique" if i % 3 == 0 else "total", "filters": FILTERS[(i // 8) % len(FILTERS)]},
            "condition": ("above", "below", "change")[i % 3],
            "threshold": (1000, 10, 25)[i % 3],
            "interval": "hour" if i % 2 == 0 else "day",
            "every_minutes": 1 + i % 5,
        }
        if i % 10 == 9:  # a ratio: this event over pageviews
            spec["denominator"] = {"event": "$pageview", "math": "total", "filters": []}
            spec["threshold"] = 0.05 if spec["condition"] != "change" else 25
        specs.append(spec)
    return specs


def main() -> None:
    args = from_args(__doc__)
    with var_copy(args.source, "pbbench-alerts-") as var:
        setup_django(str(var))
        run(args.runs, var)


def run(runs: int, var: Path) -> None:
    from django.db.models import Count

    from apps.alerts.models import Alert
    from apps.alerts.services import alert_create, alerts_evaluate_due
    from pulseboard import clickhouse

    settle_merges()
    project, _client, events = bench_login()
    newest = clickhouse.query("SELECT max(timestamp) FROM events WHERE project_id = {p:UInt64}", {"p": project.id}).scalar()
    now = newest.replace(minute=0, second=0, microsecond=0) + timedelta(minutes=7)
    Alert.objects.filter(project=project).delete()
    for spec in alert_specs(ALERTS):
        alert_create(project=project, user=None, data=spec)
    alerts = Alert.objects.filter(project=project)

    def round_() -> dict:
        alerts.update(next_evaluation_at=None)
        stats = alerts_evaluate_due(now=now)
        if stats["evaluated"] != ALERTS or stats["failed"]:
            raise SystemExit(f"a round evaluated {stats}: expected {ALERTS} alerts, none failed")
        return stats

    round_()  # warm: the first round also settles every alert's state
    with recorded_queries() as queries:
        round_()
    rounds, raws = [], []
    load_start = load_average()
    for _ in range(runs):
        started = time.perf_counter()
        round_()
        rounds.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        for sql, params in queries:
            clickhouse.query(sql, params)
        raws.append((time.perf_counter() - started) * 1000)
    p50, worst, raw = statistics.median(rounds), max(rounds), statistics.median(raws)
    states = dict(alerts.order_by().values_list("state").annotate(n=Count("id")))
    print()
    print(f"load average at the start of the timings: {load_start}, at the end: {load_average()}")
    print(f"data: {events:,} events, project {project.timezone}; {ALERTS} alerts judged at {now:%Y-%m-%d %H:%M} UTC; states {states}; a copy at {var}")
    print()
    print(f"{'case':44} {'p50 ms':>8} {'max ms':>8} {'raw SQL ms':>11} {'queries':>8}  target")
    verdict = "PASS" if worst < TARGET_MS else "MISS"
    print(f"{'one round of ' + str(ALERTS) + ' alerts (beat task)':44} {p50:8.1f} {worst:8.1f} {raw:11.1f} {len(queries):8d}  <{TARGET_MS} ms  {verdict}")


if __name__ == "__main__":
    main()
