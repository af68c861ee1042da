"""Ingest benchmark: how many events PulseBoard accepts, and how fast they become queryable.

For each deployment (embedded: ``manage.py serve``; server: gunicorn + a separate Celery
worker and beat) and each mode (batch: 50 events per request; single: 1), it starts the
stack fresh in a temporary directory under its own Redis key prefix (bench/stack.py), warms
it up, drives ``wrk`` until N events are accepted, waits until the stream backlog is empty,
stops the stack and counts the stored events in chdb. It also measures ``GET /livez`` as the
baseline for the single-event target, then prints a table and the targets.

With ``--baseline REF`` it also checks REF (a commit or branch) out into a temporary git
worktree and runs that code's stack before each run of the current one, with this same
bench, on the same machine at the same time of day, then prints the ratio current/baseline
and whether the current code is within 10% of it. ``--repeat N`` alternates N runs of each
and compares their medians.

    .venv/bin/python bench/ingest.py [--events N] [--concurrency C]
                                     [--only embedded|server] [--mode batch|single]
                                     [--baseline REF] [--repeat N] [--limits]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import queue
import shlex
import shutil
import signal
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

try:
    import redis
except ImportError:
    sys.exit("bench/ingest.py needs the project's virtualenv: run it as .venv/bin/python bench/ingest.py")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stack import DEPLOYMENTS, REDIS_URL, REPO, Stack, StackError  # noqa: E402

WRK_THREADS = 2
BODY_POOL_SIZE = 300
TARGET_BATCH_QUERYABLE = {"embedded": 20_000, "server": 50_000}
TARGET_SINGLE_VS_LIVEZ = 0.6
# The project's rule: a change may lose at most this share of ingest throughput.
MAX_LOSS_VS_BASELINE = 0.10


class BenchError(StackError):
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


# --- wrk ---------------------------------------------------------------------------------

# The wrk scripts: prelude.lua (a clock comparable with time.monotonic(), a flushing line
# writer) before each of ingest.lua (a string.Template) and livez.lua.
LUA_DIR = Path(__file__).resolve().parent / "lua"
LUA_PRELUDE = (LUA_DIR / "prelude.lua").read_text()
INGEST_LUA = string.Template((LUA_DIR / "ingest.lua").read_text())
LIVEZ_LUA = LUA_PRELUDE + (LUA_DIR / "livez.lua").read_text()


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


@dataclass(frozen=True)
class Code:
    """The code a stack runs: this checkout ("current") or --baseline REF in a worktree."""

    role: str
    repo: Path
    describe: str


@dataclass
class Outcome:
    deployment: str
    mode: Mode
    concurrency: int
    warmup_accepted: int
    load: Load
    lag_s: float
    code: Code
    run: int
    stored: int | None = None
    livez: Livez | None = None

    @property
    def tag(self) -> str:
        return f"{self.code.role} #{self.run}"

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
    lua = LUA_PRELUDE + INGEST_LUA.substitute(
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


# --- The code under test ----------------------------------------------------------------


def git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise BenchError(f"git {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout.strip()


def current_code() -> Code:
    """This checkout, as it is on disk: uncommitted changes to the application included.

    Changes under bench/ are left out of the description: both sides run this bench.
    """
    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench")
    except (BenchError, OSError):
        return Code("current", REPO, "this checkout")
    return Code("current", REPO, head + (" + uncommitted changes" if dirty else ""))


@contextlib.contextmanager
def baseline_checkout(ref: str):
    """REF checked out into a temporary git worktree that shares this checkout's .venv.

    The bench, its Lua and bench/stack.py stay this checkout's: only the application code
    differs. The worktree is removed on the way out, on an error or Ctrl-C too.
    """
    try:
        commit = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except BenchError:
        raise BenchError(f"--baseline {ref}: no such commit or branch in {REPO}") from None
    short = git("rev-parse", "--short", commit)
    describe = short if short.startswith(ref) or commit.startswith(ref) else f"{ref} ({short})"
    path = Path(tempfile.mkdtemp(prefix="pbbench-baseline-"))
    venv = path / ".venv"
    try:
        git("worktree", "add", "--detach", "--quiet", str(path), commit)
        if (REPO / ".venv").is_dir():
            venv.symlink_to(REPO / ".venv")
        yield Code("baseline", path, describe)
    finally:
        if venv.is_symlink():
            venv.unlink()  # before any recursive removal, which must not reach the real one
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=REPO, capture_output=True)
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=REPO, capture_output=True)
        print(f"removed the baseline worktree {path}", flush=True)


# --- One run -----------------------------------------------------------------------------


# --limits: a rate, burst and quota that the load never reaches, and an enforced tracking
# plan that every event of the load (bench/lua/ingest.lua) passes, so that every request runs
# the limit check (one Redis round trip) and every event the plan's check, and none is refused.
LIMITS_CODE = """
from apps.ingest.plan import tracking_plan_update
from apps.projects.models import Project
Project.objects.filter(api_key={api_key!r}).update(
    ingest_rate_per_second=1_000_000_000, ingest_burst=1_000_000_000, ingest_daily_quota=2_000_000_000
)
tracking_plan_update(project=Project.objects.get(api_key={api_key!r}), user=None, mode="enforce", allow_dollar_events=True, events=[
    {{"name": name, "properties": [{{"name": "plan", "type": "string"}}, {{"name": "path", "type": "string"}}, {{"name": "n", "type": "number"}}]}}
    for name in ("pageview", "click", "signup", "search", "purchase", "checkout")
])
"""


def limits_on(stack: Stack, api_key: str) -> None:
    """Turn the project's limits on before the first request (no process has cached its key yet)."""
    stack.manage("shell", "-c", LIMITS_CODE.format(api_key=api_key))
    print("    limits on: rate, burst and daily quota set far above the load; an enforced tracking plan the load passes", flush=True)


