"""Every ingest door fuzzed through Django's test client (hypothesis, the ``pulseboard``
profile of conftest.py: derandomized, so a run is reproducible).

Whatever a client sends, the answer is never a 5xx; a 4xx is JSON that names what is wrong
in the door's own shape; and in a batch every event is accounted for: it is accepted, or an
error names its index, field and reason. The valid events riding among the junk are all
accepted and stored.
"""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import MembershipFactory, flush
from pulseboard import clickhouse

pytestmark = pytest.mark.django_db

VALID_EVENT = "fuzz-valid"  # the name of the valid events mixed into the fuzzed batches


# --- What clients may send ------------------------------------------------------------------


def nested(levels: int, leaf=0, as_list: bool = False):
    value = leaf
    for _ in range(levels):
        value = [value] if as_list else {"k": value}
    return value


controls = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.characters(min_codepoint=0x7F, max_codepoint=0x9F)
texts = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=controls, min_size=1, max_size=4),  # NUL and the other control characters
    st.text(max_size=3).map(lambda t: f"\x00{t}"),
    st.sampled_from(["", " ", "null", "undefined", "$set", "\u2028", "\ufeff", "𝔘𝔫𝔦"]),
    st.integers(250, 3000).map(lambda n: "x" * n),  # over the column limits
)
numbers = st.one_of(
    st.integers(),  # unbounded: beyond 64 bits too
    st.sampled_from([2**63, 2**64, -(2**63) - 1, 10**40, -(10**40)]),
    st.floats(allow_nan=False, allow_infinity=False),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(
    scalars, lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3), max_leaves=12
)
depths = st.sampled_from([32, 33, 254, 255, 300, 1000]) | st.integers(1, 400)
deep_values = st.builds(nested, depths, scalars, st.booleans())
any_value = st.one_of(json_values, deep_values)


def iso(moment: datetime) -> str:
    return moment.isoformat()


NOW = datetime.now(timezone.utc)
timestamps = st.one_of(
    st.datetimes(timezones=st.just(timezone.utc)).map(iso),  # years 1 to 9999
    st.integers(-(10**6), 10**6).map(lambda hours: iso(NOW + timedelta(hours=hours))),
    st.sampled_from(["2026-13-45T00:00:00Z", "yesterday", "", "0000-00-00", "9999-12-31T23:59:59+14:00"]),
    st.integers(-(10**15), 10**15),
    texts,
)
# Values for the keys a door knows: the right kind now and then, the wrong kind often.
field_values = st.one_of(texts, timestamps, any_value)


def junk_events(known_keys: list[str], valid, nested_keys: list[str]):
    """Objects with some of a door's own keys (and unknown ones) set to anything; valid
    events with one of their JSON values nested deep (orjson reads 1024 levels, writes 254);
    and things that are not objects at all."""
    keyed = st.dictionaries(st.sampled_from(known_keys) | texts, field_values, max_size=6)
    too_deep = st.builds(lambda key, value: {**valid(0), "event": "fuzz-deep", key: value}, st.sampled_from(nested_keys), deep_values)
    return st.one_of(keyed, keyed, too_deep, any_value)


NATIVE_KEYS = ["event", "distinct_id", "user_id", "anonymous_id", "timestamp", "event_id", "properties", "session_id", "source", "page_url", "referrer"]
POSTHOG_KEYS = ["event", "distinct_id", "properties", "timestamp", "offset", "uuid", "$set", "$set_once", "token", "$token", "api_key", "type", "library"]
SEGMENT_KEYS = ["type", "event", "userId", "anonymousId", "previousId", "properties", "traits", "context", "timestamp", "originalTimestamp", "sentAt", "messageId", "name", "category", "integrations", "writeKey"]


def valid_native(n: int) -> dict:
    return {"event": VALID_EVENT, "distinct_id": f"valid-{uuid.uuid4()}", "properties": {"n": n, "nested": nested(5)}}


