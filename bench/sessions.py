"""Sessions benchmark: the sessions insight on 10M events, and the storage it was chosen by.

    .venv/bin/python bench/sessions.py --from DIR [--runs 10]

DIR is a var directory seeded by ``bench/query.py --keep DIR`` (10M events of the project
"Bench", every one with a session id, as SDKs send them). It is copied first (this script
writes: the Django and ClickHouse migrations, and the table of the comparison below).

1. The sessions API and page through Django's whole stack, against the very same queries
   run directly on chdb (p50 of --runs each, the two in turns): target under 200 ms and
   within 1.5x.
2. Storage, by measurement. The same figures (cards of two periods, series, entry and exit
   pages) from
   a. query time: the events of the range, grouped per session (what PulseBoard does with
      filters, or for a range that is not whole quarter hours);
   b. a session table filled at insert: an AggregatingMergeTree of one row per session id
      (first and last time, events, pageviews, entry and exit page, as a materialised view
      on events would keep it), here filled once from events and fully merged, which is the
      best case for it; it cannot hold the sessions without an id;
   c. query time for events without a session id: the same events sessionized per person
      with the gap (window functions), as if no event had an id;
   d. the stored quarter hours (``session_parts_15m``, ClickHouse migration 0011): numbers
      only, one row per quarter hour, session id and person key, grouped per session at
      query time over the same reach as (a), with the events without an id sessionized as
      in (a); what PulseBoard does without filters (its page look-up is in the API's time);
   e. the rows of (d) merged into one per session and read with FINAL: the best case of a
      table, though it can neither be cut to the reach of (a) nor cleared by person.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from query import (  # noqa: E402
    bench_login,
    from_args,
    load_average,
    p50,
    recorded_queries,
    report,
    settle_merges,
    setup_django,
    time_cases,
    var_copy,
)

from apps.ingest.sql import PACKED_PAGE_HASH  # noqa: E402  (the repository root: put on the path by query)

TARGET_MS = 200

SESSION_TABLE = """
CREATE TABLE IF NOT EXISTS bench_sessions
(
    project_id  UInt64,
    session_key UInt64,
    started_at  SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    ended_at    SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    events      SimpleAggregateFunction(sum, UInt64),
    pageviews   SimpleAggregateFunction(sum, UInt64),
    entry_page  AggregateFunction(argMinIf, String, Tuple(DateTime64(3, 'UTC'), UUID), UInt8),
    exit_page   AggregateFunction(argMaxIf, String, Tuple(DateTime64(3, 'UTC'), UUID), UInt8),
    first_event AggregateFunction(any, String)
)
ENGINE = AggregatingMergeTree
ORDER BY (project_id, session_key)
"""

SESSION_TABLE_FILL = """
INSERT INTO bench_sessions
SELECT project_id, cityHash64(session_id), min(timestamp), max(timestamp), count(), countIf(event = '$pageview'),
       argMinIfState(page_url, (timestamp, event_id), event = '$pageview'),
       argMaxIfState(page_url, (timestamp, event_id), event = '$pageview'),
       anyState(toString(event))
FROM events WHERE project_id = {project_id:UInt64} AND session_id != ''
GROUP BY project_id, session_id
"""

# The per-session rows of the session table, as apps.web.sessionize.sessions() gives them.
SESSION_TABLE_ROWS = """
    SELECT session_key, min(started_at) AS started_at, max(ended_at) AS ended_at,
           dateDiff('millisecond', started_at, ended_at) / 1000 AS duration,
           sum(events) AS events, sum(pageviews) AS pageviews,
           argMinIfMerge(entry_page) AS entry_page, argMaxIfMerge(exit_page) AS exit_page,
           events = 1 AND anyMerge(first_event) IN ('$pageview', '$screen') AS bounced
    FROM bench_sessions
    WHERE project_id = {project_id:UInt64}
    GROUP BY session_key
    HAVING started_at >= {date_from:DateTime64(3, 'UTC')} AND started_at < {date_to:DateTime64(3, 'UTC')}"""


# (e): the stored quarter hours (session_parts_15m) merged into one row per session.
# Filled once, one row per session: no row is ever merged with another.
ROWS_TABLE = """
CREATE TABLE IF NOT EXISTS bench_session_rows
ENGINE = ReplacingMergeTree
ORDER BY (project_id, session_key)
AS SELECT project_id, session_key, min(started) AS started, max(ended) AS ended, sum(events) AS events,
          sum(pageviews) AS pageviews, sum(bounceable) AS bounceable, min(entry) AS entry, max(exit) AS exit
