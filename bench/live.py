"""Live feed benchmark: how long from an event's 202 until it arrives on an open live socket.

Starts the embedded deployment (``manage.py serve --no-demo``: web, worker and beat in one
process) in a temporary var dir (bench/stack.py), creates a login and a project with
``manage.py bootstrap``, logs in through the login form, opens the project's live socket
with that session, and sends N events one at a time at a steady rate, each with its own
``event_id``. For each event it takes the delay from the moment the 202 was received to the
moment the event arrived on the socket, and prints p50, p95, p99 and max (and how many
never arrived).

By default the server uses the Redis at 127.0.0.1:6379 under a key prefix of its own, as
``make run`` does when that Redis answers; ``--private-redis`` makes it start its private
redis-server on a unix socket under the var dir instead.

    .venv/bin/python bench/live.py [--events 300] [--rate 10] [--private-redis]
                                   [--flush-interval SECONDS] [--keep-var]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

try:
    import requests
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect
except ImportError:
    sys.exit("bench/live.py needs the project's virtualenv: run it as .venv/bin/python bench/live.py")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import REDIS_URL, Stack, StackError  # noqa: E402

# Nothing answers on port 1: the server starts its private redis-server.
NO_REDIS_URL = "redis://127.0.0.1:1/0"
PASSWORD = "bench-password-1"
WARMUP_EVENTS = 10


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


class Listener(threading.Thread):
    """Reads the live socket and notes when each event id arrived."""

    def __init__(self, ws):
        super().__init__(daemon=True)
        self.ws = ws
        ready = json.loads(ws.recv(timeout=10))
        if ready.get("type") != "ready":
            raise SystemExit(f"the socket did not say ready: {ready}")
        self.arrived: dict[str, float] = {}
        self.unsent = 0  # events the server counted in a message but did not list (a batch over the cap)
        self.lock = threading.Lock()

    def run(self) -> None:
        try:
            for text in self.ws:
                now = time.monotonic()
                message = json.loads(text)
                if message.get("type") != "events":
                    continue
                with self.lock:
                    self.unsent += message["total"] - len(message["events"])
                    for event in message["events"]:
                        self.arrived.setdefault(event["event_id"], now)
        except ConnectionClosed:
            pass

    def wait_for(self, ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(i in self.arrived for i in ids):
                    return
            time.sleep(0.02)


def login(base: str, username: str, password: str) -> str:
    """The session cookie of the bench login, through the login form as a browser gets it."""
    browser = requests.Session()
    browser.get(f"{base}/login/", timeout=10)
    form = {"username": username, "password": password, "csrfmiddlewaretoken": browser.cookies["csrftoken"]}
    if not browser.post(f"{base}/login/", data=form, timeout=10).ok or "sessionid" not in browser.cookies:
        raise SystemExit("could not log in")
    return f"sessionid={browser.cookies['sessionid']}"


def send(http: requests.Session, base: str, api_key: str, n: int) -> tuple[str, float, float]:
    event_id = str(uuid.uuid4())
    started = time.monotonic()
    response = http.post(
        f"{base}/api/v1/events",
        json={"event": "bench_live", "distinct_id": f"bench-{n % 50}", "event_id": event_id, "page_url": "https://bench.example/"},
        headers={"X-API-Key": api_key},
        timeout=10,
    )
    answered = time.monotonic()
    if response.status_code != 202:
        raise SystemExit(f"event {n}: HTTP {response.status_code} {response.text[:200]}")
    return event_id, started, answered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300, help="events measured (default 300)")
    parser.add_argument("--rate", type=float, default=10.0, help="events per second, one request each (default 10)")
    parser.add_argument("--private-redis", action="store_true", help="let the server start its private redis-server (unix socket)")
    parser.add_argument("--flush-interval", type=float, help="FLUSH_INTERVAL_SECONDS of the server (default: the app's, 1 s)")
    parser.add_argument("--keep-var", action="store_true", help="keep the temporary var dir and its serve.log")
    args = parser.parse_args()

    started_at = datetime.now(timezone.utc)
    load_at_start = os.getloadavg()
    env = {"LOG_LEVEL": "WARNING"}
    if args.flush_interval is not None:
        env["FLUSH_INTERVAL_SECONDS"] = str(args.flush_interval)
    stack = Stack(
        "embedded", redis_url=NO_REDIS_URL if args.private_redis else REDIS_URL, extra_env=env, keep_var=args.keep_var, label="live"
    )
    try:
        stack.start(timeout_s=180)
        keys = stack.bootstrap(password=PASSWORD)
        cookie = login(stack.base_url, keys["username"], keys["password"])
        socket_url = f"ws://127.0.0.1:{stack.port}/ws/projects/{keys['project_id']}/live/"
        with connect(socket_url, origin=stack.base_url, additional_headers={"Cookie": cookie}, proxy=None, open_timeout=10) as ws:
            listener = Listener(ws)
            listener.start()
            http = requests.Session()

            warmup = [send(http, stack.base_url, keys["api_key"], n)[0] for n in range(WARMUP_EVENTS)]
            listener.wait_for(warmup, timeout=30)

            sent: list[tuple[str, float, float]] = []
            t0 = time.monotonic()
            for n in range(args.events):
                pause = t0 + n / args.rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                sent.append(send(http, stack.base_url, keys["api_key"], n))
            send_seconds = time.monotonic() - t0
            listener.wait_for([event_id for event_id, _, _ in sent], timeout=30)
    except StackError as exc:
        raise SystemExit(f"live bench failed: {exc}") from None
    finally:
        stack.cleanup()

    with listener.lock:
        delays = [(listener.arrived[i] - answered) * 1000 for i, _, answered in sent if i in listener.arrived]
        missing = sum(1 for i, _, _ in sent if i not in listener.arrived)
    requests_ms = [(answered - begun) * 1000 for _, begun, answered in sent]

    print(f"\nLive feed, embedded deployment (manage.py serve), {'private redis-server (unix socket)' if args.private_redis else 'Redis at 127.0.0.1:6379'}")
    print(f"date: {started_at:%Y-%m-%d %H:%M} UTC; python {platform.python_version()}; {os.cpu_count()} CPUs")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in load_at_start)}; at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"flush interval: {args.flush_interval if args.flush_interval is not None else 1.0:g} s")
    print(f"events: {args.events} sent one per request at {args.rate:g}/s (took {send_seconds:.1f} s), after {WARMUP_EVENTS} warm-up events")
    print(f"arrived on the socket: {len(delays)}; never arrived: {missing}; counted but not listed: {listener.unsent}")
    if delays:
        print(
            f"202 -> socket (ms): p50 {percentile(delays, 50):.0f}  p95 {percentile(delays, 95):.0f}  "
            f"p99 {percentile(delays, 99):.0f}  max {max(delays):.0f}  mean {statistics.fmean(delays):.0f}"
        )
    print(f"the POST itself (ms): p50 {percentile(requests_ms, 50):.1f}  p95 {percentile(requests_ms, 95):.1f}  max {max(requests_ms):.1f}")
    if missing:
        sys.exit(1)


if __name__ == "__main__":
    main()
