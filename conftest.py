"""Shared test fixtures: factories, a prepared ClickHouse, and helpers to flush the stream.

Tests use the real services: Postgres and Redis on 127.0.0.1 and chdb in a temporary
directory (see pulseboard/test_settings.py).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import factory
import hypothesis
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from apps.ingest import services as ingest_services
from apps.ingest import stream
from apps.projects.models import Membership, Project
from apps.projects.services import ingest_key_generate, personal_api_key_create
from pulseboard import clickhouse
from pulseboard.clickhouse.migrate import migrations_apply


PASSWORD = "correct horse battery"

# Fuzz tests (hypothesis, schemathesis) run the same examples on every run, so that CI is
# reproducible, and without a deadline: a request through the real stack may take a while.
hypothesis.settings.register_profile(
    "pulseboard",
    derandomize=True,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture, hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.data_too_large],
)
hypothesis.settings.load_profile("pulseboard")


def pytest_configure(config):
    """``PULSEBOARD_TEST_NOW=2029-06-01T12:00:00+00:00``: the run's clock starts at that
    moment and ticks on (time-machine moves this process's clock: the tests, the server code
    they call, Django's live server) and the browser's, to show which tests depend on
    today's date. Redis, Postgres, chdb's own now() and processes the tests start keep the
    real time."""
    moment = os.environ.get("PULSEBOARD_TEST_NOW")
    if moment:
        import time_machine

        traveller = time_machine.travel(datetime.fromisoformat(moment), tick=True)
        traveller.start()
        config.add_cleanup(traveller.stop)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password(PASSWORD)


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    timezone = "UTC"
    api_key = factory.LazyFunction(ingest_key_generate)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.OWNER


@pytest.fixture(scope="session", autouse=True)
def clickhouse_schema(django_db_blocker):
    """The ClickHouse schema, applied once per run; the Redis keys of the run, removed after."""
    migrations_apply()
    yield
    client = stream.client()
    for key in client.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}:*", count=1000):
        client.delete(key)


@pytest.fixture(scope="session", autouse=True)
def test_database_released(django_db_setup, django_db_blocker):
    """Let the run drop its test database: end the connections that threads of the run left
    open (a request thread of the live server, or ORM calls made while Playwright's event
    loop ran, open connections that outlive their thread), right before the drop."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql" or connection.settings_dict["NAME"] != settings.DATABASES["default"]["TEST"]["NAME"]:
        return  # no test database was made (no test of the run used one)
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
def fresh_stream():
    """Each test starts with an empty event stream, no batch manifests and no dead letters
    (projects are new per test anyway)."""
    client = stream.client()
    prefix = settings.REDIS_KEY_PREFIX
    client.delete(stream.stream_key(), stream.deadletter_key(), f"{prefix}:batch-of", f"{prefix}:flush-status")
    for key in client.scan_iter(match=f"{prefix}:batch:*", count=1000):
        client.delete(key)
    yield


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """Each test gets a channel layer of its own. channels_redis binds its receive lock to the
    event loop that first waits on it, and every test (each ``async_to_sync``) runs a new loop:
    a lock left held by an earlier test's cancelled receive would fail this one's."""
    from channels.layers import channel_layers

    channel_layers.backends = {}
    yield
    channel_layers.backends = {}


@pytest.fixture
def member(db):
    """A user who owns one project: ``member.user``, ``member.project``."""
    return MembershipFactory()


@pytest.fixture
def ingest_client():
    return APIClient()


@pytest.fixture
def reader(member):
    """An API client authenticated with the member's personal API key."""
    issued = personal_api_key_create(user=member.user, label="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    return client


def flush(consumer: str = "test-worker", **overrides) -> ingest_services.FlushStats:
    options = {
        "consumer": consumer,
        "max_events": settings.FLUSH_MAX_EVENTS,
        "max_bytes": settings.FLUSH_MAX_BYTES,
        "claim_idle_ms": settings.FLUSH_CLAIM_IDLE_MS,
        "max_seconds": 30,
    }
    options.update(overrides)
    return ingest_services.events_flush(**options)


@pytest.fixture
def flush_stream():
    """Run the batch writer as a worker would, until the stream is drained."""
    return flush


def stored_count(project_id: int) -> int:
    return clickhouse.query("SELECT count() FROM events WHERE project_id = {p:UInt64}", {"p": project_id}).scalar()


@pytest.fixture
def count_stored():
    return stored_count


def post_events(client, api_key: str, body, **headers):
    return client.post("/api/v1/events", body, format="json", HTTP_X_API_KEY=api_key, **headers)


@pytest.fixture
def send():
    """POST a body to the ingest endpoint with a project's key."""
    return post_events


# --- Browser tests ------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parent / "test-artifacts" / "screenshots"


@contextmanager
def chromium_tab(base_url: str):
    """A Chromium page (Debian's package, driven by Playwright) that fails the test on any
    console error or uncaught exception. ``tab.screenshot_as(name)`` saves a screenshot;
    ``tab.tolerate(text)`` lets through the problems that contain ``text`` (an error
    answer the test provokes on purpose)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: install Debian's package with `apt-get install chromium` (`make test` does it).")
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    tolerated: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # Reduced motion: charts draw without animation, so screenshots show the final chart.
        context = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=base_url, reduced_motion="reduce")
        if os.environ.get("PULSEBOARD_TEST_NOW"):  # the browser's clock too (see pytest_configure)
            context.clock.install(time=datetime.now())
        tab = context.new_page()
        tab.on("console", lambda message: problems.append(f"console {message.type}: {message.text}") if message.type == "error" else None)
        tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        tab.on("response", lambda response: problems.append(f"HTTP {response.status} for {response.url}") if response.status >= 400 else None)
        tab.screenshot_as = lambda name: tab.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        tab.tolerate = tolerated.append
        yield tab
        context.close()
        browser.close()
    problems = [problem for problem in problems if not any(text in problem for text in tolerated)]
    assert not problems, "the browser reported errors:\n" + "\n".join(problems)


@pytest.fixture
def page(live_server, monkeypatch):
    """A browser tab on Django's live server (HTTP only); see :func:`chromium_tab`."""
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # meanwhile are ordinary blocking calls, not async code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with chromium_tab(live_server.url) as tab:
        yield tab


@contextmanager
def embedded_server():
    """The application as ``make run`` serves it (HTTP through WSGI, WebSockets through
    ASGI), with the uvicorn configuration of ``manage.py serve``, in a thread of this
    process on a free port of 127.0.0.1. Its URL. The settings in force when it starts
    are the ones it runs with."""
    import uvicorn
    from channels.layers import channel_layers

    from pulseboard.asgi import embedded_application
    from pulseboard.servers import uvicorn_config

    # A channel layer's receivers belong to one event loop: the server's loop gets a layer of
    # its own, never one that an earlier test's server (or stream) may still be reading.
    channel_layers.backends = {}
    listener = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn_config(embedded_application))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, name="asgi-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
        channel_layers.backends = {}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_answers(url: str, process: subprocess.Popen | None = None, log: Path | None = None, seconds: float = 60) -> None:
    """Poll ``url`` until it answers (any status); fail with the process's log if it died."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            pass
        if process is not None and process.poll() is not None:
            pytest.fail(f"{process.args[0]} exited with {process.returncode}:\n{log.read_text() if log else ''}")
        if time.monotonic() > deadline:
            pytest.fail(f"nothing answered at {url} within {seconds:g} s:\n{log.read_text() if log else ''}")
        time.sleep(0.1)


def stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def gunicorn_server(tmp_path: Path, *, workers: int = 2, environment: dict[str, str] | None = None):
    """The server deployment's HTTP tier: gunicorn with pulseboard/gunicorn_conf.py, in a
    process of its own on a free port, on this run's test database and Redis prefix (a
    ``transactional_db`` test, so that it sees the test's rows). Its URL."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    if not gunicorn.exists():
        pytest.fail(f"{gunicorn} is missing: install requirements.txt (`make venv`).")
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "pulseboard.test_settings",
        "DATABASE_URL": "postgres://{USER}@{HOST}:{PORT}/{name}".format(**settings.DATABASES["default"], name=settings.DATABASES["default"]["TEST"]["NAME"]),
        # chdb stays with this process; the HTTP tier only appends to the stream.
        "PULSEBOARD_VAR_DIR": str(tmp_path / "gunicorn-var"),
        **(environment or {}),
    }
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(gunicorn), "-c", "python:pulseboard.gunicorn_conf", "pulseboard.wsgi:application",
             "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--worker-class", "sync"],
            cwd=Path(__file__).resolve().parent, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/livez", process, log_path)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process)


@pytest.fixture
def asgi_server(transactional_db):
    """:func:`embedded_server` on the test database."""
    with embedded_server() as url:
        yield url


@pytest.fixture
def asgi_page(asgi_server, monkeypatch):
    """A browser tab on :func:`asgi_server`, for pages that open WebSockets."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with chromium_tab(asgi_server) as tab:
        yield tab


def browser_login(tab, username: str, password: str = PASSWORD) -> None:
    tab.goto("/login/")
    tab.fill("input[name=username]", username)
    tab.fill("input[name=password]", password)
    tab.click("button[type=submit]")
    tab.wait_for_load_state("networkidle")


@pytest.fixture(autouse=True)
def fresh_ingest_caches():
    """Each test starts without the day's IP salt or any tracking plan in memory: a test's
    database rows are rolled back, and another test's must not be used in their place."""
    from apps.ingest.plan import tracking_plan_cache_clear
    from apps.ingest.salt import ip_salt_cache_clear

    ip_salt_cache_clear()
    tracking_plan_cache_clear()
    yield
