"""Guardrails benchmark: what the ingest checks cost per request.

Times N calls of the gate (``apps.ingest.gate.request_gate``: the origin rule, then the rate
limit and daily quota, one Lua script on the real Redis at ``REDIS_URL``), with limits on and
off, and, where the tracking plan exists (``apps.ingest.plan.CompiledPlan``), N checks of a
request's events against a plan of 30 event names. Prints microseconds per call (the median of
``--rounds`` rounds). The Redis keys live under their own prefix and are deleted afterwards.

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
from apps.projects.selectors import IngestTarget  # noqa: E402

HUGE = 1_000_000_000  # a limit the bench never reaches: every call takes, none is refused


def per_call_us(fn, calls: int, rounds: int) -> float:
    """The median over ``rounds`` of the mean time of one call, in microseconds."""
    fn()  # warm: the script is loaded into Redis, the connection opened
    means = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        means.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(means)


def plan_check(events_per_request: int):
    """A check of one request's events against a 30-event plan, or None without a plan."""
    try:
        from apps.ingest.plan import CompiledPlan
    except ImportError:
        return None
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
    check = plan_check(batch)
    single = plan_check(1)
    if check is not None:
        rows += [(f"tracking plan, {batch} events", check), ("tracking plan, 1 event", single)]

    print(f"Redis {settings.REDIS_URL}, {args.calls:,} calls x {args.rounds} rounds, {batch} events per batched request")
    results = {}
    try:
        for label, fn in rows:
            results[label] = per_call_us(fn, args.calls, args.rounds)
            print(f"  {label:<48} {results[label]:8.1f} us per call", flush=True)
    finally:
        client = stream.client()
        for key in client.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}:*", count=1000):
            client.delete(key)
    if check is not None:
        both = results["gate, rate + quota on (one Redis round trip)"] + results[f"tracking plan, {batch} events"]
        print(f"  {'gate + plan, batched request':<48} {both:8.1f} us per request (target: under 200)")
    else:
        print("  (no tracking plan in this code: the gate alone)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
