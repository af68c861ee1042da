"""``make chaos``: kill things under load and count that every accepted event is stored once.

Each scenario starts a fresh stack (bench/stack.py) on a Redis of its own (redis-server
with AOF, ``appendfsync everysec``, as in docker-compose.yml), drives ingest from several
client threads that behave like our SDKs (every event carries its own ``event_id``; a
connection error or a 5xx is retried with the same body), breaks something while the load
runs, then lets the stream drain, stops the stack and counts in ClickHouse:

* accepted: events answered 2xx;
* lost: accepted events that are not stored (must be 0);
* duplicates: rows beyond one per event id (must be 0);
* drift: buckets where a rollup disagrees with events (must be 0; checked by the reconciler
  without repairing anything);
* dead letters: events ClickHouse refused, kept in the dead-letter stream (must be exactly
  the poison events, and only in the poison scenario).

Scenarios: ``embedded-kill`` (kill -9 of ``manage.py serve``, three times), ``worker-kill``
(kill -9 of the server tier's Celery worker, three times), ``redis-restart`` (Redis killed
with -9, then shut down, under load) and ``poison`` (one request in 50 carries a few events
that an operator's constraint makes ClickHouse refuse, and one request spans 150 months).

    .venv/bin/python bench/chaos.py [--only SCENARIO] [--seconds 40] [--threads 6]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

try:
    import redis
    import requests
except ImportError:
    sys.exit("bench/chaos.py needs the project's virtualenv: run it as .venv/bin/python bench/chaos.py")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import Stack, StackError, free_port  # noqa: E402

POISON = "chaos_poison"
NAMES = ["$pageview", "click", "signed_up", "search", "purchase"]
# Reconnects and retries are quick, so that the client keeps up while things restart.
RETRY_PAUSE_S = 0.2
# A request still unanswered this long after the load stops is given up (and counted).
GIVE_UP_S = 120


# --- A Redis of our own, to kill -------------------------------------------------------------


class OwnRedis:
    """redis-server on a free port with AOF everysec, in a directory of its own."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="pbchaos-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise StackError("redis-server is missing: install Debian's redis-server package")
        self.process = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", "",
             "--appendonly", "yes", "--appendfsync", "everysec", "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if redis.Redis(port=self.port, socket_connect_timeout=0.5).ping():
                    return
            time.sleep(0.1)
        raise StackError("the chaos redis-server did not start")

    def kill9(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def shutdown(self) -> None:
        with contextlib.suppress(redis.RedisError):
            redis.Redis(port=self.port, socket_timeout=10).shutdown()
        if self.process is not None:
            self.process.wait(timeout=30)

    def cleanup(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.kill9()
        shutil.rmtree(self.dir, ignore_errors=True)


# --- Load --------------------------------------------------------------------------------------


@dataclass
class Tally:
    accepted: set[str] = field(default_factory=set)
    poison_accepted: set[str] = field(default_factory=set)
    sent: set[str] = field(default_factory=set)
    requests: int = 0
    retries: int = 0
    given_up: int = 0
    refused_4xx: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Load:
    """Client threads POSTing batches with their own event ids, retrying like an SDK."""

    def __init__(self, base_url: str, api_key: str, *, threads: int, poison_rate: float = 0.0):
        self.base_url = base_url
        self.api_key = api_key
        self.poison_rate = poison_rate
        self.tally = Tally()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=GIVE_UP_S + 30)

    def _event(self, rng: random.Random, poison: bool = False) -> dict:
        name = POISON if poison else rng.choice(NAMES)
        person = rng.randrange(400)
        return {
            "event": name,
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "distinct_id": f"chaos-{person}",
            "session_id": f"s-{person}-{rng.randrange(3)}",
            "properties": {"n": rng.randrange(1000)},
        }

    def _run(self, index: int) -> None:
        rng = random.Random(index * 7919 + int(time.time()))
        session = requests.Session()
        while not self.stopping.is_set():
            events = [self._event(rng) for _ in range(rng.randint(1, 60))]
            if rng.random() < self.poison_rate:  # a poison batch: a few refused events among good ones
                for _ in range(rng.randint(1, 3)):
                    events.insert(rng.randrange(len(events) + 1), self._event(rng, poison=True))
            self.post(session, events)

    def post(self, session: requests.Session, events: list[dict], headers: dict | None = None) -> bool:
        """POST until answered (retrying the same body), or give up a while after the load stops."""
        with self.tally.lock:
            self.tally.sent.update(e["event_id"] for e in events)
        body = json.dumps({"events": events})
        deadline = None
        while True:
            if self.stopping.is_set() and deadline is None:
                deadline = time.monotonic() + GIVE_UP_S
            try:
                answer = session.post(
                    f"{self.base_url}/api/v1/events", data=body, timeout=30,
                    headers={"Content-Type": "application/json", "X-API-Key": self.api_key, **(headers or {})},
                )
            except requests.RequestException:
                answer = None
            with self.tally.lock:
                self.tally.requests += 1
            if answer is not None and answer.status_code < 300:
                ids = answer.json()["event_ids"]
                with self.tally.lock:
                    self.tally.accepted.update(ids)
                    self.tally.poison_accepted.update(e["event_id"] for e in events if e["event"] == POISON)
                return True
            if answer is not None and 400 <= answer.status_code < 500 and answer.status_code not in (408, 409, 429):
                with self.tally.lock:
                    self.tally.refused_4xx += 1
                print(f"    unexpected {answer.status_code}: {answer.text[:300]}", flush=True)
                return False
            if deadline is not None and time.monotonic() > deadline:
                with self.tally.lock:
                    self.tally.given_up += 1
                return False
            with self.tally.lock:
                self.tally.retries += 1
            time.sleep(RETRY_PAUSE_S)


# --- Scenarios -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    scenario: str
    accepted: int
    lost: int
    duplicates: int
    stored_unanswered: int
    drift: int
    dead_letters: int
    dead_expected: int
    requests: int
    retries: int
    given_up: int
    breaks: list[str]

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicates == 0 and self.drift == 0 and self.dead_letters == self.dead_expected


VERIFY = """
import json
from pulseboard import clickhouse
from apps.ingest.reconcile import rollups_check
pid = {project_id}
rows = clickhouse.query("SELECT toString(event_id) FROM events WHERE project_id = {{p:UInt64}}", {{"p": pid}}).rows
open({ids_path!r}, "w").write("\\n".join(r[0] for r in rows))
drift = rollups_check(project_ids=[pid], repair=False).drift
print("CHAOS " + json.dumps({{"rows": len(rows), "drift": [d.as_json() for d in drift]}}))
"""

CONSTRAINT = "ALTER TABLE events ADD CONSTRAINT chaos_refuses_poison CHECK event != '" + POISON + "'"


def wait_drained(stack: Stack, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError):
            if stack.stream_length() == 0:
                return
        time.sleep(0.5)
    raise StackError(f"the stream still holds {stack.stream_length()} entries after {timeout_s:.0f} s")


def every(seconds: float, until: float, action) -> list[str]:
    """Call ``action()`` every ``seconds`` until the monotonic time ``until``; its notes."""
    notes = []
    next_at = time.monotonic() + seconds
    while time.monotonic() < until:
        if time.monotonic() >= next_at:
            notes.append(action())
            next_at = time.monotonic() + seconds
        time.sleep(0.1)
    return notes


def run(scenario: str, args: argparse.Namespace) -> Outcome:
    print(f"\n== {scenario}", flush=True)
    own_redis = OwnRedis()
    own_redis.start()
    deployment = "server" if scenario == "worker-kill" else "embedded"
    env = {
        # A restarted process is a new stream consumer: it takes over the dead one's entries
        # after this long idle (60 s by default).
        "FLUSH_CLAIM_IDLE_MS": "5000",
        "LOG_LEVEL": "WARNING",
        "INGEST_MAX_PAST_DAYS": "5000",
    }
    stack = Stack(deployment, redis_url=own_redis.url, extra_env=env, keep_var=args.keep_var, label="chaos")
    try:
        stack.prepare()
        project = stack.bootstrap()
        if scenario == "poison":
            stack.python(f"from pulseboard import clickhouse; clickhouse.command({CONSTRAINT!r})")
        stack.start()
        load = Load(stack.base_url, project["api_key"], threads=args.threads, poison_rate=0.02 if scenario == "poison" else 0.0)
        started = time.monotonic()
        load.start()
        until = started + args.seconds
        breaks: list[str] = []

        if scenario == "embedded-kill":

            def kill_serve() -> str:
                cmd = stack.kill("serve")
                stack.spawn("serve", cmd)
                stack.wait_live(timeout_s=120)
                return f"serve killed at {time.monotonic() - started:.0f} s"

            breaks = every(args.seconds / 4, until, kill_serve)
        elif scenario == "worker-kill":

            def kill_worker() -> str:
                cmd = stack.kill("worker")
                time.sleep(2)  # down a while: the stream holds what comes in meanwhile
                stack.spawn("worker", cmd)
                return f"worker killed at {time.monotonic() - started:.0f} s"

            breaks = every(args.seconds / 4, until, kill_worker)
        elif scenario == "redis-restart":
            moves = iter([("kill -9", own_redis.kill9), ("shutdown", own_redis.shutdown)])

            def restart_redis() -> str:
                kind, stop = next(moves, ("shutdown", own_redis.shutdown))
                stop()
                time.sleep(2)
                own_redis.start()
                return f"redis {kind} at {time.monotonic() - started:.0f} s"

            breaks = every(args.seconds / 3, until, restart_redis)
        elif scenario == "poison":
            now = datetime.now(timezone.utc)
            spread = [
                {"event": "old", "event_id": str(uuid.uuid4()), "distinct_id": f"old-{m}", "timestamp": (now - timedelta(days=31 * m)).isoformat()}
                for m in range(150)
            ]
            time.sleep(args.seconds / 2)
            load.post(requests.Session(), spread)
            breaks = ["150 events over 150 months in one request"]
            time.sleep(max(0.0, until - time.monotonic()))
        load.stop()
        print(f"    load stopped after {time.monotonic() - started:.0f} s; {', '.join(breaks)}", flush=True)
        stack.wait_live(timeout_s=120)
        wait_drained(stack)
        dead = [json.loads(fields[b"d"]) for _, fields in redis.Redis.from_url(own_redis.url).xrange(f"{stack.prefix}:deadletter")]
        stack.stop()
        ids_path = stack.var_dir / "stored_ids.txt"
        out = stack.python(VERIFY.format(project_id=project["project_id"], ids_path=str(ids_path)))
        report = json.loads(next(line for line in out.splitlines() if line.startswith("CHAOS "))[6:])
        stored = ids_path.read_text().split("\n") if report["rows"] else []
        stored_set = set(stored)
        tally = load.tally
        dead_ids = {row["event_id"] for row in dead}
        should_store = tally.accepted - tally.poison_accepted
        outcome = Outcome(
            scenario=scenario,
            accepted=len(tally.accepted),
            lost=len(should_store - stored_set) + len(tally.poison_accepted - dead_ids),
            duplicates=len(stored) - len(stored_set),
            stored_unanswered=len(stored_set - tally.accepted),
            drift=len(report["drift"]),
            dead_letters=len(dead),
            dead_expected=len(tally.poison_accepted),
            requests=tally.requests,
            retries=tally.retries,
            given_up=tally.given_up,
            breaks=breaks,
        )
        for item in report["drift"][:10]:
            print(f"    drift: {item}", flush=True)
        print(
            f"    accepted {outcome.accepted:,}, lost {outcome.lost}, duplicates {outcome.duplicates}, drift {outcome.drift}, "
            f"dead letters {outcome.dead_letters} (expected {outcome.dead_expected}); "
            f"{outcome.requests:,} requests, {outcome.retries:,} retries, {outcome.given_up} given up: {'OK' if outcome.ok else 'FAILED'}",
            flush=True,
        )
        return outcome
    finally:
        stack.cleanup()
        own_redis.cleanup()


SCENARIOS = ("embedded-kill", "worker-kill", "redis-restart", "poison")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=SCENARIOS, action="append", help="run this scenario (repeatable; default all)")
    parser.add_argument("--seconds", type=float, default=40, help="load per scenario (default 40)")
    parser.add_argument("--threads", type=int, default=6, help="client threads (default 6)")
    parser.add_argument("--keep-var", action="store_true", help="keep each stack's var dir (logs, chdb)")
    args = parser.parse_args()
    started = time.monotonic()
    print(f"chaos: {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}, {os.cpu_count()} CPUs", flush=True)
    outcomes = []
    try:
        for scenario in args.only or SCENARIOS:
            outcomes.append(run(scenario, args))
    except StackError as exc:
        print(f"chaos failed: {exc}", file=sys.stderr)
        return 1
    headers = ["scenario", "accepted", "lost", "duplicates", "drift", "dead letters", "expected", "stored unanswered", "result"]
    rows = [
        [o.scenario, f"{o.accepted:,}", str(o.lost), str(o.duplicates), str(o.drift), str(o.dead_letters), str(o.dead_expected),
         str(o.stored_unanswered), "OK" if o.ok else "FAILED"]
        for o in outcomes
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print()
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)))
    print(f"chaos took {time.monotonic() - started:.0f} s")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