def valid_posthog(n: int) -> dict:
    return {"event": VALID_EVENT, "distinct_id": f"valid-{uuid.uuid4()}", "properties": {"n": n, "$current_url": "https://shop.example.com/"}, "$set": {"plan": "pro"}}


def valid_segment(n: int) -> dict:
    return {"type": "track", "event": VALID_EVENT, "userId": f"valid-{uuid.uuid4()}", "properties": {"n": n}, "context": {"library": {"name": "fuzz"}}}


@st.composite
def batches(draw, known_keys: list[str], valid, nested_keys: list[str]):
    """A batch of junk with valid events at random places: (events, indexes of the valid ones)."""
    junk = draw(st.lists(junk_events(known_keys, valid, nested_keys), max_size=5))
    valid_count = draw(st.integers(1, 3))
    events = list(junk)
    places = []
    for n in range(valid_count):
        place = draw(st.integers(0, len(events)))
        events.insert(place, valid(n))
        places = [p + 1 if p >= place else p for p in places] + [place]
    return events, sorted(places)


# --- What every answer must be --------------------------------------------------------------


def dumps(document) -> bytes:
    # The standard library writes what orjson refuses (deep nesting, integers beyond 64 bits).
    return json.dumps(document).encode()


def answer_json(response) -> dict:
    assert response.status_code < 500, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    return json.loads(response.content)


def names_the_problem(door: str, response) -> dict:
    """A 4xx in the door's shape: per-event errors with index, field and message, or a
    whole-body error with its code and a message."""
    body = answer_json(response)
    if response.status_code < 400:
        return body
    errors = body.get("errors")
    if errors is not None:
        assert errors and all({"index", "field", "message"} <= set(e) and e["field"] and e["message"] for e in errors), body
        return body
    if door == "native":
        assert body.get("error") and body.get("message"), body
    elif door == "posthog":
        assert body.get("type") and body.get("code") and body.get("detail"), body
    else:
        assert body.get("success") is False and body.get("code") and body.get("message"), body
    return body


def every_event_is_accounted_for(body: dict, events: list, valid_places: list[int]) -> None:
    """Each event is accepted or named by an error, and no valid event is refused."""
    failed = {error["index"] for error in body.get("errors", [])}
    assert failed <= set(range(len(events))), body
    assert not failed & set(valid_places), body
    assert body.get("accepted", len(events) - len(failed)) == len(events) - len(failed), body


def stored_valid_events(project_id: int) -> int:
    return clickhouse.query(
        "SELECT count() FROM events WHERE project_id = {p:UInt64} AND event = {e:String}", {"p": project_id, "e": VALID_EVENT}
    ).scalar()