def run_one(deployment: str, mode: Mode, args: argparse.Namespace, code: Code, run: int) -> Outcome:
    events = args.events or mode.default_events
    concurrency = args.concurrency or mode.default_concurrency
    which = f" [{code.role} {code.describe}" + (f", run {run}/{args.repeat}]" if args.repeat > 1 else "]") if labelled(args) else ""
    print(
        f"\n== {deployment} / {mode.name}: {events:,} events, {mode.events_per_request} per request, concurrency {concurrency}{which}",
        flush=True,
    )
    with contextlib.ExitStack() as cleanup:
        stack = Stack(deployment, repo=code.repo, gunicorn_args=args.gunicorn, keep_var=args.keep_var)
        cleanup.callback(stack.cleanup)
        started = time.monotonic()
        if deployment == "server":
            stack.prepare()  # the Postgres database and ClickHouse schema, before the worker opens chdb for good
        stack.start(timeout_s=90)
        api_key = stack.bootstrap()["api_key"]
        if args.limits and code.role == "current":  # with --baseline: limits on against the baseline's code without
            limits_on(stack, api_key)
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
        outcome = Outcome(
            deployment, mode, concurrency, warm.accepted, load, lag_s=max(0.0, drained_at - load.last_accepted), code=code, run=run
        )
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


def labelled(args: argparse.Namespace) -> bool:
    """Whether runs need telling apart: more than one of each (deployment, mode)."""
    return args.baseline is not None or args.repeat > 1


