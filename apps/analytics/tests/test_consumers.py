"""The live feed's socket, through the real ASGI stack (origin check, session auth, routing),
channels_redis on the real Redis, and the real flush into chdb."""

from __future__ import annotations

import asyncio
import copy
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from rest_framework.test import APIClient

from apps.analytics import consumers
from apps.analytics.consumers import CLOSE_NOT_AUTHENTICATED, CLOSE_NOT_FOUND
from apps.analytics.live import LIVE_MAX_EVENTS, live_socket_path
from conftest import PASSWORD, MembershipFactory, ProjectFactory, UserFactory, flush, post_events
from pulseboard.asgi import application

# Transactional: the consumer reads the database through database_sync_to_async, which
# closes connections between calls; a test transaction would not survive that.
pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1")
# Every scenario ends its socket as a server does once a socket closes: with a
# websocket.disconnect, after which the consumer returns. A consumer left running would be
# cancelled when async_to_sync closes its event loop, together with the channel layer's
# receive, and that cancellation can hang for good on a loaded machine.


def session_cookie(user) -> bytes:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def socket(project_id: int, cookie: bytes | None = None, origin=ORIGIN) -> WebsocketCommunicator:
    headers = [origin] + ([(b"cookie", cookie)] if cookie else [])
    return WebsocketCommunicator(application, live_socket_path(project_id=project_id), headers=headers)


def post(project, events: list[dict]) -> list[str]:
    response = post_events(APIClient(), project.api_key, {"events": events})
    assert response.status_code == 202, response.content
    return response.json()["event_ids"]


async def open_live(project_id: int, cookie: bytes) -> WebsocketCommunicator:
    ws = socket(project_id, cookie)
    connected, _ = await ws.connect()
    assert connected
    assert await ws.receive_json_from() == {"type": "ready", "project_id": project_id, "max_events": LIVE_MAX_EVENTS}
    return ws


def test_a_member_receives_an_event_posted_and_flushed(member):
    project = member.project
    cookie = session_cookie(member.user)
    # A day ago, in a client's +01:00, with milliseconds: the feed sends it as UTC.
    moment = (datetime.now(timezone.utc) - timedelta(days=1)).replace(microsecond=678000)
    sent = {
        "event": "signed_up",
        "distinct_id": "user-42",
        "timestamp": moment.astimezone(timezone(timedelta(hours=1))).isoformat(),
        "page_url": "https://shop.example.com/pricing",
        "source": "web",
        "properties": {"plan": "pro", "secret_blob": "x" * 1000},
    }

    async def scenario():
        ws = await open_live(project.id, cookie)
        event_ids = await sync_to_async(post)(project, [sent])
        stats = await sync_to_async(flush)()
        assert stats.events_written == 1
        message = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return event_ids, message

    event_ids, message = async_to_sync(scenario)()
    assert message["type"] == "events" and message["total"] == 1
    [event] = message["events"]
    assert event.pop("received_at").endswith("Z")
    # Compact: the fields a row of the page shows, never the properties.
    assert event == {
        "event_id": event_ids[0],
        "event": "signed_up",
        "distinct_id": "user-42",
        "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.678Z"),
        "page_url": "https://shop.example.com/pricing",
        "source": "web",
    }


def test_an_anonymous_socket_is_closed_with_4401(member):
    async def scenario():
        ws = socket(member.project.id)
        connected, _ = await ws.connect()
        closed = await ws.receive_output()
        await ws.disconnect()
        return connected, closed

    connected, closed = async_to_sync(scenario)()
    assert connected  # accepted, then closed: a browser can read the code of a close, not of a refused handshake
    assert closed["type"] == "websocket.close" and closed["code"] == CLOSE_NOT_AUTHENTICATED == 4401
    assert "Log in" in closed["reason"]


def test_a_non_member_gets_4404_whether_or_not_the_project_exists(member):
    stranger = UserFactory()
    cookie = session_cookie(stranger)
    missing_id = member.project.id + 10_000

    async def close_of(project_id):
        ws = socket(project_id, cookie)
        connected, _ = await ws.connect()
        assert connected
        closed = await ws.receive_output()
        await ws.disconnect()
        return closed

    existing = async_to_sync(close_of)(member.project.id)
    missing = async_to_sync(close_of)(missing_id)
    assert existing["code"] == missing["code"] == CLOSE_NOT_FOUND == 4404
    assert existing == missing  # nothing tells a project that exists from one that does not


def test_a_socket_from_another_origin_is_refused(member):
    cookie = session_cookie(member.user)

    async def scenario():
        ws = socket(member.project.id, cookie, origin=(b"origin", b"https://evil.example.com"))
        refused = await ws.connect()
        await ws.disconnect()
        return refused

    connected, _ = async_to_sync(scenario)()
    assert not connected


