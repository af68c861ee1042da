"""Trends of a numeric property (avg, p95, ...) on 10M events, against raw SQL.

    .venv/bin/python bench/metric_math.py --from DIR [--runs 10]

DIR is a var directory that ``bench/query.py --keep DIR`` seeded (10M events of the project
"Bench"). It is copied first (DIR is never written); then, in this process, each case is
timed through Django's whole request stack (the trends API, session auth, serialisation)
and two ways as raw SQL, p50 of --runs each, in turns:

* the very ClickHouse queries the API ran (so the ratio is what the API adds around them);
* the plainest SQL for the same figure, written by hand: ``avg(JSONExtractFloat(properties,
  'price'))`` or ``quantileExact(0.95)(...)`` per day, with no rule for strings or missing
  values, no count of the events that had the property and no whole-range figure.

The seeded events with a numeric property: ``viewed_item`` (``price``, about 16% of the
browsing events), ``searched`` (``results``) and ``purchase`` (``amount``).
Targets (issue "Monitoring and guardrails"): each under 200 ms, within 1.5x its raw SQL.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from query import Result, bench_login, from_args, interleaved, load_average, report, settle_merges, setup_django, time_cases, var_copy  # noqa: E402

TARGET_MS = 200


def main() -> None:
    args = from_args(__doc__)
    with var_copy(args.source, "pbbench-metric-") as var:
        setup_django(str(var))
        run(args.runs, var)


def hand_written(math: str) -> str:
    """The plainest query of ``math`` of a property of one event per local day."""
    aggregate = {"avg": "avg", "p95": "quantileExact(0.95)", "sum": "sum"}[math]
    return f"""
SELECT toUnixTimestamp(toStartOfDay(timestamp, {{tz:String}})) AS bucket, {aggregate}(JSONExtractFloat(properties, {{key:String}})) AS value
FROM events
WHERE project_id = {{project_id:UInt64}} AND event = {{event:String}}
  AND timestamp >= {{date_from:DateTime64(3, 'UTC')}} AND timestamp < {{date_to:DateTime64(3, 'UTC')}}
GROUP BY bucket
"""


def run(runs: int, var: Path) -> None:
    from apps.query.dates import date_range_resolve
    from pulseboard import clickhouse

    settle_merges()
    project, client, events = bench_login()
    api = f"/api/v1/projects/{project.id}/insights/trends"
    # (name, url, (math, event, key) of the hand-written twin or None)
    cases = [
        ("avg price of viewed_item (30d)", f"{api}?events=viewed_item&math=avg&math_property=price&range=30d", ("avg", "viewed_item", "price")),
        ("p95 price of viewed_item (30d)", f"{api}?events=viewed_item&math=p95&math_property=price&range=30d", ("p95", "viewed_item", "price")),
        ("avg results of searched (30d)", f"{api}?events=searched&math=avg&math_property=results&range=30d", ("avg", "searched", "results")),
        ("p95 results of searched (30d)", f"{api}?events=searched&math=p95&math_property=results&range=30d", ("p95", "searched", "results")),
        ("sum amount of purchase (30d)", f"{api}?events=purchase&math=sum&math_property=amount&range=30d", ("sum", "purchase", "amount")),
        ("p95 price, breakdown category (30d)", f"{api}?events=viewed_item&math=p95&math_property=price&breakdown=category&range=30d", None),
        ("avg price, person breakdown plan (30d)", f"{api}?events=viewed_item&math=avg&math_property=price&breakdown=plan&breakdown_type=person&range=30d", None),
        ("p95 price, hourly (7d)", f"{api}?events=viewed_item&math=p95&math_property=price&interval=hour&range=7d", None),
    ]
    counts = {
        name: clickhouse.query(
            "SELECT count() FROM events WHERE project_id = {p:UInt64} AND event = {e:String}", {"p": project.id, "e": name}
        ).scalar()
        for name in ("viewed_item", "searched", "purchase")
    }
    load_start = load_average()
    results = time_cases(client, [(name, url) for name, url, _ in cases], runs, target=TARGET_MS)

    # The API against the hand-written query of the same figure.
    date_range = date_range_resolve(params={"range": "30d"}, tz_name=project.timezone)
    plain: list[Result] = []
    for name, url, twin in cases:
        if twin is None:
            continue
        math, event, key = twin
        params = {
            "project_id": project.id,
            "event": event,
            "key": key,
            "tz": project.timezone,
            "date_from": date_range.date_from,
            "date_to": date_range.date_to,
        }
        endpoint, raw = interleaved(lambda url=url: client.get(url), lambda: clickhouse.query(hand_written(math), params), runs)
        plain.append(Result(name, endpoint, raw, 1, TARGET_MS))
        print(f"  {name}: {endpoint:.1f} ms (hand-written SQL {raw:.1f} ms)", flush=True)

    data = f"data: {events:,} events ({', '.join(f'{n}: {c:,}' for n, c in counts.items())}), project {project.timezone}; a copy at {var}"
    report(load_start, data, results, "case (against the queries it ran)", 44)
    report(load_start, data, plain, "case (against hand-written SQL)", 44)


if __name__ == "__main__":
    main()
