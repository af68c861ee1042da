"""The Segment format: write keys, body shapes, message types, ids and time. Pure functions."""

import base64
import gzip
import uuid
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from apps.ingest.formats import segment
from apps.ingest.validation import BodyError, Limits

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
LIMITS = Limits()
TRACK = {"type": "track", "event": "Order Completed", "userId": "user-42", "properties": {"revenue": 42.5}}


def basic(key: str) -> dict:
    return {"authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def parse(document, headers=None, message_type=None, limits=LIMITS, raw: bytes | None = None):
    body = raw if raw is not None else orjson.dumps(document)
    return segment.request_parse(body=body, headers=headers or {}, query={}, limits=limits, message_type=message_type)


def parse_error(document=None, headers=None, message_type=None, limits=LIMITS, raw: bytes | None = None):
    with pytest.raises(BodyError) as caught:
        parse(document, headers, message_type, limits, raw)
    return caught.value.status, caught.value.code


def convert(message, *, project_id=7, sent_at=None):
    return segment.message_convert(message, project_id=project_id, sent_at=sent_at, now=NOW)


def event_of(message, **kwargs) -> dict:
    converted = convert(message, **kwargs)
    assert converted.problems == []
    return converted.event


# --- Requests ----------------------------------------------------------------------------


def test_batch_with_basic_auth_and_sent_at():
    parsed = parse({"batch": [TRACK, TRACK], "sentAt": "2026-11-22T12:00:00Z"}, basic("key"))
    assert (len(parsed.items), parsed.api_key, parsed.sent_at) == (2, "key", NOW)


def test_single_route_message_takes_the_route_type():
    parsed = parse({"userId": "u", "traits": {}, "writeKey": "key", "type": "track"}, message_type="identify")
    assert parsed.items[0]["type"] == "identify"
    assert parsed.api_key == "key"


@pytest.mark.parametrize(
    ("document", "headers", "key"),
    [
        ({"batch": [TRACK], "writeKey": "body"}, basic("header"), "header"),
        ({"batch": [TRACK], "writeKey": "body"}, {}, "body"),
        ({"batch": [TRACK, {**TRACK, "writeKey": "message"}]}, {}, "message"),
        ({"batch": [TRACK]}, {"authorization": "Bearer oauth-token"}, None),
        ({"batch": [TRACK]}, {}, None),
    ],
)
def test_write_key_lookup_order(document, headers, key):
    assert parse(document, headers).api_key == key


def test_gzip_body_by_magic_bytes():
    assert parse(None, basic("k"), raw=gzip.compress(orjson.dumps({"batch": [TRACK]}))).items == [TRACK]


@pytest.mark.parametrize(
    ("document", "headers", "raw", "expected"),
    [
        ({"batch": [TRACK]}, {"authorization": "Basic !!!"}, None, (401, "invalid_authorization")),
        (None, {"content-encoding": "gzip"}, orjson.dumps({"batch": [TRACK]}), (400, "invalid_gzip")),
        (None, {}, gzip.compress(b'{"batch": []}', mtime=0)[:-8], (400, "invalid_gzip")),
        (None, {}, b'{"batch": [', (400, "invalid_json")),
        (None, {}, b'{"batch": ["\xff"]}', (400, "invalid_utf8")),
        ([TRACK], {}, None, (400, "invalid_body")),
        ({"batch": TRACK}, {}, None, (400, "invalid_body")),
        ({"batch": []}, {}, None, (400, "invalid_body")),
        ({"batch": [TRACK], "sentAt": "soon"}, {}, None, (400, "invalid_sent_at")),
    ],
)
def test_unreadable_requests(document, headers, raw, expected):
    assert parse_error(document, headers, raw=raw) == expected


def test_limits():
    assert parse_error({"batch": [TRACK] * 3}, limits=Limits(max_events=2)) == (413, "too_many_events")
    assert parse_error({"batch": [TRACK] * 30}, limits=Limits(max_body_bytes=500)) == (413, "body_too_large")
    bomb = gzip.compress(b'{"batch": [' + b" " * (20 * 1024 * 1024) + b"]}")
    assert parse_error(raw=bomb) == (413, "body_too_large")


# --- Messages ----------------------------------------------------------------------------


def test_track():
    event = event_of({**TRACK, "anonymousId": "anon-1"})
    assert event == {
        "event": "Order Completed",
        "distinct_id": "user-42",
        "user_id": "user-42",
        "anonymous_id": "anon-1",
        "properties": {"revenue": 42.5},
    }


def test_identify_puts_traits_under_set():
    event = event_of({"type": "identify", "userId": "user-42", "anonymousId": "anon-1", "traits": {"email": "a@b.c"}})
    assert event["event"] == "$identify"
    assert (event["distinct_id"], event["user_id"], event["anonymous_id"]) == ("user-42", "user-42", "anon-1")
    assert event["properties"] == {"$set": {"email": "a@b.c"}, "$anon_distinct_id": "anon-1"}
    assert convert({"type": "identify", "userId": "u", "traits": {}}).fields["properties"] == "traits"


def test_anonymous_identify():
    event = event_of({"type": "identify", "anonymousId": "anon-1", "traits": {"plan": "free"}})
    assert (event["distinct_id"], "user_id" in event, event["properties"]) == ("anon-1", False, {"$set": {"plan": "free"}})


def test_page_is_a_pageview_with_its_url_and_referrer():
    message = {
        "type": "page",
        "anonymousId": "anon-1",
        "name": "Pricing",
        "category": "Docs",
        "properties": {"url": "https://shop.test/pricing", "referrer": "https://blog.test/"},
        "context": {"page": {"url": "https://ignored.test/", "referrer": "https://ignored.test/"}},
    }
    event = event_of(message)
    assert event["event"] == "$pageview"
    assert (event["page_url"], event["referrer"]) == ("https://shop.test/pricing", "https://blog.test/")
    assert (event["properties"]["name"], event["properties"]["category"]) == ("Pricing", "Docs")


def test_screen_keeps_its_name():
    event = event_of({"type": "screen", "userId": "u", "name": "Home", "properties": {"tab": "feed"}})
    assert (event["event"], event["properties"]) == ("$screen", {"tab": "feed", "$screen_name": "Home"})


def test_alias_links_the_previous_id_to_the_user_id():
    event = event_of({"type": "alias", "userId": "user-42", "previousId": "anon-1"})
    assert event["event"] == "$create_alias"
    assert (event["distinct_id"], event["user_id"], event["anonymous_id"]) == ("user-42", "user-42", "anon-1")
    assert event["properties"] == {"alias": "user-42", "previousId": "anon-1"}
    assert convert({"type": "alias", "userId": "u", "previousId": "p"}).fields["anonymous_id"] == "previousId"


def test_context_gives_page_user_agent_ip_and_source():
    context = {
        "page": {"url": "https://shop.test/cart", "referrer": "https://ads.test/"},
        "userAgent": "Mozilla/5.0 (Phone)",
        "ip": "203.0.113.5",
        "library": {"name": "analytics.js", "version": "5"},
        "locale": "de-DE",
    }
    converted = convert({**TRACK, "context": context})
    event = converted.event
    assert (event["page_url"], event["referrer"], event["source"]) == ("https://shop.test/cart", "https://ads.test/", "analytics.js")
    assert (converted.user_agent, converted.ip) == ("Mozilla/5.0 (Phone)", "203.0.113.5")
    assert event["properties"]["$context"] == {k: v for k, v in context.items() if k != "ip"}


def test_a_uuid_message_id_is_the_event_id():
    message_id = "0B9F1C2E-4C1A-4F7E-9A59-2F6F1D3C8E11"
    assert event_of({**TRACK, "messageId": message_id})["event_id"] == message_id.lower()


def test_other_message_ids_map_to_the_same_uuid_per_project():
    first = event_of({**TRACK, "messageId": "ajs-next-1b7f3c9e"})["event_id"]
    assert event_of({**TRACK, "messageId": "ajs-next-1b7f3c9e"})["event_id"] == first
    assert uuid.UUID(first).version == 5
    assert event_of({**TRACK, "messageId": "ajs-next-1b7f3c9e"}, project_id=8)["event_id"] != first
    assert event_of({**TRACK, "messageId": "ajs-next-1b7f3c9f"})["event_id"] != first
    assert event_of({**TRACK, "messageId": 12345})["event_id"] == str(uuid.uuid5(segment.MESSAGE_ID_NAMESPACE, "7:12345"))


def test_timestamp_is_moved_by_the_clock_skew_of_the_batch():
    # The device clock is 2 minutes slow: it says it sent at 11:58 what arrived at 12:00.
    event = event_of({**TRACK, "timestamp": "2026-11-22T11:30:00Z"}, sent_at=NOW - timedelta(minutes=2))
    assert event["timestamp"] == "2026-11-22T11:32:00+00:00"


def test_message_sent_at_wins_over_the_batch_and_original_timestamp_is_a_fallback():
    message = {**TRACK, "originalTimestamp": "2026-11-22T11:30:00+01:00", "sentAt": "2026-11-22T12:00:10Z"}
    event = event_of(message, sent_at=NOW - timedelta(hours=5))
    assert event["timestamp"] == "2026-11-22T10:29:50+00:00"


def test_no_timestamp_means_the_receive_time():
    assert "timestamp" not in event_of(TRACK, sent_at=NOW)


@pytest.mark.parametrize(
    ("message", "problems"),
    [
        ("track", [("type", "each message must be a JSON object")]),
        ({**TRACK, "type": "group"}, [("type", "'group' is not supported; use one of track, identify, page, screen, alias")]),
        ({k: v for k, v in TRACK.items() if k != "type"}, [("type", "is required: one of track, identify, page, screen, alias")]),
        ({**TRACK, "userId": None}, [("userId", "one of userId or anonymousId is required")]),
        ({**TRACK, "event": ""}, [("event", "is required for track")]),
        ({**TRACK, "properties": "x"}, [("properties", "must be a JSON object")]),
        ({"type": "identify", "userId": "u", "traits": [1]}, [("traits", "must be a JSON object")]),
        ({"type": "alias", "userId": "u"}, [("previousId", "is required for alias")]),
        ({**TRACK, "messageId": {"id": 1}}, [("messageId", "must be a string of 1 to 1000 characters")]),
        ({**TRACK, "messageId": ""}, [("messageId", "must be a string of 1 to 1000 characters")]),
        ({**TRACK, "timestamp": "noon"}, [("timestamp", "must be an ISO-8601 date-time, e.g. 2026-11-22T10:00:00Z")]),
        ({**TRACK, "timestamp": "2026-11-22T10:00:00Z", "sentAt": "x"}, [("sentAt", "must be an ISO-8601 date-time")]),
        ({**TRACK, "originalTimestamp": "0001-01-01T00:00:00+01:00"}, [("originalTimestamp", "is out of range")]),
    ],
)
def test_messages_that_cannot_be_converted(message, problems):
    assert convert(message).problems == problems


# --- Answers -----------------------------------------------------------------------------


def test_answers():
    assert segment.answer(202, {"accepted": 1, "event_ids": ["a"], "errors": []}) == (200, {"success": True})
    error = {"index": 0, "field": "userId", "message": "one of userId or anonymousId is required"}
    assert segment.answer(202, {"accepted": 1, "event_ids": ["a"], "errors": [error]}) == (200, {"success": True, "accepted": 1, "errors": [error]})
    status, body = segment.answer(400, {"accepted": 0, "event_ids": [], "errors": [error]})
    assert (status, body["success"], body["code"], body["errors"]) == (400, False, "invalid_events", [error])
    assert segment.answer(401, {"error": "invalid_api_key", "message": "no"}) == (401, {"success": False, "code": "invalid_api_key", "message": "no"})


# --- Any input: a 4xx or events, never a crash -------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from apps.ingest.validation import RequestContext, converted_validate  # noqa: E402

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
TIMES = st.sampled_from(["2026-11-22T11:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "x"]) | JSON
KEYS = ["userId", "anonymousId", "previousId", "event", "name", "category", "properties", "traits", "messageId", "writeKey"]
MESSAGE = st.fixed_dictionaries(
    {},
    optional={
        **{key: JSON for key in KEYS},
        "type": st.sampled_from([*segment.TYPES, "group"]) | JSON,
        "timestamp": TIMES,
        "originalTimestamp": TIMES,
        "sentAt": TIMES,
        "context": st.fixed_dictionaries({}, optional={k: JSON for k in ["page", "userAgent", "ip", "library"]}) | JSON,
    },
)


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(MESSAGE | JSON, max_size=5), sent_at=TIMES)
def test_any_segment_request_is_an_answer_not_a_crash(batch, sent_at):
    context = RequestContext(project_id=1, received_at=NOW, user_agent="ua", ip_hash="h")
    try:
        parsed = parse({"batch": batch, "sentAt": sent_at}, basic("k"))
    except BodyError as exc:
        assert 400 <= exc.status < 500
        return
    validated = converted_validate(segment.events_convert(parsed, project_id=1, now=NOW), items=parsed.items, context=context, limits=LIMITS, ip_hash_of=str)
    assert len(validated.rows) + len({e.index for e in validated.errors}) == len(batch)