def basic_auth(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


# --- The doors, fuzzed ------------------------------------------------------------------------


def once() -> dict:
    """An Idempotency-Key header never sent before: the answer is stored with the key."""
    return {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}


@settings(max_examples=200)
@given(
    batch=batches(NATIVE_KEYS, valid_native, ["properties"]),
    single=st.booleans(),
    envelope=st.just({}) | st.dictionaries(st.sampled_from(["idempotency_key", "extra"]) | texts, field_values, max_size=2),
    idempotent=st.booleans(),
)
def test_native_batches(ingest_client, fuzz_project, batch, single, envelope, idempotent):
    events, valid_places = batch
    document = events[valid_places[0]] if single else {"events": events}
    if not single:
        document.update({k: v for k, v in envelope.items() if k not in ("events", "api_key")})
    headers = once() if idempotent else {}
    response = ingest_client.generic(
        "POST", "/api/v1/events", dumps(document), content_type="application/json", HTTP_X_API_KEY=fuzz_project.api_key, **headers
    )
    body = names_the_problem("native", response)
    if response.status_code == 202:
        fuzz_project.sent_valid += 1 if single else len(valid_places)
        every_event_is_accounted_for(body, [document] if single else events, [0] if single else valid_places)
    elif response.status_code == 200:  # an idempotency key drawn twice: the first answer again
        assert body["status"] == "duplicate", body
    else:  # only something about the envelope refuses a batch that carries valid events
        assert "error" in body and response.status_code == 400, body


@settings(max_examples=200)
@given(
    batch=batches(POSTHOG_KEYS, valid_posthog, ["properties", "$set", "$set_once"]),
    shape=st.sampled_from(["batch", "list", "gzip", "form", "base64"]),
    path=st.sampled_from(["/e/", "/batch/", "/capture/", "/i/v0/e/", "/track/", "/e", "/batch"]),
    sent_at=st.one_of(st.none(), timestamps),
    idempotent=st.booleans(),
)
def test_posthog_batches(ingest_client, fuzz_project, batch, shape, path, sent_at, idempotent):
    events, valid_places = batch
    key = fuzz_project.api_key
    envelope = {"api_key": key, "batch": events}
    if sent_at is not None:
        envelope["sent_at"] = sent_at
    query, content_type = "", "application/json"
    if shape == "list":  # as posthog-js sends: a list, the token in each event
        events = [{**e, "token": key} if i in valid_places else e for i, e in enumerate(events)]
        body_bytes = dumps(events)
    else:
        body_bytes = dumps(envelope)
    if shape == "gzip":
        body_bytes, query, content_type = gzip.compress(body_bytes), "?compression=gzip-js", "text/plain"
    elif shape == "form":
        body_bytes, content_type = b"data=" + quote(base64.b64encode(body_bytes).decode()).encode(), "application/x-www-form-urlencoded"
    elif shape == "base64":
        body_bytes, query = base64.b64encode(body_bytes), "?compression=base64"
    response = ingest_client.generic("POST", path + query, body_bytes, content_type=content_type, **(once() if idempotent else {}))
    body = names_the_problem("posthog", response)
    if response.status_code == 200:
        fuzz_project.sent_valid += len(valid_places)
        every_event_is_accounted_for(body, events, valid_places)
    else:  # a sent_at that cannot be read refuses the batch; in a list, a junk event's token may come first
        assert response.status_code in (400, 401), body


@settings(max_examples=200)
@given(
    batch=batches(SEGMENT_KEYS, valid_segment, ["properties", "traits", "context", "name", "category"]),
    route=st.sampled_from(["batch", "track", "identify", "page", "screen", "alias"]),
    sent_at=st.one_of(st.none(), timestamps),
    compress=st.booleans(),
    idempotent=st.booleans(),
)
def test_segment_batches(ingest_client, fuzz_project, batch, route, sent_at, compress, idempotent):
    events, valid_places = batch
    if route == "batch":
        document = {"batch": events}
        if sent_at is not None:
            document["sentAt"] = sent_at
    else:  # one message: the route says its type (an alias needs a previousId, which it has not)
        events = [{**events[valid_places[0]], "type": route}]
        valid_places = [] if route == "alias" else [0]
        document = events[0]
    body_bytes = dumps(document)
    if compress:
        body_bytes = gzip.compress(body_bytes)
    headers = {"HTTP_AUTHORIZATION": basic_auth(fuzz_project.api_key), **(once() if idempotent else {})}
    response = ingest_client.generic("POST", f"/v1/{route}", body_bytes, content_type="application/json", **headers)
    body = names_the_problem("segment", response)
    if response.status_code == 200:
        if route in ("batch", "track"):  # the other routes store their events under their own names
            fuzz_project.sent_valid += len(valid_places)
        every_event_is_accounted_for(body, events, valid_places)
    else:
        assert response.status_code == 400 and (route == "alias" or "errors" not in body), body


doors = st.sampled_from(
    [
        ("native", "/api/v1/events"),
        ("posthog", "/e/"),
        ("posthog", "/batch/"),
        ("posthog", "/flags/?v=2"),
        ("posthog", "/decide/"),
        ("segment", "/v1/batch"),
        ("segment", "/v1/track"),
        ("segment", "/v1/identify"),
    ]
)
GZIP_MAGIC = b"\x1f\x8b"
raw_bodies = st.one_of(
    st.binary(max_size=200),
    st.binary(max_size=200).map(lambda b: GZIP_MAGIC + b),  # gzip that is not
    st.binary(max_size=200).map(lambda b: gzip.compress(b)),
    st.binary(max_size=200).map(lambda b: gzip.compress(b)[: max(2, len(b) // 2)]),  # truncated
    st.binary(max_size=100).map(lambda b: b"data=" + b),
    st.binary(max_size=100).map(lambda b: b'{"events": [' + b),
    any_value.map(dumps),  # any JSON at all, as the whole body
    st.builds(lambda v: b'{"event": "' + v + b'", "distinct_id": "u"}', st.binary(max_size=20)),  # bad UTF-8 in a string
    st.just(b""),
    st.just(b"   "),
)


@settings(max_examples=300)
@given(
    door=doors,
    body=raw_bodies,
    content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", "application/octet-stream", ""]),
    content_encoding=st.sampled_from([None, "gzip", "deflate", "br", "gzip, gzip", "x-unknown"]),
    compression=st.sampled_from([None, "gzip-js", "gzip", "base64", "lz64", "lz-string", ""]) | texts,
    key=st.sampled_from(["good", "missing", "unknown", "nul"]),
    idempotency_key=st.one_of(st.none(), texts),
)
@example(door=("native", "/api/v1/events"), body=b" " * (1024 * 1024 + 1), content_type="application/json", content_encoding=None, compression=None, key="good", idempotency_key=None)
@example(door=("posthog", "/batch/"), body=gzip.compress(b"[" + b" " * (2 * 1024 * 1024) + b"]"), content_type="text/plain", content_encoding=None, compression="gzip-js", key="good", idempotency_key=None)
@example(door=("segment", "/v1/batch"), body=b'{"batch": [' + b'{"type": "track"},' * 1200 + b"{}]}", content_type="application/json", content_encoding=None, compression=None, key="good", idempotency_key=None)
def test_any_body_on_any_door(ingest_client, fuzz_project, door, body, content_type, content_encoding, compression, key, idempotency_key):
    name, path = door
    api_key = {"good": fuzz_project.api_key, "missing": "", "unknown": "pb_unknown", "nul": "pb_\x00"}[key]
    headers = {}
    if content_encoding:
        headers["HTTP_CONTENT_ENCODING"] = content_encoding
    if idempotency_key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = f"{idempotency_key}{uuid.uuid4()}"  # never a replay
    if api_key:
        headers.update({"native": {"HTTP_X_API_KEY": api_key}, "posthog": {}, "segment": {"HTTP_AUTHORIZATION": basic_auth(api_key)}}[name])
    query = {}
    if compression is not None:
        query["compression"] = compression
    if name == "posthog" and api_key:
        query["token"] = api_key
    url = path + ("&" if "?" in path else "?") + "&".join(f"{k}={quote(v)}" for k, v in query.items()) if query else path
    response = ingest_client.generic("POST", url, body, content_type=content_type, **headers)
    names_the_problem(name, response)


@settings(max_examples=60)
@given(token=texts | st.text(max_size=80), script=st.booleans())
def test_remote_config_with_any_token(ingest_client, fuzz_project, token, script):
    path = f"/array/{quote(token, safe='')}/config" + (".js" if script else "")
    response = ingest_client.get(path)
    if response.status_code == 200:
        assert script or json.loads(response.content)["token"] == token
    else:
        assert response.status_code in (401, 404), response.status_code
        if response.status_code == 401:
            names_the_problem("posthog", response)


# --- The valid events were stored ------------------------------------------------------------


@pytest.fixture
def fuzz_project(db):
    """The project the fuzzed requests write to; ``sent_valid`` counts the valid events its
    accepted requests carried, and all of them must be stored."""
    project = MembershipFactory().project
    project.sent_valid = 0
    yield project
    flush()
    assert stored_valid_events(project.id) == project.sent_valid
