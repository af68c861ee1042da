"""The PostHog format: every body shape and encoding, the token lookup, time, and mapping.
Pure functions: bytes in, native events out."""

import base64
import gzip
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import lzstring
import orjson
import pytest

from apps.ingest.formats import posthog
from apps.ingest.validation import BodyError, Limits

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
LIMITS = Limits()
EVENT = {"event": "clicked", "distinct_id": "u1", "properties": {"plan": "pro"}}


def parse(body: bytes, headers: dict | None = None, query: dict | None = None, limits: Limits = LIMITS):
    return posthog.request_parse(body=body, headers=headers or {}, query=query or {}, limits=limits)


def parse_error(body: bytes, headers: dict | None = None, query: dict | None = None, limits: Limits = LIMITS):
    with pytest.raises(BodyError) as caught:
        parse(body, headers, query, limits)
    return caught.value.status, caught.value.code


def convert(item, *, api_key="key", sent_at=None):
    return posthog.event_convert(item, api_key=api_key, sent_at=sent_at, now=NOW)


def event_of(item, **kwargs) -> dict:
    converted = convert(item, **kwargs)
    assert converted.problems == []
    return converted.event


BATCH = {"api_key": "key", "batch": [EVENT, {**EVENT, "event": "second"}], "sent_at": "2026-11-22T12:00:00Z"}
BATCH_JSON = orjson.dumps(BATCH)


# --- Body shapes and encodings -----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "query"),
    [
        (BATCH_JSON, {"content-type": "application/json"}, {}),
        (gzip.compress(BATCH_JSON, mtime=0), {"content-type": "text/plain"}, {}),  # posthog-js: gzip, no marker at all
        (gzip.compress(BATCH_JSON, mtime=0), {}, {"compression": "gzip-js"}),
        (gzip.compress(BATCH_JSON, mtime=0), {"content-encoding": "gzip"}, {}),
        (gzip.compress(BATCH_JSON, mtime=0), {}, {"compression": "base64"}),  # magic bytes win over what the query says
        (b"data=" + quote(base64.b64encode(BATCH_JSON).decode()).encode(), {"content-type": "application/x-www-form-urlencoded"}, {"compression": "base64"}),
        (b"data=" + quote(base64.b64encode(BATCH_JSON).decode()).encode(), {}, {}),  # form without a content type, base64 by default
        (b"data=" + quote(BATCH_JSON.decode()).encode(), {"content-type": "application/x-www-form-urlencoded"}, {}),  # JSON text in the form
        (b"data=" + quote(lzstring.LZString().compressToBase64(BATCH_JSON.decode())).encode(), {}, {"compression": "lz64"}),
        (
            b"compression=lz64&data=" + quote(lzstring.LZString().compressToBase64(BATCH_JSON.decode())).encode(),
            {"content-type": "application/x-www-form-urlencoded"},
            {},
        ),
        (base64.b64encode(BATCH_JSON), {}, {"compression": "base64"}),
        (lzstring.LZString().compressToBase64(BATCH_JSON.decode()).encode(), {}, {"compression": "lz64"}),
    ],
)
def test_every_encoding_gives_the_same_batch(body, headers, query):
    parsed = parse(body, headers, query)
    assert parsed.items == BATCH["batch"]
    assert parsed.api_key == "key"
    assert parsed.sent_at == NOW


def test_a_json_array_of_events():
    parsed = parse(orjson.dumps([{**EVENT, "api_key": "key"}, EVENT]))
    assert (len(parsed.items), parsed.api_key, parsed.sent_at) == (2, "key", None)


def test_a_single_event():
    parsed = parse(orjson.dumps({**EVENT, "token": "key", "sent_at": "2026-11-22T12:00:00Z"}))
    assert (len(parsed.items), parsed.items[0]["event"], parsed.api_key, parsed.sent_at) == (1, "clicked", "key", NOW)


def test_idempotency_key_header():
    assert parse(BATCH_JSON, {"idempotency-key": "retry-1"}).idempotency_key == "retry-1"


