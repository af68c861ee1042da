"""The native format: the events pass through as they are; keys come from headers first."""

from datetime import datetime, timezone

import pytest

from apps.ingest.formats import native
from apps.ingest.validation import BodyError, Limits

LIMITS = Limits()
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=timezone.utc)


def parse(body: bytes, headers: dict | None = None):
    return native.request_parse(body=body, headers=headers or {}, query={}, limits=LIMITS)


def test_headers_win_over_the_body():
    body = b'{"event": "e", "distinct_id": "u", "api_key": "body-key", "idempotency_key": "body-idem"}'
    parsed = parse(body, {"x-api-key": "header-key", "idempotency-key": "header-idem"})
    assert (parsed.api_key, parsed.idempotency_key) == ("header-key", "header-idem")
    assert parsed.items == [{"event": "e", "distinct_id": "u"}]


def test_body_keys_when_no_header():
    parsed = parse(b'{"events": [{"event": "e", "distinct_id": "u"}], "api_key": "k", "idempotency_key": "i"}', {"x-api-key": ""})
    assert (parsed.api_key, parsed.idempotency_key) == ("k", "i")


def test_events_are_converted_as_they_are():
    parsed = parse(b'{"events": [{"event": "e", "distinct_id": "u", "colour": "red"}, "oops"]}')
    converted = native.events_convert(parsed, project_id=1, now=NOW)
    assert [c.event for c in converted] == [{"event": "e", "distinct_id": "u", "colour": "red"}, "oops"]
    assert all(c.problems == [] and c.fields == {} for c in converted)


def test_gzip_is_not_read_by_the_native_door():
    import gzip

    with pytest.raises(BodyError) as caught:
        parse(gzip.compress(b'{"event": "e", "distinct_id": "u"}'))
    assert (caught.value.status, caught.value.code) == (400, "invalid_json")


def test_answer_is_the_native_answer():
    body = {"accepted": 1, "event_ids": ["a"], "errors": []}
    assert native.answer(202, body) == (202, body)
