"""The ingest endpoint over HTTP, through the real stream into chdb."""

import gzip
import uuid

import pytest

from apps.ingest.models import EventDefinition, IngestRequest
from conftest import MembershipFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def test_single_event_is_accepted_and_stored(member, ingest_client, send, flush_stream, count_stored):
    response = send(ingest_client, member.project.api_key, {"event": "signed_up", "distinct_id": "u1", "properties": {"plan": "pro"}})
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 1 and body["errors"] == []
    uuid.UUID(body["event_ids"][0])
    flush_stream()
    assert count_stored(member.project.id) == 1


def test_batch_with_invalid_events_accepts_the_valid_and_names_the_rest(member, ingest_client, send, flush_stream, count_stored):
    events = [
        {"event": "ok", "distinct_id": "a"},
        {"event": "", "distinct_id": "a"},
        {"event": "ok", "distinct_id": "b", "colour": "red"},
        {"event": "ok", "user_id": "c"},
    ]
    response = send(ingest_client, member.project.api_key, {"events": events})
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 2
    assert body["errors"] == [
        {"index": 1, "field": "event", "message": "must not be empty"},
        {"index": 2, "field": "colour", "message": "unknown field 'colour'"},
    ]
    flush_stream()
    assert count_stored(member.project.id) == 2


def test_nothing_valid_is_400_with_every_error(member, ingest_client, send, flush_stream, count_stored):
    response = send(ingest_client, member.project.api_key, {"events": [{"event": "x"}, {"distinct_id": "y"}]})
    assert response.status_code == 400
    body = response.json()
    assert body["accepted"] == 0
    assert {(e["index"], e["field"]) for e in body["errors"]} == {(0, "distinct_id"), (1, "event")}
    flush_stream()
    assert count_stored(member.project.id) == 0


def test_api_key_in_body_is_accepted(member, ingest_client):
    response = ingest_client.post("/api/v1/events", {"api_key": member.project.api_key, "event": "e", "distinct_id": "d"}, format="json")
    assert response.status_code == 202


def test_text_plain_body_with_the_key_inside_is_accepted(member, ingest_client, flush_stream, count_stored):
    """What the browser SDK sends: a "simple" request (no CORS preflight), the key in the body."""
    body = f'{{"api_key": "{member.project.api_key}", "events": [{{"event": "e", "anonymous_id": "a"}}]}}'
    response = ingest_client.generic("POST", "/api/v1/events", body.encode(), content_type="text/plain;charset=UTF-8")
    assert response.status_code == 202
    assert response.json()["accepted"] == 1
    flush_stream()
    assert count_stored(member.project.id) == 1


@pytest.mark.parametrize(
    ("key", "code"),
    [(None, "missing_api_key"), ("pb_nope", "invalid_api_key")],
)
def test_bad_key_is_401(db, ingest_client, key, code):
    headers = {"HTTP_X_API_KEY": key} if key else {}
    response = ingest_client.post("/api/v1/events", {"event": "e", "distinct_id": "d"}, format="json", **headers)
    assert response.status_code == 401
    assert response.json()["error"] == code


def test_oversized_body_is_413(member, ingest_client, settings):
    body = b'{"event": "e", "distinct_id": "d", "properties": {"x": "' + b"a" * (settings.INGEST_MAX_BODY_BYTES) + b'"}}'
    response = ingest_client.generic("POST", "/api/v1/events", body, content_type="application/json", HTTP_X_API_KEY=member.project.api_key)
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"


def test_too_many_events_is_413(member, ingest_client, send, settings):
    events = [{"event": "e", "distinct_id": "d"}] * (settings.INGEST_MAX_EVENTS + 1)
    response = send(ingest_client, member.project.api_key, {"events": events})
    assert response.status_code == 413
    assert response.json()["error"] == "too_many_events"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"event": "e", "distinct_id": ', "invalid_json"),
        (b'{"event": "\xff\xfe", "distinct_id": "d"}', "invalid_json"),
        (gzip.compress(b'{"event": "e"}'), "invalid_json"),
        (b"[1, 2]", "invalid_body"),
        (b"", "empty_body"),
        (b'{"events": [], "api_key": "x"}', "invalid_body"),
        (b'{"events": [{"event": "e", "distinct_id": "d"}], "extra": 1}', "unknown_field"),
    ],
)
def test_unreadable_body_is_400_and_stores_nothing(member, ingest_client, flush_stream, count_stored, body, code):
    response = ingest_client.generic("POST", "/api/v1/events", body, content_type="application/json", HTTP_X_API_KEY=member.project.api_key)
    assert response.status_code == 400
    assert response.json()["error"] == code
    flush_stream()
    assert count_stored(member.project.id) == 0