@pytest.mark.parametrize(
    ("body", "headers", "query", "expected"),
    [
        (b"data=%%%not-base64", {}, {}, (400, "invalid_base64")),
        (b"data=" + base64.b64encode(b'{"event": "\xff"}'), {}, {}, (400, "invalid_utf8")),
        (b"data=!!!", {}, {"compression": "lz64"}, (400, "invalid_lz64")),
        (b"other=1", {"content-type": "application/x-www-form-urlencoded"}, {}, (400, "invalid_body")),
        (b"\xff\xfe=1", {"content-type": "application/x-www-form-urlencoded"}, {}, (400, "invalid_utf8")),
        (gzip.compress(BATCH_JSON, mtime=0)[:-10], {}, {}, (400, "invalid_gzip")),
        (BATCH_JSON, {}, {"compression": "gzip-js"}, (400, "invalid_gzip")),
        (BATCH_JSON, {"content-encoding": "gzip"}, {}, (400, "invalid_gzip")),
        (BATCH_JSON, {}, {"compression": "brotli"}, (400, "invalid_compression")),
        (b'{"batch": [', {}, {}, (400, "invalid_json")),
        (b'[{"event": "\xff\xfe"}]', {}, {}, (400, "invalid_utf8")),
        (b"", {}, {}, (400, "empty_body")),
        (b"[]", {}, {}, (400, "invalid_body")),
        (b'{"batch": {}}', {}, {}, (400, "invalid_body")),
        (b'"text"', {}, {}, (400, "invalid_body")),
        (b'{"batch": [], "api_key": "k"}', {}, {}, (400, "invalid_body")),
        (b'{"api_key": "k", "batch": [{}], "sent_at": "soon"}', {}, {}, (400, "invalid_sent_at")),
        (b'{"api_key": "k", "batch": [{}]}', {}, {"_": "soon"}, (400, "invalid_sent_at")),
    ],
)
def test_unreadable_requests(body, headers, query, expected):
    assert parse_error(body, headers, query) == expected


def test_too_many_events_is_413():
    assert parse_error(orjson.dumps([EVENT] * 11), limits=Limits(max_events=10)) == (413, "too_many_events")


def test_oversized_body_is_413():
    assert parse_error(b"[" + b" " * 2000 + b"]", limits=Limits(max_body_bytes=1000)) == (413, "body_too_large")


def test_gzip_bomb_is_413():
    bomb = gzip.compress(b"[" + b" " * (50 * 1024 * 1024) + b"]")
    assert parse_error(bomb) == (413, "body_too_large")


def test_form_with_a_gzip_bomb_inside_is_413():
    bomb = base64.b64encode(gzip.compress(b"[" + b" " * (5 * 1024 * 1024) + b"]"))
    assert parse_error(b"data=" + quote(bomb.decode()).encode()) == (413, "body_too_large")


def test_lz64_over_the_limit_once_decompressed_is_413():
    payload = "[" + " " * 50_000 + "]"
    assert parse_error(lzstring.LZString().compressToBase64(payload).encode(), query={"compression": "lz64"}, limits=Limits(max_body_bytes=20_000)) == (
        413,
        "body_too_large",
    )


# --- Token lookup ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "token"),
    [
        ({"api_key": "a", "token": "b", "batch": [{**EVENT, "token": "c"}]}, "a"),
        ({"token": "b", "batch": [{**EVENT, "token": "c"}]}, "b"),
        ({"batch": [EVENT, {**EVENT, "token": "c", "$token": "d"}]}, "c"),
        ([{**EVENT, "$token": "d", "api_key": "e"}], "d"),
        ([{**EVENT, "api_key": "e", "properties": {"token": "f"}}], "e"),
        ([{**EVENT, "properties": {"token": "f"}}], "f"),
        ([EVENT], None),
        ({"api_key": "", "batch": [{**EVENT, "properties": {"token": "f"}}]}, "f"),
    ],
)
def test_token_lookup_order(document, token):
    assert parse(orjson.dumps(document)).api_key == token


