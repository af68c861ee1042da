"""The live feed's Server-Sent Events stream, read with a real HTTP client (requests) from the
application as ``make run`` serves it (uvicorn, the SSE path through Django's ASGI handler),
with events sent through the real ingest door over HTTP, the real flush into chdb and
channels_redis on the real Redis. The server deployment's routing (nginx in front of
gunicorn and the ASGI tier) is run too."""

from __future__ import annotations

import json
import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import yaml
from asgiref.sync import async_to_sync
from channels.layers import channel_layers, get_channel_layer
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from websockets.sync.client import connect

from apps.analytics import sse
from apps.analytics.live import LIVE_MAX_EVENTS, live_group, live_socket_path
from apps.analytics.sse import LIVE_SSE_PATH
from apps.ingest import stream as ingest_stream
from apps.projects.models import PersonalAPIKey
from apps.projects.services import personal_api_key_create
from conftest import PASSWORD, MembershipFactory, UserFactory, flush, free_port

# The server runs in a thread of this process and reads the test's rows: transactional.
pytestmark = pytest.mark.django_db(transaction=True)

NGINX_CONF = Path(__file__).resolve().parents[3] / "pulseboard" / "deploy" / "nginx.conf"
TIMEOUT = (5, 10)  # connect, and the longest wait for the next bytes of a stream


def sse_url(base: str, project_id: int) -> str:
    return base + reverse("api-live-sse", kwargs={"project_id": project_id})


def bearer(user) -> dict:
    return {"Authorization": f"Bearer {personal_api_key_create(user=user, label='stream').secret}"}