def test_get_is_not_allowed(member, ingest_client):
    assert ingest_client.get("/api/v1/events", HTTP_X_API_KEY=member.project.api_key).status_code == 405


def test_idempotency_key_replay_is_duplicate_and_stores_nothing(member, ingest_client, send, flush_stream, count_stored):
    body = {"events": [{"event": "paid", "distinct_id": "u"}, {"event": "paid", "distinct_id": "v"}]}
    first = send(ingest_client, member.project.api_key, body, HTTP_IDEMPOTENCY_KEY="order-17")
    assert first.status_code == 202
    flush_stream()
    replay = send(ingest_client, member.project.api_key, body, HTTP_IDEMPOTENCY_KEY="order-17")
    assert replay.status_code == 200
    assert replay.json() == {"status": "duplicate", **first.json()}
    flush_stream()
    assert count_stored(member.project.id) == 2
    assert IngestRequest.objects.filter(project=member.project, idempotency_key="order-17").count() == 1


def test_idempotency_key_in_body(member, ingest_client, send, flush_stream, count_stored):
    body = {"event": "paid", "distinct_id": "u", "idempotency_key": "k-1"}
    assert send(ingest_client, member.project.api_key, body).status_code == 202
    assert send(ingest_client, member.project.api_key, body).json()["status"] == "duplicate"
    flush_stream()
    assert count_stored(member.project.id) == 1


def test_idempotency_keys_are_per_project(member, ingest_client, send):
    other = ProjectFactory()
    body = {"event": "paid", "distinct_id": "u"}
    assert send(ingest_client, member.project.api_key, body, HTTP_IDEMPOTENCY_KEY="same").status_code == 202
    assert send(ingest_client, other.api_key, body, HTTP_IDEMPOTENCY_KEY="same").status_code == 202


def test_same_event_id_twice_is_stored_once(member, ingest_client, send, flush_stream, count_stored):
    event_id = str(uuid.uuid4())
    event = {"event": "paid", "distinct_id": "u", "event_id": event_id}
    first = send(ingest_client, member.project.api_key, {"events": [event, event]})
    assert first.status_code == 202
    flush_stream()
    again = send(ingest_client, member.project.api_key, event)
    assert again.status_code == 202 and again.json()["event_ids"] == [event_id]
    flush_stream()
    assert count_stored(member.project.id) == 1
    assert EventDefinition.objects.get(project=member.project, name="paid").count == 1


def test_key_of_project_a_writes_only_to_a(member, ingest_client, send, flush_stream, count_stored):
    other = MembershipFactory()
    response = send(ingest_client, member.project.api_key, {"event": "e", "distinct_id": "d"})
    assert response.status_code == 202
    flush_stream()
    assert count_stored(member.project.id) == 1
    assert count_stored(other.project.id) == 0


def test_server_fields_are_added_and_ip_is_never_stored(member, ingest_client, send, flush_stream):
    from pulseboard import clickhouse

    send(ingest_client, member.project.api_key, {"event": "e", "distinct_id": "d"}, HTTP_USER_AGENT="Mozilla/5.0 test", REMOTE_ADDR="203.0.113.9")
    flush_stream()
    row = clickhouse.query(
        "SELECT user_agent, ip_hash, received_at, properties FROM events WHERE project_id = {p:UInt64}", {"p": member.project.id}
    ).dicts()[0]
    assert row["user_agent"] == "Mozilla/5.0 test"
    assert len(row["ip_hash"]) == 32 and "203.0.113.9" not in row["ip_hash"]
    assert row["received_at"] is not None
    dump = str(clickhouse.query("SELECT * FROM events WHERE project_id = {p:UInt64}", {"p": member.project.id}).rows)
    assert "203.0.113.9" not in dump


def test_rotated_key_stops_working(member, ingest_client, send):
    from apps.projects.services import project_rotate_api_key

    old = member.project.api_key
    assert send(ingest_client, old, {"event": "e", "distinct_id": "d"}).status_code == 202
    new = project_rotate_api_key(project=member.project)
    assert send(ingest_client, old, {"event": "e", "distinct_id": "d"}).status_code == 401
    assert send(ingest_client, new, {"event": "e", "distinct_id": "d"}).status_code == 202


def test_only_client_chosen_event_ids_cost_a_dedup_key(member, ingest_client, send):
    from apps.ingest import stream

    send(ingest_client, member.project.api_key, {"events": [{"event": "e", "distinct_id": "d"}] * 5})
    pattern = stream.dedup_key(member.project.id, "*")
    assert list(stream.client().scan_iter(match=pattern)) == []
    send(ingest_client, member.project.api_key, {"event": "e", "distinct_id": "d", "event_id": str(uuid.uuid4())})
    assert len(list(stream.client().scan_iter(match=pattern))) == 1
