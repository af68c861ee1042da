"""Guardrails benchmark: what the ingest checks cost per request.

The rate limit and daily quota of a key (:mod:`apps.ingest.gate`) are taken by the same Lua
script that appends a request's events to the stream, so they add no round trip; what they
add is the charge worked out in the process, a few more Redis commands inside the script,
and the reply remembered. The bench times, on the real Redis at ``REDIS_URL``:

* the append of a 50-event request without limits (the round trip every request makes);
* the same append with a rate and a quota on, with the gate before it and the settling
  after it, in alternating rounds; their difference is what the limits cost a request;
* a request of a key the process saw run short (the limit asked on its own, before the
  events are read);
* the check of a request's events against a tracking plan of 30 event names.

Prints microseconds per request, wall clock and CPU time (the median of ``--rounds``
rounds). The Redis keys live under their own prefix and are deleted afterwards.

    .venv/bin/python bench/guardrails.py [--calls N] [--rounds R] [--events-per-request E]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pulseboard.settings")
os.environ["REDIS_KEY_PREFIX"] = f"pbbench:guardrails:{os.getpid()}"

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from apps.ingest import stream  # noqa: E402
from apps.ingest.gate import limit_settle, request_gate  # noqa: E402
from apps.ingest.plan import CompiledPlan  # noqa: E402
from apps.projects.selectors import IngestTarget  # noqa: E402

HUGE = 1_000_000_000  # a limit the bench never reaches: every call takes, none is refused


def timed_round(fn, calls: int) -> tuple[float, float]:
    """The mean time of one call over ``calls`` calls, in microseconds: wall clock, and this
    process's CPU time (what a call takes from other requests; a wait on Redis takes none)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - started) / calls * 1e6, (time.process_time() - cpu_started) / calls * 1e6


def per_call_us(fn, calls: int, rounds: int) -> tuple[float, float]:
    """The median over ``rounds`` of :func:`timed_round`."""
    fn()  # warm: the script is loaded into Redis, the connection opened
    walls, cpus = zip(*(timed_round(fn, calls) for _ in range(rounds)))
    return statistics.median(walls), statistics.median(cpus)


def rows_of(project_id: int, count: int) -> list[dict]:
    """Rows as validation makes them, with server-chosen ids (no dedup keys)."""
    return [
        {
            "event_id": f"0190b5f8-7d2c-7000-8000-{i:012d}", "project_id": project_id, "event": f"event_{i % 30}",
            "distinct_id": f"user-{i}", "user_id": "", "anonymous_id": f"user-{i}", "session_id": "s-1",
            "timestamp": "2026-01-01 12:00:00.000000", "received_at": "2026-01-01 12:00:00.000000",
            "properties": '{"plan":"pro","price":19.5,"trial":false}', "page_url": "https://shop.example.com/cart",
            "referrer": "", "user_agent": "Mozilla/5.0", "ip_hash": "0" * 16,
        }
        for i in range(count)
    ]


def appends(batch: int):
    """An append of a ``batch``-event request without limits, and one with its key's rate
    and quota taken in the same script, the gate before it and the settling after it."""
    open_key = IngestTarget(project_id=2**62, allowed_origins=("https://shop.example.com", "*.example.com"))
    limited = IngestTarget(
        project_id=2**62 + 1, rate_per_second=HUGE, burst=HUGE, daily_quota=HUGE,
        allowed_origins=("https://shop.example.com", "*.example.com"),
    )

    def request(target: IngestTarget):
        rows = rows_of(target.project_id, batch)

        def send():
            limit = request_gate(target=target, origin="https://www.example.com", cost=batch)
            appended = stream.stream_append(project_id=target.project_id, rows=rows, supplied_ids=[False] * batch, catalog={}, limit=limit)
            if appended.limit is not None:
                limit_settle(target=target, limit=limit, reply=appended.limit)

        return send

    return request(open_key), request(limited)


def known_refusal():
    """The gate for a key this process saw take its whole burst: refused (by Redis) for 10 s."""
    target = IngestTarget(project_id=2**62 + 2, rate_per_second=1, burst=10)
    limit = request_gate(target=target, origin=None, cost=10)
    rows = rows_of(target.project_id, 10)
    appended = stream.stream_append(project_id=target.project_id, rows=rows, supplied_ids=[False] * 10, catalog={}, limit=limit)
    limit_settle(target=target, limit=limit, reply=appended.limit)
    return lambda: request_gate(target=target, origin=None, cost=10)


def plan_check(events_per_request: int):
    """A check of one request's events against a 30-event plan."""
    plan = CompiledPlan(
        enforce=True,
        allow_dollar=True,
        events={f"event_{i}": (("plan", "string"), ("price", "number"), ("trial", "boolean")) for i in range(30)},
    )
    events = [
        {"event": f"event_{i % 30}", "properties": {"plan": "pro", "price": 19.5, "trial": False, "extra": i}}
        for i in range(events_per_request)
    ]

    def check():
        for event in events:
            plan.check(event)

    return check


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="requests per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=9, help="rounds; the median is printed (default 9)")
    parser.add_argument("--events-per-request", type=int, default=50, help="events in a batched request (default 50)")
    args = parser.parse_args()
    batch = args.events_per_request
    plain, limited = appends(batch)
    client = stream.client()

    print(f"Redis {settings.REDIS_URL}, {args.calls:,} requests x {args.rounds} rounds, {batch} events per batched request")
    print(f"  {'':<62} {'wall us':>8} {'CPU us':>8}  per request")
    try:
        ping = per_call_us(client.ping, args.calls, args.rounds)
        print(f"  {'Redis PING (the floor of any Redis call)':<62} {ping[0]:8.1f} {ping[1]:8.1f}", flush=True)
        plain(), limited()  # warm both scripts
        pairs = []
        for _ in range(args.rounds):  # alternate, so that drift in the machine falls on both
            pairs.append((timed_round(plain, args.calls), timed_round(limited, args.calls)))
            client.delete(stream.stream_key())
        rows = [
            (f"append of {batch} events, no limits (every request's round trip)", tuple(statistics.median(p[0][i] for p in pairs) for i in (0, 1))),
            (f"append of {batch} events, rate + quota taken in it", tuple(statistics.median(p[1][i] for p in pairs) for i in (0, 1))),
            ("  the limits' share: the difference, median of the rounds", tuple(statistics.median(p[1][i] - p[0][i] for p in pairs) for i in (0, 1))),
            ("gate of a key seen over its limit (asks Redis, reads no event)", per_call_us(known_refusal(), args.calls, args.rounds)),
            (f"tracking plan, {batch} events", per_call_us(plan_check(batch), args.calls, args.rounds)),
            ("tracking plan, 1 event", per_call_us(plan_check(1), args.calls, args.rounds)),
        ]
        for label, (wall, cpu) in rows:
            print(f"  {label:<62} {wall:8.1f} {cpu:8.1f}", flush=True)
    finally:
        for key in client.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}:*", count=1000):
            client.delete(key)
    added, plan = rows[2][1], rows[4][1]
    print(f"  {'rate limit + quota + plan, batched request':<62} {added[0] + plan[0]:8.1f} {added[1] + plan[1]:8.1f}  (target: under 200 us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
