"""The embedded deployment end to end: `manage.py serve` as `make run` starts it.

One real process with SQLite, chdb and (since nothing answers at REDIS_URL here) the
private redis-server it starts itself; web, worker and beat inside. The test talks to it
over HTTP and WebSockets only, like a user would.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(env, *args, timeout=120):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def session_cookie(base: str, username: str, password: str) -> str:
    """Log in through the login form, as a browser does; the session cookie for a socket."""
    browser = requests.Session()
    browser.get(f"{base}/login/", timeout=5)
    form = {"username": username, "password": password, "csrfmiddlewaretoken": browser.cookies["csrftoken"]}
    assert browser.post(f"{base}/login/", data=form, timeout=5).ok
    return f"sessionid={browser.cookies['sessionid']}"


def live_socket(base: str, project_id: int, cookie: str | None = None):
    url = base.replace("http://", "ws://", 1) + f"/ws/projects/{project_id}/live/"
    return connect(url, origin=base, additional_headers={"Cookie": cookie} if cookie else None, proxy=None, open_timeout=10)


@pytest.fixture
def embedded_server(tmp_path):
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "DJANGO_SETTINGS_MODULE": "pulseboard.settings",
        "PULSEBOARD_VAR_DIR": str(tmp_path / "var"),
        "REDIS_URL": "redis://127.0.0.1:1/0",  # nothing answers: the app must start its own
        "PORT": str(port),
        "DEMO_PASSWORD": "demo-password-for-tests",
        "DEMO_EVENTS": "3000",
    }
    log = open(tmp_path / "serve.log", "w+")
    server = subprocess.Popen([sys.executable, "manage.py", "serve"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return requests.get(f"{base}/livez", timeout=1).ok
        except requests.ConnectionError:
            assert server.poll() is None, f"serve exited early:\n{(tmp_path / 'serve.log').read_text()}"
            return False

    try:
        wait_for(up, 90, "the embedded server to answer")
        yield base, env, server, tmp_path
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        log.close()


def test_embedded_deployment_end_to_end(embedded_server):
    base, env, server, tmp_path = embedded_server
    log = (tmp_path / "serve.log").read_text()
    assert "Log in as  demo / demo-password-for-tests" in log

    keys = json.loads(manage(env, "bootstrap", "--username", "demo", "--password", "demo-password-for-tests", "--project", "Demo Shop", "--json").stdout)
    assert (tmp_path / "var" / "pulseboard.sqlite3").exists()
    reader = {"Authorization": f"Bearer {keys['personal_api_key']}"}
    events_url = f"{base}/api/v1/projects/{keys['project_id']}/events"

    health = requests.get(f"{base}/healthz", timeout=5).json()
    assert health["status"] == "ok"
    assert health["components"]["db"]["engine"] == "sqlite"
    assert health["components"]["clickhouse"]["backend"] == "chdb"

    body = {"events": [{"event": "signed_up", "distinct_id": "pb-e2e", "properties": {"n": i}} for i in range(3)]}
    posted = requests.post(f"{base}/api/v1/events", json=body, headers={"X-API-Key": keys["api_key"], "Idempotency-Key": "first"}, timeout=5)
    assert posted.status_code == 202
    accepted_at = time.monotonic()

    def stored():
        results = requests.get(events_url, headers=reader, timeout=5, params={"event": "signed_up", "distinct_id": "pb-e2e"}).json()["results"]
        return results if len(results) == 3 else None

    results = wait_for(stored, 30, "the worker to write the events")
    print(f"202 to readable through the embedded worker: {time.monotonic() - accepted_at:.2f}s")
    assert sorted(r["event_id"] for r in results) == sorted(posted.json()["event_ids"])

    # The live feed, through the worker thread's flush, the private Redis on its unix socket
    # (channels_redis) and uvicorn's WebSocket, all in the one process.
    cookie = session_cookie(base, "demo", "demo-password-for-tests")
    with live_socket(base, keys["project_id"], cookie) as live:
        assert json.loads(live.recv(timeout=10))["type"] == "ready"
        sent = requests.post(
            f"{base}/api/v1/events", json={"event": "live_check", "distinct_id": "pb-live"}, headers={"X-API-Key": keys["api_key"]}, timeout=5
        )
        assert sent.status_code == 202
        sent_at = time.monotonic()
        message = json.loads(live.recv(timeout=15))
        print(f"202 to the live socket through the embedded worker: {time.monotonic() - sent_at:.2f}s")
    assert message["type"] == "events" and message["total"] == 1
    assert [(e["event_id"], e["event"], e["distinct_id"]) for e in message["events"]] == [(sent.json()["event_ids"][0], "live_check", "pb-live")]
    with live_socket(base, keys["project_id"]) as anonymous:
        with pytest.raises(ConnectionClosed) as closed:
            anonymous.recv(timeout=10)
    assert closed.value.rcvd.code == 4401

    replay = requests.post(f"{base}/api/v1/events", json=body, headers={"X-API-Key": keys["api_key"], "Idempotency-Key": "first"}, timeout=5)
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate"

    # While the server holds chdb, a command that needs it refuses clearly instead of hanging.
    refused = manage(env, "ch_migrate")
    assert refused.returncode != 0
    assert f"in use by PulseBoard process {server.pid}" in refused.stderr

    registry = tmp_path / "var" / "redis.rdb.settings"
    redis_pid = int(Path(json.loads(registry.read_text())["pidfile"]).read_text())
    server.send_signal(signal.SIGINT)
    assert server.wait(timeout=30) == 0
    # Its private redis-server stopped with it, and left nothing behind.
    wait_for(lambda: not Path(f"/proc/{redis_pid}").exists(), 10, "the private redis-server to stop")
    assert not registry.exists()
    # Once the server is gone, the data is there for anyone to read, exactly once: the
    # demo traffic seeded on first start, and the four events sent above.
    count = manage(env, "shell", "-c", "from pulseboard import clickhouse; print(clickhouse.query('SELECT count() FROM events').scalar())")
    assert count.stdout.strip().splitlines()[-1] == "3004", count.stderr