def test_a_refused_socket_ends_with_its_disconnect(member):
    """Nothing of a refused socket stays running: a consumer that waited on the channel layer
    could miss its cancellation and poll Redis for as long as the server runs."""
    member_cookie = session_cookie(member.user)
    stranger_cookie = session_cookie(UserFactory())
    evil = (b"origin", b"https://evil.example.com")

    async def ended(ws) -> bool:
        connected, _ = await ws.connect()
        if connected:
            assert (await ws.receive_output())["type"] == "websocket.close"
        await ws.send_input({"type": "websocket.disconnect", "code": 1000})
        done, _ = await asyncio.wait({ws.future}, timeout=5)
        await ws.wait()  # whatever is left is cancelled, so that this test leaves nothing either
        return bool(done) and ws.future.exception() is None

    async def scenario():
        return [
            await ended(socket(member.project.id)),  # not logged in: 4401
            await ended(socket(member.project.id, stranger_cookie)),  # not a member: 4404
            await ended(socket(member.project.id, member_cookie, origin=evil)),  # refused handshake
        ]

    assert async_to_sync(scenario)() == [True, True, True]


def test_events_of_another_project_never_arrive(member):
    """The user is a member of both projects and watches A: B's events stay away."""
    other = MembershipFactory(user=member.user).project
    cookie = session_cookie(member.user)

    async def scenario():
        ws = await open_live(member.project.id, cookie)
        await sync_to_async(post)(other, [{"event": "b_event", "distinct_id": f"b{i}"} for i in range(5)])
        mine = await sync_to_async(post)(member.project, [{"event": "a_event", "distinct_id": "a"}])
        await sync_to_async(post)(other, [{"event": "b_event", "distinct_id": "b-last"}])
        stats = await sync_to_async(flush)()
        assert stats.events_written == 7
        message = await ws.receive_json_from(timeout=5)
        nothing_else = await ws.receive_nothing(timeout=1)
        await ws.disconnect()
        return mine, message, nothing_else

    mine, message, nothing_else = async_to_sync(scenario)()
    assert message["total"] == 1 and [e["event_id"] for e in message["events"]] == mine
    assert nothing_else


def test_a_large_batch_sends_its_newest_events_and_the_total(member):
    project = member.project
    cookie = session_cookie(member.user)
    requests = [[{"event": f"e{r}", "distinct_id": f"r{r}-{i}", "event_id": str(uuid.uuid4())} for i in range(n)] for r, n in enumerate([120, 60, 70])]

    async def scenario():
        ws = await open_live(project.id, cookie)
        for events in requests:
            await sync_to_async(post)(project, events)
        stats = await sync_to_async(flush)()
        assert stats.batches == 1 and stats.events_written == 250
        message = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return message

    message = async_to_sync(scenario)()
    sent_in_order = [e["event_id"] for events in requests for e in events]
    assert message["total"] == 250
    assert len(message["events"]) == LIVE_MAX_EVENTS == 100
    assert [e["event_id"] for e in message["events"]] == sent_in_order[::-1][:100]  # newest first


@pytest.fixture
def quick_recheck(monkeypatch):
    monkeypatch.setattr(consumers, "LIVE_RECHECK_SECONDS", 0.1)


def remove_membership(member) -> None:
    member.delete()


def log_out(member) -> None:
    Session.objects.all().delete()  # what a logout does to the session


@pytest.mark.parametrize(("revoke", "code"), [(remove_membership, CLOSE_NOT_FOUND), (log_out, CLOSE_NOT_AUTHENTICATED)])
def test_an_open_socket_is_closed_when_access_ends(member, quick_recheck, revoke, code):
    cookie = session_cookie(member.user)

    async def scenario():
        ws = await open_live(member.project.id, cookie)
        await sync_to_async(revoke)(member)
        closed = await ws.receive_output(timeout=5)
        await ws.disconnect()
        return closed

    closed = async_to_sync(scenario)()
    assert closed["type"] == "websocket.close" and closed["code"] == code


def test_a_member_keeps_receiving_past_the_group_expiry(member, quick_recheck, settings):
    """channels_redis drops group members older than group_expiry (a day by default); the
    recheck renews the socket's place, so a page left open keeps receiving."""
    layers = copy.deepcopy(settings.CHANNEL_LAYERS)
    # Three seconds: a recheck every 0.1 s renews the place well within it even when a loaded
    # machine delays some of them by a second (an expiry of 1 s let one such delay drop it).
    layers["default"]["CONFIG"]["group_expiry"] = 3
    settings.CHANNEL_LAYERS = layers
    cookie = session_cookie(member.user)

    async def scenario():
        ws = await open_live(member.project.id, cookie)
        assert await ws.receive_nothing(timeout=4)  # past the expiry; rechecks pass without a close
        [event_id] = await sync_to_async(post)(member.project, [{"event": "still_here", "distinct_id": "a"}])
        await sync_to_async(flush)()
        message = await ws.receive_json_from(timeout=5)
        await ws.disconnect()
        return event_id, message

    event_id, message = async_to_sync(scenario)()
    assert [e["event_id"] for e in message["events"]] == [event_id]