def test_an_event_with_another_token_is_rejected_alone():
    parsed = parse(orjson.dumps({"api_key": "a", "batch": [EVENT, {**EVENT, "properties": {"token": "b"}}, {**EVENT, "token": "a"}]}))
    converted = posthog.events_convert(parsed, project_id=1, now=NOW)
    assert [c.problems for c in converted] == [[], [("properties.token", "differs from the token of the request")], []]


# --- Time --------------------------------------------------------------------------------


def test_timestamp_is_moved_by_the_clock_skew():
    # The client's clock runs 90 s fast: its sent_at is 12:01:30 for a request that arrived at 12:00.
    event = event_of({**EVENT, "timestamp": "2026-11-22T11:59:00+00:00"}, sent_at=NOW + timedelta(seconds=90))
    assert event["timestamp"] == "2026-11-22T11:57:30+00:00"


def test_timestamp_without_sent_at_is_kept():
    assert event_of({**EVENT, "timestamp": "2026-11-22T10:00:00.250+02:00"})["timestamp"] == "2026-11-22T08:00:00.250000+00:00"


def test_timestamp_without_an_offset_is_utc():
    assert event_of({**EVENT, "timestamp": "2026-11-22T10:00:00"})["timestamp"] == "2026-11-22T10:00:00+00:00"


def test_ignore_sent_at_property_skips_the_correction():
    item = {**EVENT, "timestamp": "2026-11-22T11:00:00Z", "properties": {"$ignore_sent_at": True}}
    assert event_of(item, sent_at=NOW + timedelta(hours=1))["timestamp"] == "2026-11-22T11:00:00+00:00"


def test_offset_is_milliseconds_before_the_server_time():
    assert event_of({**EVENT, "offset": 2500})["timestamp"] == "2026-11-22T11:59:57.500000+00:00"


def test_timestamp_wins_over_offset():
    assert event_of({**EVENT, "timestamp": "2026-11-22T11:00:00Z", "offset": 2500})["timestamp"] == "2026-11-22T11:00:00+00:00"


def test_no_time_at_all_is_the_receive_time():
    assert "timestamp" not in event_of(EVENT)


@pytest.mark.parametrize(
    ("query", "expected"),
    [({"sent_at": "1795348800000"}, NOW), ({"_": "1795348800000"}, NOW), ({"sent_at": "1795348800000", "_": "1"}, NOW)],
)
def test_sent_at_from_the_query_in_milliseconds(query, expected):
    assert parse(orjson.dumps([EVENT]), query=query).sent_at == expected


def test_body_sent_at_wins_over_the_query():
    body = orjson.dumps({"batch": [EVENT], "sent_at": "2026-11-22T11:00:00Z"})
    assert parse(body, query={"_": "1795348800000"}).sent_at == NOW - timedelta(hours=1)


@pytest.mark.parametrize(
    ("item", "problem"),
    [
        ({**EVENT, "timestamp": "last tuesday"}, ("timestamp", "must be an ISO-8601 date-time, e.g. 2026-11-22T10:00:00Z")),
        ({**EVENT, "timestamp": 1795348800}, ("timestamp", "must be an ISO-8601 date-time, e.g. 2026-11-22T10:00:00Z")),
        ({**EVENT, "offset": -5}, ("offset", "must be a whole number of milliseconds, 0 or more")),
        ({**EVENT, "offset": "5"}, ("offset", "must be a whole number of milliseconds, 0 or more")),
        ({**EVENT, "timestamp": "9999-12-31T23:59:59-14:00"}, ("timestamp", "is out of range")),
    ],
)
def test_bad_times_are_named(item, problem):
    assert convert(item).problems == [problem]


# --- Mapping -----------------------------------------------------------------------------


