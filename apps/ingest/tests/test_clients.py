"""The real PostHog and Segment Python libraries, from PyPI, pointed at a live PulseBoard:
what they send is stored with the right name, ids, time and properties."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from posthog import Posthog
from segment.analytics import Client as SegmentClient

from conftest import MembershipFactory
from pulseboard import clickhouse

pytestmark = pytest.mark.django_db(transaction=True)

COLUMNS = "event, event_id, distinct_id, user_id, anonymous_id, timestamp, page_url, referrer, source, user_agent, properties"


def stored(project_id: int) -> dict[str, dict]:
    rows = clickhouse.query(
        f"SELECT {COLUMNS} FROM events WHERE project_id = {{p:UInt64}} ORDER BY timestamp", {"p": project_id}
    ).dicts()
    for row in rows:
        row["properties"] = orjson.loads(row["properties"])
        row["event_id"] = str(row["event_id"])
    return {row["event"]: row for row in rows}


def as_utc(value) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def a_second_ago_hours(hours: int) -> datetime:
    return (datetime.now(timezone.utc) - timedelta(hours=hours)).replace(microsecond=0)


@pytest.fixture
def project(db):
    return MembershipFactory().project


@pytest.fixture
def posthog_client(project, live_server):
    errors: list = []
    client = Posthog(
        project.api_key, host=live_server.url, sync_mode=True, on_error=lambda error, batch: errors.append(error), max_retries=0
    )
    yield client
    client.shutdown()
    assert errors == []


@pytest.fixture
def segment_client(project, live_server):
    errors: list = []
    client = SegmentClient(
        project.api_key, host=live_server.url, sync_mode=True, on_error=lambda error, batch: errors.append(error), max_retries=0
    )
    yield client
    assert errors == []


def test_posthog_python_capture_identify_set_and_alias_are_stored(posthog_client, project, flush_stream):
    when = a_second_ago_hours(2)
    before = datetime.now(timezone.utc)
    event_uuid = posthog_client.capture(
        "signed_up", distinct_id="anon-7", properties={"plan": "pro", "$current_url": "https://shop.test/pricing"}, timestamp=when
    )
    posthog_client.capture(
        "$identify", distinct_id="user-42", properties={"$anon_distinct_id": "anon-7", "$set": {"email": "ada@example.com"}}
    )
    posthog_client.set(distinct_id="user-42", properties={"plan": "pro"})
    posthog_client.alias(previous_id="anon-7", distinct_id="user-42")
    after = datetime.now(timezone.utc)
    flush_stream()

    events = stored(project.id)
    assert set(events) == {"signed_up", "$identify", "$set", "$create_alias"}

    signed_up = events["signed_up"]
    assert signed_up["event_id"] == event_uuid
    assert signed_up["distinct_id"] == "anon-7"
    # The client's clock is the server's: the skew correction only adds the transit time.
    assert when <= as_utc(signed_up["timestamp"]) <= when + (after - before)
    assert signed_up["properties"]["plan"] == "pro"
    assert signed_up["page_url"] == "https://shop.test/pricing"
    assert signed_up["source"] == "posthog-python"
    assert signed_up["user_agent"].startswith("posthog-python/")
    assert "token" not in signed_up["properties"] and "api_key" not in signed_up["properties"]

    identify = events["$identify"]
    assert (identify["distinct_id"], identify["user_id"], identify["anonymous_id"]) == ("user-42", "user-42", "anon-7")
    assert identify["properties"]["$set"] == {"email": "ada@example.com"}

    assert events["$set"]["distinct_id"] == "user-42"
    assert events["$set"]["properties"]["$set"] == {"plan": "pro"}

    alias = events["$create_alias"]
    assert (alias["distinct_id"], alias["user_id"], alias["anonymous_id"]) == ("anon-7", "user-42", "anon-7")
    assert alias["properties"]["alias"] == "user-42"


def test_posthog_python_gzip_batch_is_stored(project, live_server, flush_stream, count_stored):
    client = Posthog(project.api_key, host=live_server.url, gzip=True, flush_at=50, max_retries=0)
    for i in range(30):
        client.capture("viewed_item", distinct_id=f"user-{i % 4}", properties={"item": i})
    client.flush()
    client.shutdown()
    flush_stream()
    assert count_stored(project.id) == 30


def test_segment_track_identify_page_screen_and_alias_are_stored(segment_client, project, flush_stream):
    when = a_second_ago_hours(3)
    before = datetime.now(timezone.utc)
    ok, track = segment_client.track(
        user_id="user-42",
        event="Order Completed",
        properties={"revenue": 42.5},
        context={"userAgent": "Mozilla/5.0 (Shop)", "page": {"url": "https://shop.test/checkout", "referrer": "https://search.test/"}},
        timestamp=when,
    )
    segment_client.identify(user_id="user-42", anonymous_id="anon-9", traits={"email": "ada@example.com"})
    segment_client.page(user_id="user-42", name="Pricing", properties={"url": "https://shop.test/pricing", "referrer": "https://blog.test/"})
    segment_client.screen(anonymous_id="anon-9", name="Home", properties={"tab": "feed"})
    segment_client.alias(previous_id="anon-9", user_id="user-42")
    after = datetime.now(timezone.utc)
    flush_stream()

    events = stored(project.id)
    assert set(events) == {"Order Completed", "$identify", "$pageview", "$screen", "$create_alias"}

    order = events["Order Completed"]
    assert order["event_id"] == track["messageId"]
    assert (order["distinct_id"], order["user_id"]) == ("user-42", "user-42")
    assert when <= as_utc(order["timestamp"]) <= when + (after - before)
    assert order["properties"]["revenue"] == 42.5
    assert order["user_agent"] == "Mozilla/5.0 (Shop)"
    assert (order["page_url"], order["referrer"]) == ("https://shop.test/checkout", "https://search.test/")
    assert order["source"] == "analytics-python"
    assert order["properties"]["$context"]["library"]["name"] == "analytics-python"

    identify = events["$identify"]
    assert (identify["distinct_id"], identify["user_id"], identify["anonymous_id"]) == ("user-42", "user-42", "anon-9")
    assert identify["properties"]["$set"] == {"email": "ada@example.com"}
    assert identify["properties"]["$anon_distinct_id"] == "anon-9"

    page = events["$pageview"]
    assert (page["page_url"], page["referrer"]) == ("https://shop.test/pricing", "https://blog.test/")
    assert page["properties"]["name"] == "Pricing"

    screen = events["$screen"]
    assert (screen["distinct_id"], screen["anonymous_id"], screen["user_id"]) == ("anon-9", "anon-9", "")
    assert screen["properties"] == {"tab": "feed", "$screen_name": "Home", "$context": {"library": screen["properties"]["$context"]["library"]}}

    alias = events["$create_alias"]
    assert (alias["distinct_id"], alias["user_id"], alias["anonymous_id"]) == ("user-42", "user-42", "anon-9")
    assert alias["properties"]["previousId"] == "anon-9"


def test_segment_gzip_batch_is_stored(project, live_server, flush_stream, count_stored):
    errors = []
    client = SegmentClient(project.api_key, host=live_server.url, gzip=True, upload_size=20, on_error=lambda e, b: errors.append(e))
    for i in range(25):
        client.track(user_id=f"user-{i % 3}", event="Viewed", properties={"i": i})
    client.flush()
    client.join()
    flush_stream()
    assert errors == []
    assert count_stored(project.id) == 25


def stored_ids(project_id: int) -> list[str]:
    return sorted(str(r[0]) for r in clickhouse.query("SELECT event_id FROM events WHERE project_id = {p:UInt64}", {"p": project_id}).rows)


def test_posthog_batch_sent_twice_is_stored_once(project, live_server, flush_stream):
    ids = [str(uuid.uuid4()) for _ in range(3)]
    client = Posthog(project.api_key, host=live_server.url, flush_at=100, max_retries=0)
    for _ in range(2):  # the same batch, delivered twice (a retry after a lost answer)
        for i, event_id in enumerate(ids):
            client.capture("paid", distinct_id=f"user-{i}", uuid=event_id)
        client.flush()
        flush_stream()
    client.shutdown()
    assert stored_ids(project.id) == sorted(ids)


def test_segment_batch_sent_twice_is_stored_once(project, live_server, flush_stream):
    message_ids = [str(uuid.uuid4()), "ajs-next-1b7f3c9e", "order-17/attempt"]
    errors = []
    client = SegmentClient(project.api_key, host=live_server.url, upload_size=100, on_error=lambda e, b: errors.append(e))
    for _ in range(2):
        for i, message_id in enumerate(message_ids):
            client.track(user_id=f"user-{i}", event="Paid", message_id=message_id)
        client.flush()
        flush_stream()
    client.join()
    assert errors == []
    ids = stored_ids(project.id)
    assert len(ids) == 3
    assert message_ids[0] in ids