def session_cookie(user) -> dict:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return {"Cookie": f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"}


class EventStream:
    """A text/event-stream response read frame by frame, as an EventSource reads it."""

    def __init__(self, response: requests.Response):
        self.response = response
        self.chunks = response.iter_content(chunk_size=None)
        self.buffer = b""

    def next(self) -> dict | None:
        """The next frame: ``{"event", "data", "retry", "comment"}`` (the fields it has), or
        None when the server ended the stream."""
        while b"\n\n" not in self.buffer:
            chunk = next(self.chunks, None)
            if chunk is None:
                assert not self.buffer.strip(), f"the stream ended inside a frame: {self.buffer!r}"
                return None
            self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\n\n", 1)
        frame: dict = {}
        for line in raw.decode().split("\n"):
            if line.startswith(":"):
                frame["comment"] = line[1:].strip()
            else:
                name, _, value = line.partition(": ")
                frame[name] = value
        return frame

    def next_event(self) -> dict:
        """The next frame that is not a heartbeat."""
        while True:
            frame = self.next()
            if frame is None or "comment" not in frame:
                return frame

    def close(self) -> None:
        self.response.close()


@contextmanager
def open_stream(base: str, project_id: int, headers: dict):
    """A stream past its ``retry`` and ``ready`` frames: joined to the project's group."""
    response = requests.get(sse_url(base, project_id), headers=headers, stream=True, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    events = EventStream(response)
    try:
        assert events.next() == {"retry": str(sse.SSE_RETRY_MS)}
        ready = events.next()
        assert ready["event"] == "ready"
        assert json.loads(ready["data"]) == {"type": "ready", "project_id": project_id, "max_events": LIVE_MAX_EVENTS}
        yield events
    finally:
        events.close()


def send(base: str, project, events: list[dict]) -> list[str]:
    """Events through the real door, over HTTP."""
    response = requests.post(f"{base}/api/v1/events", json={"events": events}, headers={"X-API-Key": project.api_key}, timeout=TIMEOUT)
    assert response.status_code == 202, response.text
    return response.json()["event_ids"]


def group_members(project_id: int) -> int:
    """The channels in the project's live group, as channels_redis keeps them in Redis."""
    key = get_channel_layer()._group_key(live_group(project_id=project_id))
    return ingest_stream.client().zcard(key)


def wait_for_members(project_id: int, count: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while group_members(project_id) != count:
        assert time.monotonic() < deadline, f"the group of project {project_id} has {group_members(project_id)} members, not {count}"
        time.sleep(0.05)


@pytest.fixture(autouse=True)
def fresh_channel_layer():
    """A channel layer of the test's own: each test's server runs in an event loop of its
    own, and a layer's receivers belong to one loop (a server has one for its lifetime)."""
    channel_layers.backends = {}
    yield
    channel_layers.backends = {}


@pytest.fixture
def quick_heartbeat(monkeypatch):
    monkeypatch.setattr(sse, "SSE_HEARTBEAT_SECONDS", 0.2)


# --- Streaming ----------------------------------------------------------------------------------


def test_a_member_streams_what_the_socket_gets(asgi_server, member):
    """Logged in (session cookie): the headers of a stream, then each stored batch as an
    ``events`` frame whose data is, byte for byte, the message the WebSocket sends."""
    project = member.project
    headers = session_cookie(member.user)
    socket_url = asgi_server.replace("http://", "ws://", 1) + live_socket_path(project_id=project.id)
    with open_stream(asgi_server, project.id, headers) as events, connect(socket_url, origin=asgi_server, additional_headers=headers, proxy=None) as socket:
        assert events.response.headers["Content-Type"] == "text/event-stream"
        assert events.response.headers["Cache-Control"] == "no-cache"
        assert events.response.headers["X-Accel-Buffering"] == "no"
        assert json.loads(socket.recv(timeout=10))["type"] == "ready"
        event_ids = send(
            asgi_server,
            project,
            [{"event": "signed_up", "distinct_id": "user-42", "page_url": "https://shop.example.com/pricing", "properties": {"plan": "pro"}},
             {"event": "purchase", "distinct_id": "user-42", "source": "web"}],
        )
        assert flush().events_written == 2
        frame = events.next_event()
        from_socket = socket.recv(timeout=10)
    assert frame["event"] == "events"
    assert frame["data"] == from_socket
    message = json.loads(frame["data"])
    assert message["type"] == "events" and message["total"] == 2
    assert [e["event_id"] for e in message["events"]] == event_ids[::-1]  # newest first
    assert message["events"][1]["page_url"] == "https://shop.example.com/pricing"
    assert "properties" not in message["events"][0]


def test_a_personal_key_streams_and_a_viewer_may_read(asgi_server):
    viewer = MembershipFactory(role="viewer")
    with open_stream(asgi_server, viewer.project.id, bearer(viewer.user)) as events:
        [event_id] = send(asgi_server, viewer.project, [{"event": "seen", "distinct_id": "v"}])
        flush()
        frame = events.next_event()
    assert frame["event"] == "events"
    assert [e["event_id"] for e in json.loads(frame["data"])["events"]] == [event_id]


def test_events_of_another_project_never_arrive(asgi_server, member, quick_heartbeat):
    """A member of both projects streams A: B's events stay away, and the frame after A's
    batch is a heartbeat, not B's."""
    other = MembershipFactory(user=member.user).project
    with open_stream(asgi_server, member.project.id, bearer(member.user)) as events:
        send(asgi_server, other, [{"event": "b_event", "distinct_id": f"b{i}"} for i in range(3)])
        mine = send(asgi_server, member.project, [{"event": "a_event", "distinct_id": "a"}])
        assert flush().events_written == 4
        frame = events.next_event()
        after = events.next()
    message = json.loads(frame["data"])
    assert message["total"] == 1 and [e["event_id"] for e in message["events"]] == mine
    assert after == {"comment": "ping"}


def test_a_quiet_stream_gets_a_heartbeat(asgi_server, member, quick_heartbeat):
    with open_stream(asgi_server, member.project.id, bearer(member.user)) as events:
        beats = [events.next() for _ in range(3)]
    assert beats == [{"comment": "ping"}] * 3


def test_a_stream_keeps_receiving_after_a_quiet_spell(asgi_server, member):
    """Quiet for longer than channels_redis' blocking read of the channel (5 s): the next
    batch still arrives (a Redis read timeout as short as that read would end the stream)."""
    with open_stream(asgi_server, member.project.id, bearer(member.user)) as events:
        time.sleep(12)
        [event_id] = send(asgi_server, member.project, [{"event": "after_a_while", "distinct_id": "u"}])
        flush()
        frame = events.next_event()
    assert frame["event"] == "events", frame
    assert [e["event_id"] for e in json.loads(frame["data"])["events"]] == [event_id]


def test_a_client_that_goes_away_leaves_the_group(asgi_server, member):
    """The server notices the closed connection, cancels the stream, and its channel
    leaves the project's group in Redis; the next broadcast goes on for the others."""
    project = member.project
    headers = bearer(member.user)
    assert group_members(project.id) == 0
    with open_stream(asgi_server, project.id, headers) as first:
        with open_stream(asgi_server, project.id, headers):
            assert group_members(project.id) == 2
        wait_for_members(project.id, 1)
        [event_id] = send(asgi_server, project, [{"event": "after_one_left", "distinct_id": "u"}])
        flush()
        frame = first.next_event()
    assert [e["event_id"] for e in json.loads(frame["data"])["events"]] == [event_id]
    wait_for_members(project.id, 0)


# --- When access ends, or Redis is away ---------------------------------------------------------


def revoke_key(member) -> None:
    PersonalAPIKey.objects.filter(user=member.user).delete()


def remove_membership(member) -> None:
    member.delete()


def log_out(member) -> None:
    Session.objects.all().delete()  # what a logout does to the session


@pytest.mark.parametrize(
    ("credentials", "revoke", "error"),
    [
        (bearer, revoke_key, "not_authenticated"),
        (bearer, remove_membership, "not_found"),
        (session_cookie, log_out, "not_authenticated"),
        (session_cookie, remove_membership, "not_found"),
    ],
)
def test_a_stream_ends_when_access_ends(asgi_server, member, monkeypatch, quick_heartbeat, credentials, revoke, error):
    monkeypatch.setattr(sse, "SSE_RECHECK_SECONDS", 0.5)
    project_id = member.project.id
    with open_stream(asgi_server, project_id, credentials(member.user)) as events:
        time.sleep(1.2)  # two rechecks pass while access lasts: only heartbeats meanwhile
        assert [events.next() for _ in range(4)] == [{"comment": "ping"}] * 4
        revoke(member)
        frame = events.next_event()
        end = events.next()
    assert frame["event"] == "error"
    assert json.loads(frame["data"])["error"] == error
    assert end is None  # the server closed the stream
    wait_for_members(project_id, 0)


def test_a_busy_stream_is_rechecked_too(asgi_server, member, monkeypatch):
    """Messages arriving faster than the heartbeat do not put the recheck off: a revoked key
    ends the stream while the broadcasts still flow."""
    monkeypatch.setattr(sse, "SSE_RECHECK_SECONDS", 0.5)
    project_id = member.project.id
    flowing = threading.Event()
    stop = threading.Event()

    def broadcast() -> None:
        layer = get_channel_layer()
        while not stop.is_set():
            async_to_sync(layer.group_send)(live_group(project_id=project_id), {"type": "live.events", "text": '{"type":"events","total":0,"events":[]}'})
            flowing.set()
            time.sleep(0.05)

    sender = threading.Thread(target=broadcast, daemon=True)
    with open_stream(asgi_server, project_id, bearer(member.user)) as events:
        sender.start()
        try:
            assert flowing.wait(10)
            assert events.next()["event"] == "events"
            revoke_key(member)
            frames = []
            while (frame := events.next()) is not None:
                frames.append(frame)
                assert len(frames) < 2000, "the stream was never rechecked"
            still_flowing = sender.is_alive()
        finally:
            stop.set()
            sender.join(10)
    assert still_flowing
    assert {f.get("event") for f in frames[:-1]} <= {"events"}  # no heartbeat was due
    assert frames[-1]["event"] == "error" and json.loads(frames[-1]["data"])["error"] == "not_authenticated"
    wait_for_members(project_id, 0)


def test_the_channel_layer_reads_longer_than_it_blocks():
    """channels_redis blocks on Redis for brpop_timeout; a shorter read timeout cuts idle
    listeners off (what test_a_stream_keeps_receiving_after_a_quiet_spell shows)."""
    layer = get_channel_layer()
    assert layer.create_pool(0).connection_kwargs["socket_timeout"] > layer.brpop_timeout


def test_a_stream_says_so_when_redis_is_away(asgi_server, member, settings):
    """The channel layer on a port where nothing listens: the stream says the feed is
    unavailable and ends (an EventSource reconnects after ``retry``)."""
    headers = bearer(member.user)
    layers = {"default": {**settings.CHANNEL_LAYERS["default"], "CONFIG": {**settings.CHANNEL_LAYERS["default"]["CONFIG"], "hosts": [f"redis://127.0.0.1:{free_port()}/0"]}}}
    settings.CHANNEL_LAYERS = layers
    response = requests.get(sse_url(asgi_server, member.project.id), headers=headers, stream=True, timeout=(5, 30))
    events = EventStream(response)
    try:
        assert response.status_code == 200
        assert events.next() == {"retry": str(sse.SSE_RETRY_MS)}
        frame = events.next()
        end = events.next()
    finally:
        events.close()
    assert frame["event"] == "error"
    assert json.loads(frame["data"]) == sse.UNAVAILABLE
    assert end is None


# --- Refusals -----------------------------------------------------------------------------------


def test_no_credentials_or_a_wrong_key_get_401_as_from_the_other_apis(asgi_server, member):
    """The same status, body and WWW-Authenticate as /api/v1/projects/<id>/events."""
    project_id = member.project.id
    events_url = asgi_server + reverse("api-events", kwargs={"project_id": project_id})
    for headers in ({}, {"Authorization": "Bearer pk_not_a_key"}, {"Authorization": f"Bearer {member.project.api_key}"}):
        response = requests.get(sse_url(asgi_server, project_id), headers=headers, timeout=TIMEOUT)
        expected = requests.get(events_url, headers=headers, timeout=TIMEOUT)
        assert response.status_code == expected.status_code == 401, headers
        assert response.headers["Content-Type"] == "application/json"
        assert response.json() == expected.json()
        assert response.headers["WWW-Authenticate"] == expected.headers["WWW-Authenticate"] == "Bearer"
    assert requests.get(sse_url(asgi_server, project_id), timeout=TIMEOUT).json()["error"] == "not_authenticated"
    assert group_members(project_id) == 0


def test_another_project_gets_the_same_404_as_one_that_does_not_exist(asgi_server, member):
    stranger = UserFactory()
    missing_id = member.project.id + 10_000
    for headers in (bearer(stranger), session_cookie(stranger)):
        existing = requests.get(sse_url(asgi_server, member.project.id), headers=headers, timeout=TIMEOUT)
        missing = requests.get(sse_url(asgi_server, missing_id), headers=headers, timeout=TIMEOUT)
        assert existing.status_code == missing.status_code == 404
        assert existing.json() == missing.json() == {"error": "not_found", "message": "No such project.", "field": None}
    assert group_members(member.project.id) == 0


def test_only_get_is_answered(asgi_server, member):
    response = requests.post(sse_url(asgi_server, member.project.id), headers=bearer(member.user), timeout=TIMEOUT)
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed" and response.headers["Allow"] == "GET"


def test_a_wsgi_server_refuses_to_hold_a_stream(reader, member):
    """Through WSGI (here Django's test client), a member gets 421 rather than a worker
    held for as long as the client listens; a stranger still gets 404."""
    url = reverse("api-live-sse", kwargs={"project_id": member.project.id})
    response = reader.get(url)
    assert response.status_code == 421
    assert response.json()["error"] == "stream_unavailable"
    stranger = Client()
    stranger.force_login(UserFactory())
    assert stranger.get(url).status_code == 404


# --- Routing and the schema ---------------------------------------------------------------------


def test_the_asgi_routing_and_nginx_match_the_route_and_nothing_else():
    assert LIVE_SSE_PATH.match(reverse("api-live-sse", kwargs={"project_id": 12}))
    for other in ("/api/v1/projects/12/events", "/api/v1/projects/12/live/sse/", "/api/v1/projects/x/live/sse", "/projects/12/live/"):
        assert not LIVE_SSE_PATH.match(other), other
    nginx = NGINX_CONF.read_text()
    [block] = re.findall(r"location ~ (\S+) \{(.*?)\n    \}", nginx, re.S)
    assert block[0] == LIVE_SSE_PATH.pattern
    assert "proxy_pass http://pulseboard_asgi;" in block[1] and "proxy_buffering off;" in block[1]


def test_the_schema_documents_the_stream(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    operation = schema["paths"]["/api/v1/projects/{project_id}/live/sse"]["get"]
    assert list(operation["responses"]["200"]["content"]) == ["text/event-stream"]
    assert {"401", "404"} <= set(operation["responses"])
    assert {"personalApiKey": []} in operation["security"]
    assert [p["schema"]["type"] for p in operation["parameters"] if p["name"] == "project_id"] == ["integer"]


@pytest.mark.slow
def test_through_nginx_the_stream_reaches_the_asgi_tier_unbuffered(tmp_path, member):
    """The server deployment: nginx in front of gunicorn (HTTP) and the ASGI tier. The stream
    goes to the ASGI tier, and each frame arrives as it is written (a buffering proxy
    would hold the small frames back); gunicorn itself refuses to hold one."""
    from conftest import embedded_server, gunicorn_server
    from pulseboard.tests.test_proxy import nginx_server

    project = member.project
    headers = bearer(member.user)
    with (
        gunicorn_server(tmp_path, workers=1) as web,
        embedded_server() as asgi,
        nginx_server(tmp_path, web=web, asgi=asgi) as base,
    ):
        with open_stream(base, project.id, headers) as events:
            [event_id] = send(base, project, [{"event": "through_nginx", "distinct_id": "u"}])
            flush()
            frame = events.next_event()
        assert [e["event_id"] for e in json.loads(frame["data"])["events"]] == [event_id]
        direct = requests.get(sse_url(web, project.id), headers=headers, timeout=TIMEOUT)
        assert direct.status_code == 421
    wait_for_members(project.id, 0)
