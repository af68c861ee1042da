"""Guardrails benchmark: what the ingest checks cost per request.

Times N calls of the gate (``apps.ingest.gate.request_gate``: the origin rule, then the rate
limit and daily quota, one Lua script on the real Redis at ``REDIS_URL``), with limits on and
off, and N checks of a request's events against a tracking plan of 30 event names
(``apps.ingest.plan.CompiledPlan``). Prints microseconds per call, wall clock and CPU time (the
median of ``--rounds`` rounds). The Redis keys live under their own prefix and are deleted afterwards.

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
from apps.ingest.gate import request_gate  # noqa: E402
from apps.ingest.plan import CompiledPlan  # noqa: E402
from apps.projects.selectors import IngestTarget  # noqa: E402

HUGE = 1_000_000_000  # a limit the bench never reaches: every call takes, none is refused


def per_call_us(fn, calls: int, rounds: int) -> tuple[float, float]:
    """The median over ``rounds`` of the mean time of one call, in microseconds: wall clock,
    and this process's CPU time (what a call takes from other requests; a wait on Redis
    takes none)."""
    fn()  # warm: the script is loaded into Redis, the connection opened
    walls, cpus = [], []
    for _ in range(rounds):
        started, cpu_started = time.perf_counter(), time.process_time()
        for _ in range(calls):
            fn()
        walls.append((time.perf_counter() - started) / calls * 1e6)
        cpus.append((time.process_time() - cpu_started) / calls * 1e6)
    return statistics.median(walls), statistics.median(cpus)


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
    parser.add_argument("--calls", type=int, default=5000, help="calls per round (default 5000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the median is printed (default 5)")
    parser.add_argument("--events-per-request", type=int, default=50, help="events in a batched request (default 50)")
    args = parser.parse_args()
    batch = args.events_per_request

    limited = IngestTarget(
        project_id=2**62, rate_per_second=HUGE, burst=HUGE, daily_quota=HUGE,
        allowed_origins=("https://shop.example.com", "*.example.com"),
    )
    open_key = IngestTarget(project_id=2**62 + 1, allowed_origins=("https://shop.example.com", "*.example.com"))
    redis_client = stream.client()
    rows = [
        ("Redis PING (the floor of any Redis check)", redis_client.ping),
        ("gate, limits off (origin rule only)", lambda: request_gate(target=open_key, origin="https://www.example.com", cost=batch)),
        ("gate, rate + quota on (one Redis round trip)", lambda: request_gate(target=limited, origin="https://www.example.com", cost=batch)),
        ("gate, rate + quota on, 1 event", lambda: request_gate(target=limited, origin=None, cost=1)),
    ]
    rows += [(f"tracking plan, {batch} events", plan_check(batch)), ("tracking plan, 1 event", plan_check(1))]

    print(f"Redis {settings.REDIS_URL}, {args.calls:,} calls x {args.rounds} rounds, {batch} events per batched request")
    print(f"  {'':<48} {'wall us':>8} {'CPU us':>8}  per call")
    results = {}
    try:
        for label, fn in rows:
            results[label] = per_call_us(fn, args.calls, args.rounds)
            print(f"  {label:<48} {results[label][0]:8.1f} {results[label][1]:8.1f}", flush=True)
    finally:
        client = stream.client()
        for key in client.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}:*", count=1000):
            client.delete(key)
    gate, plan = results["gate, rate + quota on (one Redis round trip)"], results[f"tracking plan, {batch} events"]
    print(f"  {'gate + plan, batched request':<48} {gate[0] + plan[0]:8.1f} {gate[1] + plan[1]:8.1f}  (target: under 200 us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
