"""The ingest endpoint over HTTP, through the real stream into chdb."""

import base64
import gzip
import json
import uuid

import orjson
import pytest

from apps.ingest.models import IngestRequest
from conftest import MembershipFactory, ProjectFactory
from pulseboard import clickhouse

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
        (gzip.compress(b'{"event": "e"}', mtime=0), "invalid_json"),
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
    assert clickhouse.query(
        "SELECT sum(events) FROM event_counts_15m WHERE project_id = {p:UInt64}", {"p": member.project.id}
    ).scalar() == 1


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


# --- Browsers: CORS and sendBeacon ----------------------------------------------------------

INGEST_ROUTES = [
    "/api/v1/events",
    *[f"/{route}{slash}" for route in ("e", "batch", "capture", "track", "i/v0/e", "flags", "decide") for slash in ("/", "")],
    *[f"/v1/{kind}{slash}" for kind in ("batch", "track", "identify", "page", "screen", "alias") for slash in ("", "/")],
    "/array/pb_any/config",
    "/array/pb_any/config.js",
]


@pytest.mark.parametrize("route", INGEST_ROUTES)
def test_every_ingest_route_answers_a_cors_preflight(client, route):
    response = client.options(
        route,
        HTTP_ORIGIN="https://shop.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type,x-api-key,idempotency-key,authorization",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    allowed = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "x-api-key", "idempotency-key", "authorization"} <= allowed
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.parametrize("route", ["/api/v1/projects/1/events", "/projects/", "/login/", "/api/schema/", "/healthz"])
def test_no_other_route_speaks_cors(client, route):
    response = client.options(route, HTTP_ORIGIN="https://evil.example.com", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert "Access-Control-Allow-Origin" not in response
    assert "Access-Control-Allow-Origin" not in client.get(route, HTTP_ORIGIN="https://evil.example.com")


def test_ingest_answers_carry_the_cors_header(member, ingest_client):
    response = ingest_client.post(
        "/api/v1/events", {"event": "e", "distinct_id": "d"}, format="json", HTTP_X_API_KEY=member.project.api_key, HTTP_ORIGIN="https://shop.example.com"
    )
    assert response.status_code == 202
    assert response["Access-Control-Allow-Origin"] == "*"


def test_a_text_plain_body_is_read_as_json(member, ingest_client, flush_stream, count_stored):
    """navigator.sendBeacon sends a string as text/plain, which needs no preflight; the key rides in the body."""
    body = orjson.dumps({"api_key": member.project.api_key, "event": "left_page", "distinct_id": "d"})
    response = ingest_client.generic("POST", "/api/v1/events", body, content_type="text/plain;charset=UTF-8")
    assert response.status_code == 202
    flush_stream()
    assert count_stored(member.project.id) == 1


# --- PostHog over HTTP ------------------------------------------------------------------------


def posthog_post(client, path, document, *, encode=orjson.dumps, content_type="application/json", **extra):
    return client.generic("POST", path, encode(document), content_type=content_type, **extra)


def post_events_json(client, path, document, **extra):
    # The standard library writes the deep documents some tests send, which orjson refuses.
    return client.generic("POST", path, json.dumps(document).encode(), content_type="application/json", **extra)


def stored_rows(project_id: int) -> list[dict]:
    from pulseboard import clickhouse

    return clickhouse.query(
        "SELECT event, distinct_id, user_id, anonymous_id, toString(event_id) AS event_id, ip_hash, user_agent, properties "
        "FROM events WHERE project_id = {p:UInt64} ORDER BY event",
        {"p": project_id},
    ).dicts()


@pytest.mark.parametrize("path", ["/e/", "/e", "/batch/", "/batch", "/capture/", "/capture", "/i/v0/e/", "/i/v0/e", "/track/", "/track"])
def test_posthog_capture_routes(member, ingest_client, path, flush_stream, count_stored):
    response = posthog_post(ingest_client, path, {"api_key": member.project.api_key, "batch": [{"event": "e", "distinct_id": "u"}]})
    assert (response.status_code, response.json()) == (200, {"status": 1})
    flush_stream()
    assert count_stored(member.project.id) == 1


def test_posthog_batch_with_bad_events_stores_the_good_and_names_the_bad(member, ingest_client, flush_stream):
    batch = [
        {"event": "ok", "distinct_id": "u"},
        {"event": "ok", "properties": {"plan": "pro"}},
        {"event": "ok", "distinct_id": "u", "uuid": "not-a-uuid"},
        {"event": "", "properties": {"distinct_id": "u"}},
        "junk",
        {"event": "ok", "properties": {"distinct_id": "x" * 201}},
    ]
    response = posthog_post(ingest_client, "/batch/", {"api_key": member.project.api_key, "batch": batch})
    assert response.status_code == 200
    assert response.json() == {
        "status": 1,
        "accepted": 1,
        "errors": [
            {"index": 1, "field": "distinct_id", "message": "is required (distinct_id, or properties.distinct_id)"},
            {"index": 2, "field": "uuid", "message": "must be a UUID, e.g. 0b9f1c2e-4c1a-4f7e-9a59-2f6f1d3c8e11"},
            {"index": 3, "field": "event", "message": "must not be empty"},
            {"index": 4, "field": "event", "message": "each event must be a JSON object"},
            {"index": 5, "field": "properties.distinct_id", "message": "is 201 characters; the limit is 200"},
        ],
    }
    flush_stream()
    assert [row["event"] for row in stored_rows(member.project.id)] == ["ok"]


def test_posthog_batch_with_nothing_valid_is_400(member, ingest_client):
    response = posthog_post(ingest_client, "/batch/", {"api_key": member.project.api_key, "batch": [{"event": "x"}]})
    assert response.status_code == 400
    body = response.json()
    assert (body["type"], body["code"]) == ("validation_error", "invalid_events")
    assert body["errors"] == [{"index": 0, "field": "distinct_id", "message": "is required (distinct_id, or properties.distinct_id)"}]


@pytest.mark.parametrize(("document", "code"), [({"batch": [{"event": "e", "distinct_id": "u"}]}, "missing_api_key"), ({"api_key": "pb_nope", "batch": [{"event": "e", "distinct_id": "u"}]}, "invalid_api_key")])
def test_posthog_bad_token_is_401_json(db, ingest_client, document, code):
    response = posthog_post(ingest_client, "/e/", document)
    assert response.status_code == 401
    assert response.json()["type"] == "authentication_error" and response.json()["code"] == code


@pytest.mark.parametrize(
    ("body", "content_type", "query", "status", "code"),
    [
        (b"data=%%%", "application/x-www-form-urlencoded", "", 400, "invalid_base64"),
        (gzip.compress(b'[{"event": "e"}]', mtime=0)[:-9], "text/plain", "?compression=gzip-js", 400, "invalid_gzip"),
        (b'[{"event": "\xff"}]', "application/json", "", 400, "invalid_utf8"),
        (b"<html>", "application/json", "", 400, "invalid_json"),
        (gzip.compress(b"[" + b" " * (8 * 1024 * 1024) + b"]", mtime=0), "text/plain", "?compression=gzip-js", 413, "body_too_large"),
    ],
)
def test_posthog_unreadable_bodies(member, ingest_client, flush_stream, count_stored, body, content_type, query, status, code):
    response = ingest_client.generic("POST", f"/e/{query}", body, content_type=content_type)
    assert response.status_code == status
    assert response.json()["code"] == code and response.json()["detail"]
    flush_stream()
    assert count_stored(member.project.id) == 0


def test_posthog_oversized_body_is_413(member, ingest_client, settings):
    body = b"[" + b" " * settings.INGEST_MAX_BODY_BYTES + b"]"
    response = ingest_client.generic("POST", "/batch/", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


def test_posthog_same_batch_twice_is_stored_once(member, ingest_client, flush_stream):
    batch = [{"event": "paid", "distinct_id": f"u{i}", "uuid": str(uuid.uuid4())} for i in range(3)]
    body = gzip.compress(orjson.dumps({"api_key": member.project.api_key, "batch": batch}))
    for _ in range(2):
        assert ingest_client.generic("POST", "/e/?compression=gzip-js", body, content_type="text/plain").status_code == 200
        flush_stream()
    assert sorted(row["event_id"] for row in stored_rows(member.project.id)) == sorted(e["uuid"] for e in batch)


def test_posthog_idempotency_key_replay(member, ingest_client, flush_stream, count_stored):
    document = {"api_key": member.project.api_key, "batch": [{"event": "e", "distinct_id": "u"}]}
    for _ in range(2):
        response = posthog_post(ingest_client, "/batch/", document, HTTP_IDEMPOTENCY_KEY="ph-1")
        assert (response.status_code, response.json()) == (200, {"status": 1})
    flush_stream()
    assert count_stored(member.project.id) == 1


@pytest.mark.parametrize("path", ["/flags/?v=2&config=true", "/flags?v=4", "/decide/?v=3", "/decide"])
def test_posthog_flags_are_answered_with_none_enabled(member, ingest_client, path):
    response = posthog_post(ingest_client, path, {"token": member.project.api_key, "distinct_id": "u"})
    assert response.status_code == 200
    body = response.json()
    assert body["featureFlags"] == body["flags"] == {} and body["errorsWhileComputingFlags"] is False


def test_posthog_flags_with_the_token_in_the_query_and_with_a_bad_token(member, ingest_client):
    assert ingest_client.get(f"/decide/?token={member.project.api_key}").status_code == 200
    assert posthog_post(ingest_client, "/flags/", {"token": "pb_nope"}).status_code == 401
    assert posthog_post(ingest_client, "/flags/", {"distinct_id": "u"}).json()["code"] == "missing_api_key"
    assert ingest_client.generic("POST", "/flags/", b"{oops", content_type="application/json").status_code == 400


def test_posthog_remote_config(member, ingest_client):
    config = ingest_client.get(f"/array/{member.project.api_key}/config")
    assert config.status_code == 200 and config.json()["sessionRecording"] is False
    script = ingest_client.get(f"/array/{member.project.api_key}/config.js")
    assert script.status_code == 200 and script["Content-Type"] == "application/javascript"
    assert ingest_client.get("/array/pb_nope/config").status_code == 401


# --- Segment over HTTP ------------------------------------------------------------------------


def basic_auth(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


@pytest.mark.parametrize(
    ("path", "message", "stored_as"),
    [
        ("/v1/track", {"userId": "u", "event": "Signed Up"}, "Signed Up"),
        ("/v1/identify", {"userId": "u", "traits": {"plan": "pro"}}, "$identify"),
        ("/v1/page", {"anonymousId": "a", "name": "Home"}, "$pageview"),
        ("/v1/screen", {"userId": "u", "name": "Feed"}, "$screen"),
        ("/v1/alias", {"userId": "u", "previousId": "a"}, "$create_alias"),
        ("/v1/batch", {"batch": [{"type": "track", "userId": "u", "event": "Signed Up"}]}, "Signed Up"),
    ],
)
def test_segment_routes(member, ingest_client, flush_stream, path, message, stored_as):
    response = posthog_post(ingest_client, path, message, HTTP_AUTHORIZATION=basic_auth(member.project.api_key))
    assert (response.status_code, response.json()) == (200, {"success": True})
    flush_stream()
    assert [row["event"] for row in stored_rows(member.project.id)] == [stored_as]


def test_segment_write_key_in_the_body(member, ingest_client):
    response = posthog_post(ingest_client, "/v1/track", {"writeKey": member.project.api_key, "userId": "u", "event": "e"})
    assert response.status_code == 200


@pytest.mark.parametrize(("authorization", "code"), [(None, "missing_api_key"), ("Basic " + base64.b64encode(b"pb_nope:").decode(), "invalid_api_key")])
def test_segment_bad_write_key_is_401_json(db, ingest_client, authorization, code):
    extra = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = posthog_post(ingest_client, "/v1/track", {"userId": "u", "event": "e"}, **extra)
    assert response.status_code == 401
    assert response.json() == {"success": False, "code": code, "message": response.json()["message"]}


def test_segment_batch_names_bad_messages_and_stores_the_rest(member, ingest_client, flush_stream):
    batch = [
        {"type": "track", "userId": "u", "event": "ok"},
        {"type": "group", "userId": "u", "groupId": "g"},
        {"type": "track", "event": "ok"},
        {"type": "identify", "userId": "u", "traits": {"bio": "x" * 40_000}},
    ]
    response = posthog_post(ingest_client, "/v1/batch", {"batch": batch}, HTTP_AUTHORIZATION=basic_auth(member.project.api_key))
    assert response.status_code == 200
    assert response.json()["errors"] == [
        {"index": 1, "field": "type", "message": "'group' is not supported; use one of track, identify, page, screen, alias"},
        {"index": 2, "field": "userId", "message": "one of userId or anonymousId is required"},
        {"index": 3, "field": "traits", "message": "is larger than 32768 bytes as JSON"},
    ]
    flush_stream()
    assert [row["event"] for row in stored_rows(member.project.id)] == ["ok"]


def test_segment_batch_sent_twice_is_stored_once(member, ingest_client, flush_stream):
    batch = [
        {"type": "track", "userId": "u", "event": "paid", "messageId": str(uuid.uuid4())},
        {"type": "track", "userId": "u", "event": "paid", "messageId": "ajs-next-5e2a"},
    ]
    for _ in range(2):
        response = posthog_post(ingest_client, "/v1/batch", {"batch": batch}, HTTP_AUTHORIZATION=basic_auth(member.project.api_key))
        assert response.status_code == 200
        flush_stream()
    ids = [row["event_id"] for row in stored_rows(member.project.id)]
    assert len(ids) == 2 and batch[0]["messageId"] in ids


def test_segment_context_ip_and_user_agent_replace_the_requests(member, ingest_client, flush_stream):
    from apps.ingest.services import ip_hash

    message = {"userId": "u", "event": "e", "context": {"ip": "198.51.100.7", "userAgent": "Mozilla/5.0 (Phone)"}}
    posthog_post(ingest_client, "/v1/track", message, HTTP_AUTHORIZATION=basic_auth(member.project.api_key), REMOTE_ADDR="10.0.0.1")
    flush_stream()
    row = stored_rows(member.project.id)[0]
    assert (row["ip_hash"], row["user_agent"]) == (ip_hash("198.51.100.7"), "Mozilla/5.0 (Phone)")
    assert "198.51.100.7" not in row["properties"]


def test_the_settings_page_lists_the_projects_own_refused_events(client, member):
    from apps.ingest import stream

    other = ProjectFactory()
    for project_id, name in ((member.project.id, "mine-refused"), (other.id, "theirs-refused")):
        dead = stream.DeadRow(project_id=project_id, row=orjson.dumps({"event": name, "event_id": str(uuid.uuid4())}), code=41, error="Code: 41. bad time")
        stream.batch_settle(manifest=stream.manifest_record(entry_ids=[f"0-{project_id}"], verified=True), dead=[dead])
    client.force_login(member.user)
    settings_page = client.get(f"/projects/{member.project.id}/settings/")
    assert f"/projects/{member.project.id}/settings/refused-events/" in settings_page.content.decode()
    section = client.get(f"/projects/{member.project.id}/settings/refused-events/", HTTP_HX_REQUEST="true").content.decode()
    assert "mine-refused" in section and "theirs-refused" not in section and "code 41" in section
    assert "<html" not in section
    assert client.get(f"/projects/{other.id}/settings/refused-events/").status_code == 404
    empty = ProjectFactory()
    MembershipFactory(project=empty, user=member.user)
    assert "None. Every event accepted" in client.get(f"/projects/{empty.id}/settings/refused-events/").content.decode()


# --- Keys the database cannot hold ----------------------------------------------------------


NUL_KEY = "pb_\x00nope"


def test_a_key_with_a_nul_character_is_401_on_every_door(member, ingest_client):
    """Postgres cannot hold NUL in text: a key with one is unknown, not a server error."""
    event = {"event": "e", "distinct_id": "u"}
    answers = {
        "native header": post_events_json(ingest_client, "/api/v1/events", event, HTTP_X_API_KEY="pb_\x01nope"),
        "native body": post_events_json(ingest_client, "/api/v1/events", {**event, "api_key": NUL_KEY}),
        "posthog": posthog_post(ingest_client, "/batch/", {"api_key": NUL_KEY, "batch": [event]}),
        "posthog event token": posthog_post(ingest_client, "/e/", {**event, "token": NUL_KEY}),
        "segment writeKey": posthog_post(ingest_client, "/v1/track", {"writeKey": NUL_KEY, "userId": "u", "event": "e"}),
        "segment basic auth": posthog_post(ingest_client, "/v1/track", {"userId": "u", "event": "e"}, HTTP_AUTHORIZATION=basic_auth(NUL_KEY)),
        "flags": posthog_post(ingest_client, "/flags/", {"token": NUL_KEY}),
        "decide query": ingest_client.get("/decide/", {"token": NUL_KEY}),
        "remote config": ingest_client.get("/array/pb_%00nope/config"),
        "remote config script": ingest_client.get("/array/pb_%00nope/config.js"),
    }
    statuses = {door: response.status_code for door, response in answers.items()}
    assert statuses == dict.fromkeys(answers, 401)
    for door, response in answers.items():
        body = response.json()
        assert "invalid_api_key" in (body.get("error"), body.get("code")), (door, body)


def test_a_key_longer_than_any_key_is_401_without_asking_the_database(member, ingest_client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = post_events_json(ingest_client, "/api/v1/events", {"event": "e", "distinct_id": "u"}, HTTP_X_API_KEY="pb_" + "x" * 5000)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_api_key")


@pytest.mark.parametrize(
    ("path", "document", "auth"),
    [
        ("/api/v1/events", {"event": "e", "distinct_id": "u"}, "native"),
        ("/batch/", {"batch": [{"event": "e", "distinct_id": "u"}]}, "posthog"),
        ("/v1/track", {"userId": "u", "event": "e"}, "segment"),
    ],
)
@pytest.mark.parametrize("idempotency_key", ["order\x00-1", "order\n1", "x" * 201])
def test_a_bad_idempotency_key_is_400_naming_it(member, ingest_client, flush_stream, count_stored, path, document, auth, idempotency_key):
    key = member.project.api_key
    credentials = {"native": {"HTTP_X_API_KEY": key}, "posthog": {}, "segment": {"HTTP_AUTHORIZATION": basic_auth(key)}}[auth]
    if auth == "posthog":
        document = {**document, "api_key": key}
    response = posthog_post(ingest_client, path, document, HTTP_IDEMPOTENCY_KEY=idempotency_key, **credentials)
    assert response.status_code == 400
    body = response.json()
    assert (body.get("error") or body.get("code")) == "invalid_idempotency_key"
    assert "Idempotency-Key" in (body.get("message") or body.get("detail"))
    flush_stream()
    assert count_stored(member.project.id) == 0


def test_a_nul_idempotency_key_in_the_body_is_400_naming_it(member, ingest_client):
    document = {"api_key": member.project.api_key, "idempotency_key": "a\x00b", "event": "e", "distinct_id": "u"}
    response = post_events_json(ingest_client, "/api/v1/events", document)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_idempotency_key"


# --- Values nested too deep ---------------------------------------------------------------


def nested(levels: int) -> dict:
    """A JSON object ``levels`` deep: nested(1) == {"k": 0}."""
    value: object = 0
    for _ in range(levels):
        value = {"k": value}
    return value


DEEP = 300  # deeper than orjson writes (254): it reads such a body, but cannot write it back


@pytest.mark.parametrize(
    ("path", "auth", "good", "deep", "field"),
    [
        ("/api/v1/events", "native", {"event": "ok", "distinct_id": "u"}, {"event": "deep", "distinct_id": "u", "properties": nested(DEEP)}, "properties"),
        ("/batch/", "posthog", {"event": "ok", "distinct_id": "u"}, {"event": "deep", "distinct_id": "u", "properties": nested(DEEP)}, "properties"),
        ("/batch/", "posthog", {"event": "ok", "distinct_id": "u"}, {"event": "deep", "distinct_id": "u", "$set": nested(DEEP)}, "$set"),
        ("/v1/batch", "segment", {"type": "track", "userId": "u", "event": "ok"}, {"type": "track", "userId": "u", "event": "deep", "properties": nested(DEEP)}, "properties"),
        ("/v1/batch", "segment", {"type": "track", "userId": "u", "event": "ok"}, {"type": "track", "userId": "u", "event": "deep", "context": nested(DEEP)}, "context"),
        ("/v1/batch", "segment", {"type": "track", "userId": "u", "event": "ok"}, {"type": "identify", "userId": "u", "traits": nested(DEEP)}, "traits"),
        ("/v1/batch", "segment", {"type": "track", "userId": "u", "event": "ok"}, {"type": "page", "userId": "u", "name": nested(DEEP)}, "name"),
    ],
)
@pytest.mark.parametrize("levels", [DEEP, 33])
def test_an_event_nested_too_deep_is_named_and_its_batch_is_stored(member, ingest_client, flush_stream, path, auth, good, deep, field, levels):
    deep = {key: (nested(levels) if value == nested(DEEP) else value) for key, value in deep.items()}
    key = member.project.api_key
    lists = {"native": "events", "posthog": "batch", "segment": "batch"}
    document = {lists[auth]: [good, deep, good]}
    credentials = {"native": {"HTTP_X_API_KEY": key}, "posthog": {}, "segment": {"HTTP_AUTHORIZATION": basic_auth(key)}}[auth]
    if auth == "posthog":
        document["api_key"] = key
    response = post_events_json(ingest_client, path, document, **credentials)
    assert response.status_code in (200, 202)
    errors = response.json()["errors"]
    assert [(error["index"], error["field"]) for error in errors] == [(1, field)]
    assert "32 levels" in errors[0]["message"]
    flush_stream()
    assert [row["event"] for row in stored_rows(member.project.id)] == ["ok", "ok"]


@pytest.mark.parametrize(
    ("path", "auth", "event"),
    [
        ("/api/v1/events", "native", {"event": "deep", "distinct_id": "u", "properties": nested(32)}),
        ("/e/", "posthog", {"event": "deep", "distinct_id": "u", "$set": nested(32), "properties": nested(32)}),
        ("/v1/identify", "segment", {"userId": "u", "traits": nested(32), "context": nested(32)}),
    ],
)
def test_an_event_at_the_depth_limit_is_stored(member, ingest_client, flush_stream, path, auth, event):
    key = member.project.api_key
    credentials = {"native": {"HTTP_X_API_KEY": key}, "posthog": {}, "segment": {"HTTP_AUTHORIZATION": basic_auth(key)}}[auth]
    if auth == "posthog":
        event = {**event, "api_key": key}
    response = post_events_json(ingest_client, path, event, **credentials)
    assert response.status_code in (200, 202) and not response.json().get("errors"), response.json()
    flush_stream()
    assert len(stored_rows(member.project.id)) == 1


def test_the_depth_limit_is_a_setting(member, ingest_client, settings):
    settings.INGEST_MAX_PROPERTIES_DEPTH = 3
    events = [{"event": "ok", "distinct_id": "u", "properties": nested(3)}, {"event": "deep", "distinct_id": "u", "properties": nested(4)}]
    response = post_events_json(ingest_client, "/api/v1/events", {"events": events}, HTTP_X_API_KEY=member.project.api_key)
    assert response.status_code == 202
    assert response.json()["accepted"] == 1
    assert response.json()["errors"] == [{"index": 1, "field": "properties", "message": "is nested deeper than the limit of 3 levels"}]


@pytest.mark.parametrize("number", [2**64, -(2**63) - 1, 10**30, 2**64 - 1, -(2**63)])
def test_integers_beyond_64_bits_are_not_a_server_error(member, ingest_client, flush_stream, number):
    body = b'{"event": "big", "distinct_id": "u", "properties": {"n": ' + str(number).encode() + b"}}"
    response = ingest_client.generic("POST", "/api/v1/events", body, content_type="application/json", HTTP_X_API_KEY=member.project.api_key)
    assert response.status_code == 202
    flush_stream()
    stored = orjson.loads(stored_rows(member.project.id)[0]["properties"])["n"]
    assert stored == pytest.approx(number, rel=1e-15)


def test_a_field_name_with_a_nul_is_named_escaped_and_the_answer_is_kept_for_replays(member, ingest_client, flush_stream, count_stored):
    """The answer to an idempotent request is kept in Postgres, which refuses NUL."""
    document = {"events": [{"event": "ok", "distinct_id": "u"}, {"event": "ok", "distinct_id": "u", "a\x00b": 1}]}
    answers = [
        post_events_json(ingest_client, "/api/v1/events", document, HTTP_X_API_KEY=member.project.api_key, HTTP_IDEMPOTENCY_KEY="nul-field")
        for _ in range(2)
    ]
    assert [answer.status_code for answer in answers] == [202, 200]
    first, replay = (answer.json() for answer in answers)
    assert first["errors"] == [{"index": 1, "field": "a\\u0000b", "message": "unknown field 'a\\x00b'"}]
    assert replay == {"status": "duplicate", **first}
    flush_stream()
    assert count_stored(member.project.id) == 1