def test_properties_are_kept_without_the_token_and_mapped_to_columns():
    item = {
        "event": "$pageview",
        "uuid": "0B9F1C2E-4C1A-4F7E-9A59-2F6F1D3C8E11",
        "properties": {
            "distinct_id": "anon-1",
            "token": "key",
            "$current_url": "https://shop.test/pricing?x=1",
            "$referrer": "https://search.test/",
            "$session_id": "0191e0c1-session",
            "$lib": "web",
            "$browser": "Chrome",
        },
        "$set_once": {"first_seen": "today"},
    }
    event = event_of(item)
    assert event == {
        "event": "$pageview",
        "distinct_id": "anon-1",
        "event_id": "0B9F1C2E-4C1A-4F7E-9A59-2F6F1D3C8E11",
        "page_url": "https://shop.test/pricing?x=1",
        "referrer": "https://search.test/",
        "session_id": "0191e0c1-session",
        "source": "web",
        "properties": {**{k: v for k, v in item["properties"].items() if k != "token"}, "$set_once": {"first_seen": "today"}},
    }
    assert convert(item).fields["distinct_id"] == "properties.distinct_id"
    assert convert(item).fields["event_id"] == "uuid"


def test_top_level_distinct_id_wins_over_the_property():
    assert event_of({"event": "e", "distinct_id": "top", "properties": {"distinct_id": "inner"}})["distinct_id"] == "top"


def test_direct_referrer_and_unusable_values_leave_columns_empty():
    event = event_of({**EVENT, "properties": {"$referrer": "$direct", "$current_url": 42, "$session_id": "a\nb", "$lib": ""}})
    assert not {"referrer", "page_url", "session_id", "source"} & set(event)
    assert event["properties"]["$current_url"] == 42


def test_a_long_url_is_cut_in_its_column_and_kept_whole_in_properties():
    url = "https://shop.test/" + "q" * 3000
    event = event_of({**EVENT, "properties": {"$current_url": url}})
    assert event["page_url"] == url[:2048]
    assert event["properties"]["$current_url"] == url


def test_identify_links_the_anonymous_id_to_the_identified_one():
    item = {"event": "$identify", "properties": {"distinct_id": "user-42", "$anon_distinct_id": "anon-1"}, "$set": {"email": "a@b.c"}}
    event = event_of(item)
    assert (event["distinct_id"], event["user_id"], event["anonymous_id"]) == ("user-42", "user-42", "anon-1")
    assert event["properties"]["$set"] == {"email": "a@b.c"}
    assert convert(item).fields["anonymous_id"] == "properties.$anon_distinct_id"


def test_create_alias_links_the_alias_to_the_distinct_id():
    event = event_of({"event": "$create_alias", "distinct_id": "anon-1", "properties": {"alias": "user-42", "distinct_id": "anon-1"}})
    assert (event["distinct_id"], event["user_id"], event["anonymous_id"]) == ("anon-1", "user-42", "anon-1")


@pytest.mark.parametrize(
    ("item", "problems"),
    [
        ("nope", [("event", "each event must be a JSON object")]),
        ({"event": "e"}, [("distinct_id", "is required (distinct_id, or properties.distinct_id)")]),
        ({**EVENT, "properties": [1]}, [("properties", "must be a JSON object")]),
        ({"event": "$snapshot", "distinct_id": "u"}, [("event", "session recordings ($snapshot) are not supported")]),
        ({"event": "$create_alias", "distinct_id": "u", "properties": {}}, [("properties.alias", "is required for $create_alias")]),
    ],
)
def test_events_that_cannot_be_converted(item, problems):
    assert convert(item).problems == problems


def test_uuid_is_left_to_validation_which_names_it_uuid():
    converted = convert({**EVENT, "uuid": "not-a-uuid"})
    assert converted.event["event_id"] == "not-a-uuid"
    assert converted.fields["event_id"] == "uuid"


# --- Answers -----------------------------------------------------------------------------


def test_answers():
    assert posthog.answer(202, {"accepted": 2, "event_ids": ["a", "b"], "errors": []}) == (200, {"status": 1})
    error = {"index": 1, "field": "uuid", "message": "must be a UUID"}
    assert posthog.answer(202, {"accepted": 1, "event_ids": ["a"], "errors": [error]}) == (200, {"status": 1, "accepted": 1, "errors": [error]})
    assert posthog.answer(200, {"status": "duplicate", "accepted": 1, "event_ids": ["a"], "errors": []}) == (200, {"status": 1})
    status, body = posthog.answer(400, {"accepted": 0, "event_ids": [], "errors": [error]})
    assert (status, body["code"], body["errors"]) == (400, "invalid_events", [error])
    assert posthog.answer(401, {"error": "invalid_api_key", "message": "no"}) == (401, {"type": "authentication_error", "code": "invalid_api_key", "detail": "no"})
    assert posthog.answer(413, {"error": "body_too_large", "message": "big"})[1]["type"] == "validation_error"


