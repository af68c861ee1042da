"""Each validation rule, with the error it gives. Pure functions: no services needed."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from apps.ingest.formats import Parsed, native
from apps.ingest.validation import BodyError, Limits, RequestContext, body_parse, converted_validate, values_check

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)
CONTEXT = RequestContext(project_id=7, received_at=NOW, user_agent="ua", ip_hash="h")
LIMITS = Limits()


def validated(events):
    """Native events through the production path: the native door's conversion, then validation."""
    converted = native.DOOR.events_convert(Parsed(items=events, api_key="k"), project_id=7, now=NOW)
    return converted_validate(converted, items=events, context=CONTEXT, limits=LIMITS, ip_hash_of=str)


def errors_of(event):
    return [(e.field, e.message) for e in validated([event]).errors]


def row_of(event):
    result = validated([event])
    assert result.errors == []
    return result.rows[0]


def test_minimal_event_gets_defaults():
    row = row_of({"event": "signed_up", "distinct_id": "u1"})
    assert row["project_id"] == 7
    assert row["timestamp"] == "2026-11-22 12:00:00.000" == row["received_at"]
    assert uuid.UUID(row["event_id"]).version == 4
    assert row["properties"] == "{}"
    assert (row["user_agent"], row["ip_hash"]) == ("ua", "h")


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"distinct_id": "u"}, [("event", "is required")]),
        ({"event": "", "distinct_id": "u"}, [("event", "must not be empty")]),
        ({"event": "x" * 201, "distinct_id": "u"}, [("event", "is 201 characters; the limit is 200")]),
        ({"event": "bad\nname", "distinct_id": "u"}, [("event", "must not contain control characters")]),
        ({"event": "bad\x85name", "distinct_id": "u"}, [("event", "must not contain control characters")]),
        ({"event": 5, "distinct_id": "u"}, [("event", "must be a string")]),
        ({"event": "e"}, [("distinct_id", "one of distinct_id, user_id or anonymous_id is required")]),
        ({"event": "e", "distinct_id": ["u"]}, [("distinct_id", "must be a string")]),
        ({"event": "e", "distinct_id": "u", "page": "/"}, [("page", "unknown field 'page'")]),
        ({"event": "e", "distinct_id": "u", "event_id": "nope"}, [("event_id", "must be a UUID, e.g. 0b9f1c2e-4c1a-4f7e-9a59-2f6f1d3c8e11")]),
        ({"event": "e", "distinct_id": "u", "properties": [1]}, [("properties", "must be a JSON object")]),
        ({"event": "e", "distinct_id": "u", "properties": {"x": "y" * 33000}}, [("properties", "is larger than 32768 bytes as JSON")]),
        ({"event": "e", "distinct_id": "u", "page_url": "x" * 2049}, [("page_url", "is 2049 characters; the limit is 2048")]),
        ({"event": "e", "distinct_id": "u", "session_id": ""}, [("session_id", "must not be empty")]),
    ],
)
def test_field_rules(event, expected):
    assert errors_of(event) == expected


@pytest.mark.parametrize(
    ("timestamp", "message"),
    [
        ("2026-11-22T10:00:00", "needs a UTC offset (Z or +hh:mm), e.g. 2026-11-22T10:00:00Z"),
        ("yesterday", "'yesterday' is not an ISO-8601 date-time"),
        (1732270000, "must be an ISO-8601 string with a UTC offset, e.g. 2026-11-22T10:00:00Z"),
        ("2026-11-23T12:00:01Z", "is more than 24 h in the future"),
        ("2020-01-01T00:00:00Z", "is more than 730 days in the past"),
    ],
)
def test_timestamp_rules(timestamp, message):
    assert errors_of({"event": "e", "distinct_id": "u", "timestamp": timestamp}) == [("timestamp", message)]


def test_timestamp_with_offset_is_stored_in_utc():
    row = row_of({"event": "e", "distinct_id": "u", "timestamp": "2026-11-22T10:30:00.250+02:00"})
    assert row["timestamp"] == "2026-11-22 08:30:00.250"


def test_timestamp_up_to_24h_ahead_is_accepted():
    ahead = (NOW + timedelta(hours=24)).isoformat()
    assert row_of({"event": "e", "distinct_id": "u", "timestamp": ahead})["timestamp"] == "2026-11-23 12:00:00.000"


def test_given_event_id_is_kept_canonical():
    given = "0B9F1C2E-4C1A-4F7E-9A59-2F6F1D3C8E11"
    assert row_of({"event": "e", "distinct_id": "u", "event_id": given})["event_id"] == given.lower()


def test_distinct_id_falls_back_to_user_then_anonymous_id():
    assert row_of({"event": "e", "user_id": "42", "anonymous_id": "anon"})["distinct_id"] == "42"
    assert row_of({"event": "e", "anonymous_id": "anon"})["distinct_id"] == "anon"
    assert row_of({"event": "e", "user_id": 42})["user_id"] == "42"


def test_every_problem_of_an_event_is_reported():
    assert {f for f, _ in errors_of({"event": "", "foo": 1, "timestamp": "x"})} == {"event", "foo", "timestamp", "distinct_id"}


def test_non_object_event_is_named_by_index():
    result = validated([{"event": "e", "distinct_id": "u"}, "oops"])
    assert len(result.rows) == 1
    assert [(e.index, e.field) for e in result.errors] == [(1, "event")]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"x" * (1024 * 1024 + 1), 413, "body_too_large"),
        (b"   ", 400, "empty_body"),
        (b"{nope", 400, "invalid_json"),
        (b'"text"', 400, "invalid_body"),
        (b'{"events": {}}', 400, "invalid_body"),
        (b'{"events": [], "x": 1}', 400, "unknown_field"),
        (b'{"events": [{}], "api_key": 5}', 400, "invalid_body"),
        (b'{"event": "e", "idempotency_key": ""}', 400, "invalid_idempotency_key"),
    ],
)
def test_body_errors(body, status, code):
    with pytest.raises(BodyError) as caught:
        body_parse(body, limits=LIMITS)
    assert (caught.value.status, caught.value.code) == (status, code)


def test_envelope_fields_are_taken_out_of_a_single_event():
    envelope = body_parse(b'{"event": "e", "distinct_id": "u", "api_key": "k", "idempotency_key": "i"}', limits=LIMITS)
    assert (envelope.api_key, envelope.idempotency_key) == ("k", "i")
    assert envelope.events == [{"event": "e", "distinct_id": "u"}]


def test_values_check_names_each_key_whose_value_is_too_deep_or_too_large():
    limits = Limits(max_depth=2)
    assert values_check({"event": "e", "properties": {"a": {"b": 1}}, "context": [[1]]}, limits=limits) == []
    # Brackets inside strings are not nesting.
    assert values_check({"event": "[[[[{{{{", "properties": {"a": "{[{[{["}}, limits=limits) == []
    assert values_check({"properties": {"a": {"b": {"c": 1}}}, "context": [[[1]]], "ok": {"a": 1}}, limits=limits) == [
        ("properties", "is nested deeper than the limit of 2 levels"),
        ("context", "is nested deeper than the limit of 2 levels"),
    ]
    assert values_check({"properties": {"n": 2**64}, "m": -(2**63) - 1, "fine": 2**64 - 1}, limits=limits) == [
        ("properties", "has an integer beyond 64 bits"),
        ("m", "has an integer beyond 64 bits"),
    ]
    assert values_check("not an event", limits=limits) == []
