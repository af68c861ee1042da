"""Ingest benchmark: how many events PulseBoard accepts, and how fast they become queryable.

For each deployment (embedded: ``manage.py serve``; server: gunicorn + a separate Celery
worker and beat) and each mode (batch: 50 events per request; single: 1), it starts the
stack fresh in a temporary directory under its own Redis key prefix, warms it up, drives
``wrk`` until N events are accepted, waits until the stream backlog is empty, stops the
stack and counts the stored events in chdb. It also measures ``GET /livez`` as the
baseline for the single-event target, then prints a table and the targets.

    .venv/bin/python bench/ingest.py [--events N] [--concurrency C]
                                     [--only embedded|server] [--mode batch|single]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import queue
import secrets
import shlex
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

try:
    import psycopg
    import redis
except ImportError:
    sys.exit("bench/ingest.py needs the project's virtualenv: run it as .venv/bin/python bench/ingest.py")

REPO = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
BENCH_DATABASE = "pulseboard_bench"
WRK_THREADS = 2
BODY_POOL_SIZE = 300
# Settings read from the environment that must not leak from the caller's shell into a run.
SCRUBBED_ENV = ("DATABASE_URL", "CLICKHOUSE_URL", "CHDB_PATH", "REDIS_URL", "REDIS_KEY_PREFIX", "CELERY_BROKER_URL", "SECRET_KEY")

TARGET_BATCH_QUERYABLE = {"embedded": 20_000, "server": 50_000}
TARGET_SINGLE_VS_LIVEZ = 0.6


class BenchError(Exception):
    pass


@dataclass(frozen=True)
class Mode:
    name: str
    events_per_request: int
    default_events: int
    default_concurrency: int


MODES = {
    "batch": Mode("batch", 50, 200_000, 32),
    "single": Mode("single", 1, 20_000, 64),
}
DEPLOYMENTS = ("embedded", "server")


# --- wrk ---------------------------------------------------------------------------------

# Shared by both scripts: a wall clock comparable with Python's time.monotonic(), and a
# line writer that flushes, since the bench reads wrk's stdout while it runs.
LUA_PRELUDE = """\
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } pb_timespec;
int clock_gettime(int clock_id, pb_timespec *tp);
]]
local timespec = ffi.new("pb_timespec")
local CLOCK_MONOTONIC = 1  -- Linux; the clock behind Python's time.monotonic()
local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, timespec)
  return tonumber(timespec.tv_sec) + tonumber(timespec.tv_nsec) * 1e-9
end
local function emit(line)
  io.write(line .. "\\n")
  io.flush()
end
"""

INGEST_LUA = string.Template(
    LUA_PRELUDE
    + """
-- POST ingest requests until $target events are accepted by all threads together.
local TARGET = $target
local PER_REQUEST = $per_request
local POOL_SIZE = $pool_size
local THREADS = $threads
local PROGRESS_EVERY = $progress_every
-- A connection with nothing left to send sleeps this long: the bench stops wrk first.
local PARK_MS = 3600 * 1000

wrk.method = "POST"
wrk.path = "/api/v1/events"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "$api_key"

-- setup() and done() run in wrk's main Lua state, everything else in one state per
-- thread. The threads share one C array, two numbers per thread: events committed
-- (accepted, or reserved by a request in flight) and requests in flight. Each thread
-- writes only its own pair. A request is sent only while the committed total is below
-- TARGET, so the threads never ask for more than needed and all stop together: a thread
-- that stopped early would leave parked connections that block gunicorn's sync workers.
local threads = {}
local shared