FROM session_parts_15m WHERE project_id = {project_id:UInt64} GROUP BY project_id, session_key
"""

_NUMERIC_FIGURES = f"""dateDiff('millisecond', started_at, ended_at) / 1000 AS duration,
           if(pageviews = 0, 0, {PACKED_PAGE_HASH.format(packed="entry_packed")}) AS entry_page,
           if(pageviews = 0, 0, {PACKED_PAGE_HASH.format(packed="exit_packed")}) AS exit_page"""

FINAL_ROWS = f"""
    SELECT session_key, started AS started_at, ended AS ended_at, events, pageviews,
           entry AS entry_packed, exit AS exit_packed, events = 1 AND bounceable = 1 AS bounced,
           {_NUMERIC_FIGURES}
    FROM bench_session_rows FINAL
    WHERE project_id = {{project_id:UInt64}}
      AND started >= {{date_from:DateTime64(3, 'UTC')}} AND started < {{date_to:DateTime64(3, 'UTC')}}"""


def main() -> None:
    args = from_args(__doc__)
    with var_copy(args.source, "pbbench-sessions-") as var:
        run(var, args.runs)


def run(var: Path, runs: int) -> None:
    setup_django(str(var))
    from apps.query.dates import date_range_resolve
    from apps.web.sessionize import sessions as sessionize_sessions
    from apps.web.sessionize import stored_sessions
    from apps.web.sessions import SessionsQuery, sessions_insight
    from apps.web.sessions_sql import BY_BUCKET, TOTAL
    from apps.web.sessions_sql import sessions_insight as insight_sql
    from pulseboard import clickhouse

    settle_merges()
    clickhouse.mutations_wait(["events"], timeout=1800)
    project, client, total = bench_login()
    without_id = clickhouse.query("SELECT count() FROM events WHERE project_id = {p:UInt64} AND session_id = ''", {"p": project.id}).scalar()
    base = f"/api/v1/projects/{project.id}/insights/sessions"
    cases = [
        ("sessions API (30d)", f"{base}?range=30d"),
        ("sessions API (7d)", f"{base}?range=7d"),
        ("sessions API hourly (24h)", f"{base}?range=24h"),
        ("sessions page HTML (30d)", f"/projects/{project.id}/sessions/?range=30d"),
    ]
    load_start = load_average()
    results = time_cases(client, cases, runs, target=TARGET_MS)

    # 2. Storage: the 30-day insight's query at query time, from stored sessions, from a
    # session table, and over events without an id.
    date_range = date_range_resolve(params={"range": "30d"}, tz_name=project.timezone)
    with recorded_queries() as queries:
        sessions_insight(project_id=project.id, query=SessionsQuery(date_range=date_range, gap_minutes=30))
    (stored_sql, params), _page_lookup = queries
    started = time.perf_counter()
    clickhouse.command(SESSION_TABLE)
    clickhouse.command(SESSION_TABLE_FILL, {"project_id": project.id})
    clickhouse.command("OPTIMIZE TABLE bench_sessions FINAL")
    fill_s = time.perf_counter() - started
    started = time.perf_counter()
    clickhouse.command(ROWS_TABLE, {"project_id": project.id})
    clickhouse.command("OPTIMIZE TABLE bench_session_rows FINAL")
    rows_fill_s = time.perf_counter() - started
    query_time_sql = insight_sql(date_range.interval)
    query_time_sessions = sessionize_sessions(pages_from="current_from")  # as apps/web/sessions_sql.py has it
    # Every event as if it had no session id: the branch of the ids reads nothing, the other everything.
    with_id, without_id_test = "AND session_key != 0", "AND session_key = 0"
    if stored_sessions(pages_from="current_from") not in stored_sql or query_time_sessions not in query_time_sql or with_id not in query_time_sql:
        raise SystemExit("bench/sessions.py no longer recognises the sessions SQL (apps/web/sessionize.py): update its storage variants")
    storage = [
        ("a. query time (with filters)", query_time_sql),
        ("b. session table (AggregatingMergeTree, merged)", query_time_sql.replace(query_time_sessions, SESSION_TABLE_ROWS)),
        ("c. query time, no session ids (per person, gap)", query_time_sql.replace(with_id, "AND 0").replace(without_id_test, "")),
        ("d. stored quarter hours (without filters)", stored_sql),
        ("e. numbers, one row per session (FINAL)", query_time_sql.replace(query_time_sessions, FINAL_ROWS)),
    ]
    timings = []
    reference = None
    for name, sql in storage:
        rows = clickhouse.query(sql, params).rows
        # The cards and the series (no page in them) of each variant against (a)'s; (c) counts other sessions.
        figures = sorted((r[0], r[1], r[5], round(r[6], 3), round(r[7], 3), r[8], r[9]) for r in rows if r[4] in (TOTAL, BY_BUCKET))
        reference = figures if reference is None else reference
        same = "" if figures is reference else ", cards and series as (a)" if figures == reference else ", cards and series DIFFER from (a)"
        timings.append((name, p50(lambda: clickhouse.query(sql, params), runs), f"{len(rows)} rows{same}"))
        print(f"  {name}: {timings[-1][1]:.1f} ms", flush=True)
    session_rows = clickhouse.query("SELECT count() FROM bench_sessions").scalar()
    part_rows = clickhouse.query("SELECT count() FROM session_parts_15m WHERE project_id = {p:UInt64}", {"p": project.id}).scalar()

    report(load_start, f"data: {total:,} events, {without_id:,} without a session id; {session_rows:,} session ids", results, "endpoint", 32)
    print(
        f"\nstorage, the 30-day insight query (p50 of {runs}; (b) filled and merged in {fill_s:.1f} s, (e) in"
        f" {rows_fill_s:.1f} s; (d) holds {part_rows:,} rows):"
    )
    for name, ms, rows in timings:
        print(f"  {name:52} {ms:8.1f} ms  ({rows})")


if __name__ == "__main__":
    main()