# --- Feature flags and remote config -----------------------------------------------------


def test_flags_answer_has_no_flags_in_either_shape():
    answer = posthog.flags_answer("key")
    assert answer["flags"] == answer["featureFlags"] == answer["featureFlagPayloads"] == {}
    assert answer["errorsWhileComputingFlags"] is False
    assert answer["hasFeatureFlags"] is False and answer["sessionRecording"] is False
    uuid.UUID(answer["requestId"])


@pytest.mark.parametrize(
    ("body", "query", "token"),
    [
        (b'{"token": "a", "distinct_id": "u"}', {}, "a"),
        (gzip.compress(b'{"api_key": "b"}', mtime=0), {}, "b"),
        (b"", {"token": "c"}, "c"),
        (b'{"distinct_id": "u"}', {}, None),
    ],
)
def test_flags_token(body, query, token):
    assert posthog.flags_token(body=body, headers={}, query=query, limits=LIMITS) == token


def test_remote_config_script_sets_the_config_for_its_token():
    script = posthog.remote_config_js('key"</script>')
    assert script.startswith("(function(){")
    assert orjson.dumps('key"</script>').decode() in script
    assert '"sessionRecording":false' in script


# --- Any input: a 4xx or events, never a crash -------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from apps.ingest.validation import RequestContext, converted_validate  # noqa: E402

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
KEYS = ["event", "distinct_id", "properties", "timestamp", "offset", "uuid", "token", "$token", "api_key", "$set", "$set_once"]
PROPERTY_KEYS = ["distinct_id", "token", "$current_url", "$referrer", "$session_id", "$lib", "$anon_distinct_id", "alias", "$ignore_sent_at"]
TIMES = st.sampled_from(["2026-11-22T11:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "x"]) | JSON
POSTHOG_EVENT = st.fixed_dictionaries(
    {},
    optional={
        **{key: JSON for key in KEYS},
        "event": st.sampled_from(["$identify", "$create_alias", "$pageview", "$snapshot", ""]) | JSON,
        "timestamp": TIMES,
        "properties": st.dictionaries(st.sampled_from(PROPERTY_KEYS) | st.text(max_size=5), JSON, max_size=5) | JSON,
    },
)


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(POSTHOG_EVENT | JSON, max_size=5), envelope=st.dictionaries(st.sampled_from(["api_key", "token", "sent_at"]), TIMES, max_size=3))
def test_any_posthog_request_is_an_answer_not_a_crash(batch, envelope):
    context = RequestContext(project_id=1, received_at=NOW, user_agent="ua", ip_hash="h")
    try:
        parsed = parse(orjson.dumps({**envelope, "batch": batch}))
    except BodyError as exc:
        assert 400 <= exc.status < 500
        return
    validated = converted_validate(posthog.events_convert(parsed, project_id=1, now=NOW), items=parsed.items, context=context, limits=LIMITS, ip_hash_of=str)
    assert len(validated.rows) + len({e.index for e in validated.errors}) == len(batch)


BODIES = st.binary(max_size=200) | st.builds(lambda b: b"data=" + b, st.binary(max_size=100)) | st.builds(lambda b: b"\x1f\x8b" + b, st.binary(max_size=100))


@settings(max_examples=300, deadline=None)
@given(
    body=BODIES | st.builds(gzip.compress, BODIES) | st.builds(base64.b64encode, BODIES),
    compression=st.sampled_from(["", "gzip-js", "gzip", "base64"]),
    content_type=st.sampled_from(["", "application/json", "text/plain", "application/x-www-form-urlencoded"]),
)
def test_any_bytes_are_read_or_refused_with_a_4xx(body, compression, content_type):
    try:
        parse(body, {"content-type": content_type}, {"compression": compression})
    except BodyError as exc:
        assert 400 <= exc.status < 500