function setup(thread)
  shared = shared or ffi.new("double[?]", 2 * THREADS)
  thread:set("tid", #threads)
  thread:set("shared_address", tonumber(ffi.cast("uintptr_t", shared)))
  threads[#threads + 1] = thread
end

-- Per-thread counters, globals so that done() can read them with thread:get().
accepted, requests, non2xx = 0, 0, 0
first_sent, last_accepted = nil, nil

local slots, inflight, stopped = nil, 0, false
local pool, next_body, next_progress = {}, 0, PROGRESS_EVERY

local NAMES = {"pageview", "click", "signup", "search", "purchase", "checkout"}
local PLANS = {"free", "pro", "team"}

-- No event_id: the server makes one, so identical bodies are still distinct events.
local function event_json()
  return string.format(
    '{"event":"%s","distinct_id":"user-%d","properties":{"plan":"%s","path":"/docs/%d","n":%d}}',
    NAMES[math.random(#NAMES)], math.random(500), PLANS[math.random(#PLANS)], math.random(40), math.random(1000))
end

local function body_json()
  if PER_REQUEST == 1 then
    return event_json()
  end
  local events = {}
  for i = 1, PER_REQUEST do
    events[i] = event_json()
  end
  return '{"events":[' .. table.concat(events, ",") .. ']}'
end

function init(args)
  slots = ffi.cast("double *", shared_address)
  math.randomseed(1000 + tid)
  for i = 1, POOL_SIZE do
    pool[i] = wrk.format(nil, nil, nil, body_json())
  end
end

local function totals()
  local committed, in_flight = 0, 0
  for i = 0, THREADS - 1 do
    committed = committed + slots[2 * i]
    in_flight = in_flight + slots[2 * i + 1]
  end
  return committed, in_flight
end

local function publish()
  slots[2 * tid] = accepted + inflight * PER_REQUEST
  slots[2 * tid + 1] = inflight
end

-- wrk calls delay() before every request: reserve its events here, or park the connection.
function delay()
  if totals() < TARGET then
    inflight = inflight + 1
    publish()
    return 0
  end
  return PARK_MS
end

function request()
  first_sent = first_sent or now()
  next_body = next_body % POOL_SIZE + 1
  return pool[next_body]
end

function response(status, headers, body)
  inflight = inflight - 1
  requests = requests + 1
  if status == 202 then
    accepted = accepted + tonumber(body:match('"accepted":(%d+)'))
    last_accepted = now()
    if accepted >= next_progress then
      emit(string.format("PB_PROGRESS %d %d", tid, accepted))
      next_progress = accepted + PROGRESS_EVERY
    end
  elseif status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
  publish()
  local committed, in_flight = totals()
  if not stopped and inflight == 0 and committed >= TARGET then
    stopped = true
    emit("PB_THREAD_DONE " .. tid)
    if in_flight == 0 then
      emit("PB_ALL_DONE")
    end
    wrk.thread:stop()
  end
end

function done(summary, latency, _)
  local total = {accepted = 0, requests = 0, non2xx = 0}
  local first, last = math.huge, 0
  for _, thread in ipairs(threads) do
    for name in pairs(total) do
      total[name] = total[name] + (thread:get(name) or 0)
    end
    first = math.min(first, thread:get("first_sent") or math.huge)
    last = math.max(last, thread:get("last_accepted") or 0)
  end
  local e = summary.errors
  emit(string.format(
    "PB_RESULT accepted=%d requests=%d non2xx=%d first_sent=%.6f last_accepted=%.6f p50_ms=%.3f p99_ms=%.3f socket_errors=%d",
    total.accepted, total.requests, total.non2xx, first, last,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, e.connect + e.read + e.write))
end
"""
)

LIVEZ_LUA = (
    LUA_PRELUDE
    + """
wrk.method = "GET"

function done(summary, latency, _)
  local e = summary.errors
  emit(string.format(
    "PB_RESULT requests=%d duration_s=%.6f non2xx=%d p50_ms=%.3f p99_ms=%.3f socket_errors=%d",
    summary.requests, summary.duration / 1e6, e.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, e.connect + e.read + e.write))
end
"""
)


def wrk_ensure() -> str:
    path = shutil.which("wrk")
    if path is None:
        print("wrk is missing: running .ci/bench-tools to install it...", flush=True)
        subprocess.run(["bash", str(REPO / ".ci" / "bench-tools")], check=False)
        path = shutil.which("wrk")
    if path is None:
        raise BenchError("wrk is not installed and .ci/bench-tools could not install it (try: apt-get install wrk).")
    return path


def parse_result(line: str) -> dict[str, float]:
    return {key: float(value) for key, value in (item.split("=", 1) for item in line.split()[1:])}


@dataclass
class WrkRun:
    result: dict[str, float]
    output: list[str]


def wrk_run(url: str, lua: str, *, connections: int, duration_s: int, on_line=None, on_tick=None) -> WrkRun:
    """Run wrk; ``on_line(line)`` returning True, or ``on_tick()`` doing so, ends the run early.

    wrk's main thread sleeps for the whole ``-d`` duration even when every worker thread has
    stopped itself, so the bench ends the run with SIGINT, which makes wrk call done().
    """
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix="pbbench-", delete=False) as script:
        script.write(lua)
    cmd = ["wrk", "-t", str(WRK_THREADS), "-c", str(connections), "-d", f"{duration_s}s", "--timeout", "60s", "-s", script.name, url]
    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, start_new_session=True)

    def pump():
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    stopping_since = None
    last_tick = 0.0
    try:
        while True:
            try:
                line = lines.get(timeout=0.25)
            except queue.Empty:
                line = ""
            if line is None:
                break
            finish = False
            if line:
                output.append(line)
                finish = on_line is not None and on_line(line)
            if on_tick is not None and time.monotonic() - last_tick >= 0.25:
                last_tick = time.monotonic()
                finish = on_tick() or finish
            if finish and stopping_since is None:
                stopping_since = time.monotonic()
            if stopping_since is not None and proc.poll() is None:
                # A SIGINT that lands on a wrk worker thread instead of the sleeping main
                # thread is lost, so send it until wrk exits.
                if time.monotonic() - stopping_since > 20:
                    proc.kill()
                else:
                    proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.unlink(script.name)
    results = [line for line in output if line.startswith("PB_RESULT ")]
    if not results:
        raise BenchError("wrk printed no result:\n  " + "\n  ".join(output[-20:]))
    return WrkRun(parse_result(results[-1]), output)


# --- Measurements ------------------------------------------------------------------------


@dataclass
class Load:
    accepted: int
    requests: int
    non2xx: int
    socket_errors: int
    first_sent: float
    last_accepted: float
    p50_ms: float
    p99_ms: float

    @property
    def seconds(self) -> float:
        return max(self.last_accepted - self.first_sent, 1e-9)

    @property
    def events_per_s(self) -> float:
        return self.accepted / self.seconds

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds


@dataclass
class Livez:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    non2xx: int


@dataclass
class Outcome:
    deployment: str
    mode: Mode
    concurrency: int
    warmup_accepted: int
    load: Load
    lag_s: float
    stored: int | None = None
    livez: Livez | None = None

    @property
    def expected_stored(self) -> int:
        return self.warmup_accepted + self.load.accepted

    @property
    def queryable_per_s(self) -> float:
        return self.load.accepted / (self.load.seconds + self.lag_s)

    @property
    def stored_ok(self) -> bool:
        return self.stored == self.expected_stored


class Progress:
    """One status line, rewritten in place on a terminal, printed every few seconds otherwise."""

    def __init__(self):
        self.tty = sys.stdout.isatty()
        self.last = 0.0

    def show(self, text: str) -> None:
        now = time.monotonic()
        if self.tty:
            print(f"\r\033[K    {text}", end="", flush=True)
        elif now - self.last >= 3:
            print(f"    {text}", flush=True)
            self.last = now

    def end(self) -> None:
        if self.tty:
            print(flush=True)
        self.last = 0.0


def ingest_load(stack: Stack, api_key: str, mode: Mode, *, target: int, concurrency: int, max_seconds: int, label: str) -> Load:
    lua = INGEST_LUA.substitute(
        target=target,
        per_request=mode.events_per_request,
        pool_size=BODY_POOL_SIZE,
        threads=WRK_THREADS,
        progress_every=max(mode.events_per_request, target // 50 // WRK_THREADS),
        api_key=api_key,
    )
    accepted_by_thread: dict[int, int] = {}
    done_threads: set[int] = set()
    started = time.monotonic()
    progress = Progress()

    def on_line(line: str) -> bool:
        kind, *rest = line.split()
        if kind == "PB_PROGRESS":
            accepted_by_thread[int(rest[0])] = int(rest[1])
        elif kind == "PB_THREAD_DONE":
            done_threads.add(int(rest[0]))
        return kind == "PB_ALL_DONE" or len(done_threads) == WRK_THREADS

    def on_tick() -> bool:
        stack.check_alive()
        accepted = sum(accepted_by_thread.values())
        progress.show(
            f"{label}: {time.monotonic() - started:5.1f} s, {accepted:,}/{target:,} events accepted, "
            f"backlog {stack.stream_length():,} stream entries"
        )
        return False

    run = wrk_run(
        f"{stack.base_url}/api/v1/events", lua, connections=concurrency, duration_s=max_seconds, on_line=on_line, on_tick=on_tick
    )
    progress.end()
    r = run.result
    load = Load(
        accepted=int(r["accepted"]),
        requests=int(r["requests"]),
        non2xx=int(r["non2xx"]),
        socket_errors=int(r["socket_errors"]),
        first_sent=r["first_sent"],
        last_accepted=r["last_accepted"],
        p50_ms=r["p50_ms"],
        p99_ms=r["p99_ms"],
    )
    if load.accepted < target:
        tail = "\n  ".join(line for line in run.output[-15:] if not line.startswith("PB_PROGRESS"))
        raise BenchError(f"{label}: only {load.accepted:,} of {target:,} events accepted within {max_seconds} s:\n  {tail}")
    if load.non2xx or load.socket_errors:
        print(f"    WARNING: {load.non2xx} non-2xx responses, {load.socket_errors} socket errors during {label}", flush=True)
    return load


def livez_load(stack: Stack, *, concurrency: int, duration_s: int) -> Livez:
    r = wrk_run(f"{stack.base_url}/livez", LIVEZ_LUA, connections=concurrency, duration_s=duration_s).result
    return Livez(requests_per_s=r["requests"] / r["duration_s"], p50_ms=r["p50_ms"], p99_ms=r["p99_ms"], non2xx=int(r["non2xx"]))


def wait_drained(stack: Stack, *, label: str, timeout_s: float) -> float:
    """Poll the backlog until it is empty; return the monotonic time it was first seen empty."""
    started = time.monotonic()
    progress = Progress()
    while True:
        pending = stack.backlog()
        now = time.monotonic()
        if pending == 0:
            progress.end()
            return now
        stack.check_alive()
        if now - started > timeout_s:
            progress.end()
            raise BenchError(f"{label}: the backlog still holds {pending:,} entries after {timeout_s:.0f} s")
        progress.show(f"{label}: waiting for the backlog to drain, {pending:,} stream entries left ({now - started:.1f} s)")
        time.sleep(0.1)


# --- Stacks ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSEBOARD_") and k not in SCRUBBED_ENV}
    env["DJANGO_SETTINGS_MODULE"] = "pulseboard.settings"
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path


@dataclass
class Stack:
    """One deployment, started fresh: its own var dir, Redis key prefix and port."""

    deployment: str
    gunicorn_args: list[str]
    keep_var: bool = False
    var_dir: Path = field(init=False)
    prefix: str = field(init=False)
    port: int = field(init=False)
    env: dict[str, str] = field(init=False)
    processes: list[Process] = field(default_factory=list, init=False)

    def __post_init__(self):
        self.var_dir = Path(tempfile.mkdtemp(prefix=f"pbbench-{self.deployment}-"))
        self.prefix = f"pbbench:{secrets.token_hex(6)}"
        self.port = free_port()
        self.env = base_env() | {
            "PULSEBOARD_VAR_DIR": str(self.var_dir),
            "REDIS_URL": REDIS_URL,
            "REDIS_KEY_PREFIX": self.prefix,
            "SECRET_KEY": secrets.token_urlsafe(48),
        }
        if self.deployment == "server":
            self.env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{BENCH_DATABASE}"
        self.redis = redis.Redis.from_url(REDIS_URL)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- lifecycle

    def start(self) -> None:
        if self.deployment == "embedded":
            self._spawn("serve", [sys.executable, "manage.py", "serve", "--port", str(self.port), "--no-demo"])
        else:
            self._database_recreate()
            self.manage("migrate", "--noinput", "-v", "0")
            self.manage("ch_migrate")  # before the worker opens chdb, and only it, for good
            self._spawn("worker", [sys.executable, "-m", "celery", "-A", "pulseboard", "worker", "--pool=solo", "--loglevel=WARNING"])
            schedule = str(self.var_dir / "celerybeat-schedule")
            self._spawn("beat", [sys.executable, "-m", "celery", "-A", "pulseboard", "beat", "--loglevel=WARNING", "-s", schedule])
            bind = ["-b", f"127.0.0.1:{self.port}"]
            self._spawn("gunicorn", [sys.executable, "-m", "gunicorn", "-c", "python:pulseboard.gunicorn_conf", "pulseboard.wsgi:application", *self.gunicorn_args, *bind])
        self._wait_live(timeout_s=90)

    def stop(self, timeout_s: float = 30) -> None:
        """SIGTERM each process group, newest first (web before worker), SIGKILL if it lingers."""
        for process in reversed(self.processes):
            popen = process.popen
            if popen.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGTERM)
            try:
                popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                print(f"    {process.name} ignored SIGTERM for {timeout_s:.0f} s: SIGKILL", flush=True)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGKILL)
                popen.wait()
            # The group may outlive its leader (a gunicorn worker, a celery child).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)

    def cleanup(self) -> None:
        self.stop()
        keys = list(self.redis.scan_iter(match=f"{self.prefix}:*", count=5000))
        for i in range(0, len(keys), 5000):
            self.redis.unlink(*keys[i : i + 5000])
        if self.keep_var:
            print(f"    kept {self.var_dir}")
        else:
            shutil.rmtree(self.var_dir, ignore_errors=True)

    def _spawn(self, name: str, cmd: list[str]) -> None:
        log = self.var_dir / f"{name}.log"
        with open(log, "wb") as out:
            popen = subprocess.Popen(cmd, cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(Process(name, popen, log))

    def check_alive(self) -> None:
        for process in self.processes:
            if process.popen.poll() is not None:
                tail = process.log.read_text(errors="replace").splitlines()[-25:]
                raise BenchError(f"{process.name} exited with code {process.popen.returncode}:\n  " + "\n  ".join(tail))

    def _wait_live(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{self.base_url}/livez", timeout=2) as answer:
                    if answer.status == 200:
                        return
            time.sleep(0.2)
        raise BenchError(f"{self.deployment}: /livez did not answer within {timeout_s:.0f} s")

    def _database_recreate(self) -> None:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')

    # --- application

    def manage(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise BenchError(f"manage.py {' '.join(args[:1])} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done.stdout

    def bootstrap(self) -> str:
        # "--password=..." because a random password may start with "-".
        password = secrets.token_urlsafe(16)
        out = self.manage("bootstrap", "--username", "bench", f"--password={password}", "--project", "Bench", "--json")
        return json.loads(out.strip().splitlines()[-1])["api_key"]

    def stream_length(self) -> int:
        return int(self.redis.xlen(f"{self.prefix}:events"))

    def backlog(self) -> int:
        """Stream entries not yet in ClickHouse.

        The embedded process answers /healthz itself; in the server tier /healthz would make
        a gunicorn worker open chdb and fight the Celery worker for its lock, so the stream
        is read directly (the same XLEN that /healthz reports as ``stream.pending``).
        """
        if self.deployment == "embedded":
            with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=30) as answer:
                return int(json.load(answer)["stream"]["pending"])
        return self.stream_length()

    def stored_count(self) -> int:
        """Count the events in chdb from a fresh process: call it once the stack is stopped."""
        code = 'from pulseboard import clickhouse; print(clickhouse.query("SELECT count() FROM events").scalar())'
        return int(self.manage("shell", "-c", code).strip().splitlines()[-1])


# --- One run -----------------------------------------------------------------------------


def run_one(deployment: str, mode: Mode, args: argparse.Namespace) -> Outcome:
    events = args.events or mode.default_events
    concurrency = args.concurrency or mode.default_concurrency
    print(f"\n== {deployment} / {mode.name}: {events:,} events, {mode.events_per_request} per request, concurrency {concurrency}", flush=True)
    with contextlib.ExitStack() as cleanup:
        stack = Stack(deployment, args.gunicorn, keep_var=args.keep_var)
        cleanup.callback(stack.cleanup)
        started = time.monotonic()
        stack.start()
        api_key = stack.bootstrap()
        print(f"    up in {time.monotonic() - started:.1f} s at {stack.base_url} (var {stack.var_dir}, redis prefix {stack.prefix})")

        warm = ingest_load(
            stack, api_key, mode, target=args.warmup_requests * mode.events_per_request,
            concurrency=concurrency, max_seconds=args.max_seconds, label="warm-up",
        )
        drained_at = wait_drained(stack, label="warm-up", timeout_s=args.drain_timeout)
        print(
            f"    warm-up: {warm.accepted:,} events in {warm.requests:,} requests, drained "
            f"{drained_at - warm.last_accepted:.2f} s after the last 202; stored baseline {warm.accepted:,}",
            flush=True,
        )

        load = ingest_load(
            stack, api_key, mode, target=events, concurrency=concurrency, max_seconds=args.max_seconds, label="load"
        )
        print(
            f"    load: {load.accepted:,} events in {load.requests:,} requests, {load.seconds:.2f} s, "
            f"{load.events_per_s:,.0f} ev/s, p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms",
            flush=True,
        )
        drained_at = wait_drained(stack, label="load", timeout_s=args.drain_timeout)
        outcome = Outcome(deployment, mode, concurrency, warm.accepted, load, lag_s=max(0.0, drained_at - load.last_accepted))
        print(f"    drained {outcome.lag_s:.2f} s after the last 202: {outcome.queryable_per_s:,.0f} ev/s accepted to queryable")

        if mode.name == "single":
            outcome.livez = livez_load(stack, concurrency=concurrency, duration_s=args.livez_seconds)
            print(
                f"    GET /livez: {outcome.livez.requests_per_s:,.0f} req/s over {args.livez_seconds} s, "
                f"p50 {outcome.livez.p50_ms:.1f} ms, p99 {outcome.livez.p99_ms:.1f} ms",
                flush=True,
            )

        stack.stop()
        outcome.stored = stack.stored_count()
        verdict = "OK" if outcome.stored_ok else "MISMATCH  <<<<<<<<<<<<<<<<<<<<<<<<<<<<<<<"
        print(f"    stored in ClickHouse: {outcome.stored:,}, expected {outcome.expected_stored:,} (warm-up + load): {verdict}", flush=True)
        return outcome


# --- Report ------------------------------------------------------------------------------


def machine_summary() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    wrk_version = " ".join(subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()[:2])
    return (
        f"date: {datetime.now().astimezone():%Y-%m-%d %H:%M:%S %Z}\n"
        f"machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {model}, "
        f"Python {platform.python_version()}, {wrk_version}\n"
        f"load average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def pass_miss(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(outcomes: list[Outcome], args: argparse.Namespace) -> None:
    headers = ["deployment", "mode", "conc", "events accepted", "accepted ev/s", "acc->queryable ev/s", "p50 ms", "p99 ms", "e2e lag s", "req/s", "stored"]
    rows = [
        [
            o.deployment,
            o.mode.name,
            str(o.concurrency),
            f"{o.load.accepted:,}",
            f"{o.load.events_per_s:,.0f}",
            f"{o.queryable_per_s:,.0f}",
            f"{o.load.p50_ms:.1f}",
            f"{o.load.p99_ms:.1f}",
            f"{o.lag_s:.2f}",
            f"{o.load.requests_per_s:,.0f}",
            "OK" if o.stored_ok else "MISMATCH",
        ]
        for o in outcomes
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    print("\n" + "=" * len(line))
    print(machine_summary())
    print(f"server tier: gunicorn {' '.join(args.gunicorn)} + celery worker --pool=solo + celery beat; wrk -t {WRK_THREADS}")
    print(line)
    print("  ".join(h.rjust(w) if i > 2 else h.ljust(w) for i, (h, w) in enumerate(zip(headers, widths))))
    print(line)
    for row in rows:
        print("  ".join(c.rjust(w) if i > 2 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
    print(line)

    print("baseline (GET /livez, same server, same concurrency as single mode):")
    for o in outcomes:
        if o.livez is not None:
            ratio = o.load.requests_per_s / o.livez.requests_per_s
            print(
                f"  {o.deployment}: livez {o.livez.requests_per_s:,.0f} req/s (p50 {o.livez.p50_ms:.1f} ms, p99 {o.livez.p99_ms:.1f} ms); "
                f"single-event {o.load.requests_per_s:,.0f} req/s; ratio {ratio:.3f}"
            )
    print("targets:")
    for o in outcomes:
        if o.mode.name == "batch":
            target = TARGET_BATCH_QUERYABLE[o.deployment]
            print(
                f"  [{pass_miss(o.queryable_per_s >= target)}] {o.deployment} batched accepted->queryable "
                f"{o.queryable_per_s:,.0f} ev/s >= {target:,} ev/s"
            )
        if o.livez is not None:
            ratio = o.load.requests_per_s / o.livez.requests_per_s
            print(
                f"  [{pass_miss(ratio >= TARGET_SINGLE_VS_LIVEZ)}] {o.deployment} single-event req/s >= "
                f"{TARGET_SINGLE_VS_LIVEZ}x livez: {ratio:.3f}x"
            )
    mismatches = [o for o in outcomes if not o.stored_ok]
    if mismatches:
        print("STORED COUNT MISMATCH in: " + ", ".join(f"{o.deployment}/{o.mode.name}" for o in mismatches))
    print("=" * len(line))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, help="events to accept per run (default: 200,000 batch, 20,000 single)")
    parser.add_argument("--concurrency", type=int, help="wrk connections (default: 32 batch, 64 single)")
    parser.add_argument("--only", choices=DEPLOYMENTS, help="run one deployment")
    parser.add_argument("--mode", choices=sorted(MODES), help="run one mode")
    parser.add_argument("--warmup-requests", type=int, default=300, help="requests of the uncounted warm-up (default 300)")
    parser.add_argument("--livez-seconds", type=int, default=10, help="length of the GET /livez baseline (default 10)")
    parser.add_argument("--max-seconds", type=int, default=900, help="give up on a load phase after this long (default 900)")
    parser.add_argument("--drain-timeout", type=float, default=600, help="give up waiting for the backlog after this long")
    parser.add_argument(
        "--gunicorn", type=shlex.split, default=["-w", "2", "-k", "gthread", "--threads", "4"],
        help="gunicorn options of the server tier, besides -b (default: '-w 2 -k gthread --threads 4', "
        "faster here than sync workers, which close the connection after every request)",
    )
    parser.add_argument("--keep-var", action="store_true", help="keep each run's var dir (logs, chdb) for inspection")
    return parser.parse_args()


def interrupt(signum, frame):
    """A SIGTERM to the bench unwinds like Ctrl-C, so every stack is stopped and cleaned up."""
    raise KeyboardInterrupt


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, interrupt)
    try:
        wrk_ensure()
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except (BenchError, redis.RedisError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    print(machine_summary(), flush=True)
    deployments = [args.only] if args.only else list(DEPLOYMENTS)
    modes = [MODES[args.mode]] if args.mode else list(MODES.values())
    outcomes = []
    try:
        for deployment in deployments:
            for mode in modes:
                outcomes.append(run_one(deployment, mode, args))
    except BenchError as exc:
        print(f"\nbench failed: {exc}", file=sys.stderr)
        if outcomes:
            report(outcomes, args)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; stacks stopped and cleaned up", file=sys.stderr)
        return 130
    report(outcomes, args)
    return 0 if all(o.stored_ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
