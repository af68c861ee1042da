"""The server deployment's front door, pulseboard/deploy/nginx.conf, run for real: Debian's
nginx with the same file, in front of gunicorn as docker-compose.yml runs it."""

from __future__ import annotations

import getpass
import json
import os
import re
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from django.conf import settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from apps.ingest.services import ip_hash
from conftest import MembershipFactory, embedded_server, flush, free_port, gunicorn_server, stop_process, wait_until_answers
from pulseboard import clickhouse
from pulseboard.tests.test_servers import normal_ingest_gets_through, post_chunked, slow_clients

NGINX = Path("/usr/sbin/nginx")
TEMPLATE = Path(__file__).resolve().parents[1] / "deploy" / "nginx.conf"
pytestmark = pytest.mark.slow


def template_render(variables: dict[str, str]) -> str:
    """What the official nginx image does to a template: every ``${NAME}`` of its
    environment replaced (nginx's own ``$variables`` are left alone)."""
    text = TEMPLATE.read_text()
    for name, value in variables.items():
        text = text.replace("${" + name + "}", value)
    left = re.findall(r"\$\{\w+\}", text)
    assert not left, f"the template needs {left}"
    return text


@contextmanager
def nginx_server(tmp_path: Path, *, web: str, asgi: str):
    """Debian's nginx on a free port with the deployment's server block, and only the
    process-wide lines the image's own nginx.conf has (pid, logs, temp directories)."""
    if not NGINX.exists():
        pytest.fail("nginx is missing: install Debian's package with `bash .ci/nginx` (`make test` does it).")
    port = free_port()
    root = tmp_path / "nginx"
    root.mkdir()
    (root / "pulseboard.conf").write_text(
        template_render(
            {
                "PULSEBOARD_LISTEN": f"127.0.0.1:{port}",
                "PULSEBOARD_WEB": web.removeprefix("http://"),
                "PULSEBOARD_ASGI": asgi.removeprefix("http://"),
                "INGEST_MAX_BODY_BYTES": str(settings.INGEST_MAX_BODY_BYTES),
                "INGEST_BODY_TIMEOUT_SECONDS": str(settings.INGEST_BODY_TIMEOUT_SECONDS),
            }
        )
    )
    user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""  # workers write the temp files below
    (root / "nginx.conf").write_text(
        f"""{user}
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    include {root}/pulseboard.conf;
}}
"""
    )
    log = root / "nginx.out"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(NGINX), "-p", str(root), "-e", str(root / "error.log"), "-c", str(root / "nginx.conf"), "-g", "daemon off;"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/livez", process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process)


@pytest.fixture
def server_tier(transactional_db, tmp_path):
    """nginx -> gunicorn (2 sync workers) as in docker-compose.yml, with the app trusting
    X-Forwarded-For as compose sets it; WebSockets go to an embedded uvicorn. Its URL."""
    with (
        gunicorn_server(tmp_path, workers=2, environment={"INGEST_TRUST_X_FORWARDED_FOR": "true"}) as web,
        embedded_server() as asgi,
        nginx_server(tmp_path, web=web, asgi=asgi) as base,
    ):
        yield base


def stored(project_id: int) -> list[dict]:
    return clickhouse.query("SELECT event, ip_hash FROM events WHERE project_id = {p:UInt64}", {"p": project_id}).dicts()


def test_slow_clients_do_not_stop_the_server_tier(server_tier):
    """2 gunicorn workers: without a buffering proxy, 2 slow uploads would stop all ingest."""
    project = MembershipFactory().project
    with slow_clients(server_tier):
        event_ids = normal_ingest_gets_through(server_tier, project.api_key)
    flush()
    assert len(stored(project.id)) == len(event_ids) == 10


def test_nginx_writes_x_forwarded_for_itself(server_tier):
    project = MembershipFactory().project
    for n, spoofed in enumerate(["203.0.113.1", "203.0.113.2, 198.51.100.3"]):
        response = requests.post(
            f"{server_tier}/api/v1/events",
            json={"event": f"e{n}", "distinct_id": "u"},
            headers={"X-API-Key": project.api_key, "X-Forwarded-For": spoofed},
            timeout=30,
        )
        assert response.status_code == 202
    flush()
    assert [row["ip_hash"] for row in stored(project.id)] == [ip_hash("127.0.0.1")] * 2


def test_bodies_through_nginx(server_tier):
    project = MembershipFactory().project
    body = json.dumps({"events": [{"event": "chunked", "distinct_id": "u"}]}).encode()
    status, answer = post_chunked(server_tier, "/api/v1/events", [body[:7], body[7:]], {"X-API-Key": project.api_key})
    assert (status, answer["accepted"]) == (202, 1)

    too_large = b" " * (settings.INGEST_MAX_BODY_BYTES + 1)
    response = requests.post(f"{server_tier}/api/v1/events", data=too_large, headers={"X-API-Key": project.api_key}, timeout=30)
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"


def test_websockets_go_through_nginx_to_the_asgi_tier(server_tier):
    """The upgrade reaches the ASGI app, which accepts and then closes a socket without a
    session with 4401 (a proxy that dropped the upgrade would answer the handshake itself)."""
    project = MembershipFactory().project
    url = server_tier.replace("http://", "ws://", 1) + f"/ws/projects/{project.id}/live/"
    with connect(url, origin=server_tier, proxy=None, open_timeout=30) as socket_:
        with pytest.raises(ConnectionClosed) as closed:
            socket_.recv(timeout=30)
    assert closed.value.rcvd.code == 4401