def report(outcomes: list[Outcome], args: argparse.Namespace, codes: list[Code]) -> bool:
    """Print the table, the targets and the comparison with the baseline; False if a ratio misses."""
    tagged = labelled(args)
    headers = ["deployment", "mode", *(["run"] if tagged else []), "conc", "events accepted", "accepted ev/s",
               "acc->queryable ev/s", "p50 ms", "p99 ms", "e2e lag s", "req/s", "stored"]
    rows = [
        [
            o.deployment,
            o.mode.name,
            *([o.tag] if tagged else []),
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
    left = 4 if tagged else 3  # text columns, left-aligned; the numbers are right-aligned
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    print("\n" + "=" * len(line))
    print(machine_summary())
    print(f"server tier: gunicorn {' '.join(args.gunicorn)} + celery worker --pool=solo + celery beat; wrk -t {WRK_THREADS}")
    if tagged:
        print("code: " + "; ".join(f"{c.role} = {c.describe}" for c in codes))
    print(line)
    print("  ".join(h.rjust(w) if i >= left else h.ljust(w) for i, (h, w) in enumerate(zip(headers, widths))))
    print(line)
    for row in rows:
        print("  ".join(c.rjust(w) if i >= left else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
    print(line)

    def name(o: Outcome) -> str:
        return f"{o.deployment} ({o.tag})" if tagged else o.deployment

    print("baseline (GET /livez, same server, same concurrency as single mode):")
    for o in outcomes:
        if o.livez is not None:
            ratio = o.load.requests_per_s / o.livez.requests_per_s
            print(
                f"  {name(o)}: livez {o.livez.requests_per_s:,.0f} req/s (p50 {o.livez.p50_ms:.1f} ms, p99 {o.livez.p99_ms:.1f} ms); "
                f"single-event {o.load.requests_per_s:,.0f} req/s; ratio {ratio:.3f}"
            )
    print("targets:")
    for o in outcomes:
        if o.mode.name == "batch":
            target = TARGET_BATCH_QUERYABLE[o.deployment]
            print(
                f"  [{pass_miss(o.queryable_per_s >= target)}] {name(o)} batched accepted->queryable "
                f"{o.queryable_per_s:,.0f} ev/s >= {target:,} ev/s"
            )
        if o.livez is not None:
            ratio = o.load.requests_per_s / o.livez.requests_per_s
            print(
                f"  [{pass_miss(ratio >= TARGET_SINGLE_VS_LIVEZ)}] {name(o)} single-event req/s >= "
                f"{TARGET_SINGLE_VS_LIVEZ}x livez: {ratio:.3f}x"
            )
    within = compare(outcomes, args, codes) if args.baseline is not None else True
    mismatches = [o for o in outcomes if not o.stored_ok]
    if mismatches:
        print("STORED COUNT MISMATCH in: " + ", ".join(f"{o.deployment}/{o.mode.name}" + (f" ({o.tag})" if tagged else "") for o in mismatches))
    print("=" * len(line))
    return within


def compare(outcomes: list[Outcome], args: argparse.Namespace, codes: list[Code]) -> bool:
    """Current/baseline per (deployment, mode), on the medians of their runs."""
    described = {c.role: c.describe for c in codes}
    floor = 1 - MAX_LOSS_VS_BASELINE
    print(
        f"current ({described.get('current')}) / baseline ({described.get('baseline')}), "
        f"median of each side's runs; within {MAX_LOSS_VS_BASELINE:.0%} means a ratio >= {floor:.2f}:"
    )
    within = True
    pairs = list(dict.fromkeys((o.deployment, o.mode) for o in outcomes))
    for deployment, mode in pairs:
        sides = {
            role: [o for o in outcomes if (o.deployment, o.mode, o.code.role) == (deployment, mode, role)]
            for role in ("baseline", "current")
        }
        if not sides["baseline"] or not sides["current"]:
            print(f"  [----] {deployment} {mode.name}: no ratio, a side has no run")
            continue
        metrics = [("accepted->queryable ev/s", lambda o: o.queryable_per_s)]
        if mode.name == "single":
            metrics.append(("single-event req/s", lambda o: o.load.requests_per_s))
        for metric, value in metrics:
            base = statistics.median(value(o) for o in sides["baseline"])
            current = statistics.median(value(o) for o in sides["current"])
            ratio = current / base
            ok = ratio >= floor
            within = within and ok
            runs = f" ({len(sides['current'])} vs {len(sides['baseline'])} runs)" if args.repeat > 1 else ""
            print(
                f"  [{pass_miss(ok)}] {deployment} {mode.name} {metric}: current {current:,.0f} / baseline {base:,.0f} "
                f"= {ratio:.3f}{'' if ok else ', more than ' + format(MAX_LOSS_VS_BASELINE, '.0%') + ' below'}{runs}"
            )
    return within


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
    parser.add_argument(
        "--baseline", metavar="REF",
        help="also run the code of REF (a commit or branch, checked out into a temporary git worktree) before each "
        "run of the current code, and print the ratio current/baseline; exits 1 if one is more than 10%% below",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, metavar="N",
        help="runs of each (deployment, mode), alternating with the baseline's; the comparison takes the medians (default 1)",
    )
    parser.add_argument("--keep-var", action="store_true", help="keep each run's var dir (logs, chdb) for inspection")
    parser.add_argument(
        "--limits", action="store_true",
        help="turn on the project's rate limit and daily quota (set far above the load, so nothing is refused) and an enforced "
        "tracking plan that the load passes: every request of the current code then pays both checks; with --baseline, the baseline runs without",
    )
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


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
    outcomes: list[Outcome] = []
    codes = [current_code()]
    with contextlib.ExitStack() as checkouts:
        try:
            if args.baseline is not None:
                codes.insert(0, checkouts.enter_context(baseline_checkout(args.baseline)))
                print(f"baseline: {codes[0].describe}, checked out in {codes[0].repo}; current: {codes[1].describe}", flush=True)
            for deployment in deployments:
                for mode in modes:
                    for run in range(1, args.repeat + 1):
                        for code in codes:  # the baseline first, then the current code
                            outcomes.append(run_one(deployment, mode, args, code, run))
        except StackError as exc:
            print(f"\nbench failed: {exc}", file=sys.stderr)
            if outcomes:
                report(outcomes, args, codes)
            return 1
        except KeyboardInterrupt:
            print("\ninterrupted; stacks stopped and cleaned up", file=sys.stderr)
            return 130
    within = report(outcomes, args, codes)
    return 0 if within and all(o.stored_ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
