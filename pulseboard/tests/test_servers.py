"""The HTTP servers as they are configured for real (pulseboard/servers.py), on sockets."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from contextlib import contextmanager

import pytest
import requests
from django.conf import settings

from apps.ingest.services import ip_hash
from conftest import MembershipFactory, embedded_server, flush, gunicorn_server
from pulseboard import clickhouse


def stored_ip_hashes(project_id: int) -> list[str]:
    return [
        row[0]
        for row in clickhouse.query("SELECT ip_hash FROM events WHERE project_id = {p:UInt64} ORDER BY event", {"p": project_id}).rows
    ]


def post_with_forwarded_for(base: str, api_key: str, event: str, forwarded_for: str) -> None:
    response = requests.post(
        f"{base}/api/v1/events",
        json={"event": event, "distinct_id": "u"},
        headers={"X-API-Key": api_key, "X-Forwarded-For": forwarded_for},
        timeout=30,
    )
    assert response.status_code == 202, response.text


def test_forwarded_for_is_ignored_unless_trusted(transactional_db):
    """uvicorn trusts X-Forwarded-For from the loopback by default; the embedded server
    must not, so a client cannot pick the address it is counted as."""
    assert settings.INGEST_TRUST_X_FORWARDED_FOR is False
    project = MembershipFactory().project
    with embedded_server() as base:
        for n, spoofed in enumerate(["203.0.113.1", "203.0.113.2", "198.51.100.3, 203.0.113.4"]):
            post_with_forwarded_for(base, project.api_key, f"e{n}", spoofed)
    flush()
    hashes = stored_ip_hashes(project.id)
    assert len(hashes) == 3
    assert set(hashes) == {ip_hash("127.0.0.1")}


def test_trusted_forwarded_for_takes_the_address_the_proxy_added(transactional_db, settings):
    """Behind a proxy that appends to X-Forwarded-For, the entries before the last are the
    client's own words; the last is the address the proxy saw."""
    settings.INGEST_TRUST_X_FORWARDED_FOR = True
    project = MembershipFactory().project
    with embedded_server() as base:
        post_with_forwarded_for(base, project.api_key, "e1", "198.51.100.7")
        post_with_forwarded_for(base, project.api_key, "e2", "203.0.113.1, 198.51.100.7")
        post_with_forwarded_for(base, project.api_key, "e3", "203.0.113.2,203.0.113.3,  198.51.100.7")
    flush()
    assert stored_ip_hashes(project.id) == [ip_hash("198.51.100.7")] * 3


# --- Chunked bodies ---------------------------------------------------------------------------


def post_chunked(base: str, path: str, chunks, headers: dict[str, str]) -> tuple[int, dict]:
    """POST a body with Transfer-Encoding: chunked and no Content-Length, as http.client sends
    an iterable body with ``encode_chunked=True``."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request("POST", path, body=iter(chunks), headers={"Content-Type": "application/json", **headers}, encode_chunked=True)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def chunked_events_are_stored(base: str) -> None:
    project = MembershipFactory().project
    body = json.dumps({"events": [{"event": "chunked", "distinct_id": f"u{n}", "properties": {"pad": "x" * 3000}} for n in range(20)]}).encode()
    chunks = [body[i : i + 1000] for i in range(0, len(body), 1000)]
    status, answer = post_chunked(base, "/api/v1/events", chunks, {"X-API-Key": project.api_key})
    assert (status, answer.get("accepted")) == (202, 20), answer

    segment = json.dumps({"batch": [{"type": "track", "userId": "u", "event": "chunked-segment"}], "writeKey": project.api_key}).encode()
    status, answer = post_chunked(base, "/v1/batch", [segment[:10], segment[10:]], {})
    assert (status, answer) == (200, {"success": True})

    flush()
    assert clickhouse.query(
        "SELECT count() FROM events WHERE project_id = {p:UInt64}", {"p": project.id}
    ).scalar() == 21

    too_large = b'{"events": [' + b" " * (settings.INGEST_MAX_BODY_BYTES + 1) + b"]}"
    status, answer = post_chunked(base, "/api/v1/events", [too_large[i : i + 65536] for i in range(0, len(too_large), 65536)], {"X-API-Key": project.api_key})
    assert (status, answer["error"]) == (413, "body_too_large")


def test_chunked_bodies_are_read_by_the_embedded_server(transactional_db):
    with embedded_server() as base:
        chunked_events_are_stored(base)


@pytest.mark.slow
def test_chunked_bodies_are_read_by_gunicorn(transactional_db, tmp_path):
    with gunicorn_server(tmp_path) as base:
        chunked_events_are_stored(base)


# --- Slow clients -----------------------------------------------------------------------------

SLOW_CLIENTS = 50


@contextmanager
def slow_clients(base: str, count: int = SLOW_CLIENTS):
    """``count`` connections that send a request's headers (with a Content-Length) and then
    one byte of its body every second, for as long as the block runs."""
    host, port = base.removeprefix("http://").split(":")
    head = b"POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    connections = []
    stop = threading.Event()

    def dribble():
        while not stop.wait(1.0):
            for connection in connections:
                try:
                    connection.send(b" ")
                except OSError:
                    pass  # the server gave up on this one: fine

    try:
        for _ in range(count):
            connection = socket.create_connection((host, int(port)), timeout=10)
            connection.sendall(head + b"{")
            connections.append(connection)
        dribbler = threading.Thread(target=dribble, name="slow-clients", daemon=True)
        dribbler.start()
        time.sleep(1.5)  # every slow client has begun its body
        yield
    finally:
        stop.set()
        for connection in connections:
            connection.close()


def normal_ingest_gets_through(base: str, api_key: str, requests_count: int = 10) -> list[str]:
    """Ordinary clients while the slow ones are connected: each request must be answered
    (a generous timeout keeps a server that is taken down from hanging the test)."""
    event_ids = []
    for n in range(requests_count):
        response = requests.post(
            f"{base}/api/v1/events", json={"event": "normal", "distinct_id": f"u{n}"}, headers={"X-API-Key": api_key}, timeout=30
        )
        assert response.status_code == 202, response.text
        event_ids += response.json()["event_ids"]
    return event_ids


@pytest.mark.slow
def test_slow_clients_do_not_stop_the_embedded_server(transactional_db):
    project = MembershipFactory().project
    with embedded_server() as base, slow_clients(base):
        event_ids = normal_ingest_gets_through(base, project.api_key)
    flush()
    assert clickhouse.query("SELECT count() FROM events WHERE project_id = {p:UInt64}", {"p": project.id}).scalar() == len(event_ids) == 10


def raw_exchange(base: str, request: bytes) -> tuple[int, dict, bytes]:
    """Send ``request`` as is and read the answer until the server closes the connection."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    headers = dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])
    return status, {k.decode().lower(): v.decode() for k, v in headers.items()}, body


def test_a_body_that_does_not_arrive_in_time_is_408(transactional_db, settings):
    settings.INGEST_BODY_TIMEOUT_SECONDS = 1
    with embedded_server() as base:
        status, headers, body = raw_exchange(
            base, b"POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"event\": "
        )
    assert (status, headers["connection"]) == (408, "close")
    assert json.loads(body)["error"] == "body_timeout"


def test_a_declared_body_over_the_limit_is_413_before_it_is_read(transactional_db, settings):
    with embedded_server() as base:
        status, headers, body = raw_exchange(
            base, f"POST /batch/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {settings.INGEST_MAX_BODY_BYTES + 1}\r\n\r\n[".encode()
        )
    assert (status, headers["connection"]) == (413, "close")
    assert json.loads(body)["error"] == "body_too_large"
