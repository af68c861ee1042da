import base64

import pytest
import yaml
from django.urls import resolve
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance, status_code_conformance

from apps.ingest import views as ingest_views

pytestmark = pytest.mark.django_db


def test_openapi_schema_documents_every_endpoint(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    paths = set(schema["paths"])
    for path in [
        "/api/v1/projects/{project_id}/events",
        "/api/v1/projects/{project_id}/insights/active-users",
        "/api/v1/projects/{project_id}/insights/trends",
        "/api/v1/projects/{project_id}/insights/top-events",
        "/api/v1/projects/{project_id}/insights/overview",
    ]:
        assert path in paths
    trends = schema["components"]["schemas"]["Trends"]["properties"]
    assert {"buckets", "series", "timezone", "interval"} <= set(trends)


def test_interactive_docs_are_served_without_a_cdn(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html and "cdn" not in html.lower()


def schema_of(client) -> dict:
    response = client.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


# Every ingest route the schema documents, and the view that really answers it.
INGEST_ROUTES = {
    "/api/v1/events": ingest_views.ingest_events,
    **{path: ingest_views.posthog_capture for path in ("/e/", "/batch/", "/capture/", "/i/v0/e/", "/track/")},
    **{f"/v1/{kind}": ingest_views.segment_api for kind in ("batch", "track", "identify", "page", "screen", "alias")},
}


def test_schema_documents_the_ingest_routes_with_their_keys(client):
    schema = schema_of(client)
    for path, view in INGEST_ROUTES.items():
        assert set(schema["paths"][path]) == {"post"}, path
        assert resolve(path).func is view, f"{path} is documented but {view.__name__} does not answer it"
        operation = schema["paths"][path]["post"]
        assert {"200", "400", "401", "413"} <= set(operation["responses"]), path
        assert "requestBody" in operation and "Idempotency-Key" in [p["name"] for p in operation["parameters"]]
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ingestKey"]["type"] == "apiKey" and (schemes["ingestKey"]["in"], schemes["ingestKey"]["name"]) == ("header", "X-API-Key")
    assert schema["paths"]["/api/v1/events"]["post"]["security"] == [{"ingestKey": []}]
    assert schema["paths"]["/v1/track"]["post"]["security"] == [{"segmentWriteKey": []}]
    body = schema["components"]["schemas"]["IngestBody"]["oneOf"]
    assert body == [{"$ref": "#/components/schemas/IngestEvent"}, {"$ref": "#/components/schemas/IngestBatch"}]
    accepted = schema["paths"]["/api/v1/events"]["post"]["responses"]["202"]["content"]["application/json"]["schema"]
    assert accepted == {"$ref": "#/components/schemas/IngestAccepted"}
    assert set(schema["components"]["schemas"]["IngestAccepted"]["properties"]) == {"accepted", "event_ids", "errors"}


def test_read_apis_take_a_personal_key_as_bearer(client):
    schema = schema_of(client)
    bearer = [name for name, s in schema["components"]["securitySchemes"].items() if (s["type"], s.get("scheme")) == ("http", "bearer")]
    assert bearer == ["personalApiKey"]
    reads = [(path, operation) for path, item in schema["paths"].items() if path.startswith("/api/v1/projects/") for operation in item.values()]
    assert len(reads) >= 9
    for path, operation in reads:
        assert {"personalApiKey": []} in operation["security"], path


def test_ingest_answers_are_the_documented_ones(wsgi_schema, member):
    """Real requests to each kind of door, accepted and refused: the answers conform to the
    schema (status documented, body of the documented shape)."""
    key = member.project.api_key
    basic = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    checks = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
    cases = [
        ("/api/v1/events", {"event": "signed_up", "distinct_id": "u1"}, {"X-API-Key": key}, 202),
        ("/api/v1/events", {"events": [{"event": "signed_up", "distinct_id": "u1"}, {"event": ""}]}, {"X-API-Key": key}, 202),
        ("/api/v1/events", {"events": [{"event": ""}]}, {"X-API-Key": key}, 400),
        ("/api/v1/events", {"event": "signed_up", "distinct_id": "u1"}, {"X-API-Key": "pb_wrong"}, 401),
        ("/batch/", {"api_key": key, "batch": [{"event": "clicked", "distinct_id": "u1"}]}, {}, 200),
        ("/e/", {"token": "pb_wrong", "event": "clicked", "distinct_id": "u1"}, {}, 401),
        ("/v1/track", {"userId": "u1", "event": "Order Completed"}, {"Authorization": basic}, 200),
        ("/v1/batch", {"batch": [{"type": "identify", "userId": "u1"}]}, {"Authorization": basic}, 200),
        ("/v1/page", {"userId": "u1"}, {"Authorization": "Basic " + base64.b64encode(b"pb_wrong:").decode()}, 401),
    ]
    for path, body, headers, status in cases:
        case = wsgi_schema[path]["POST"].Case(body=body, headers=headers, media_type="application/json")
        response = case.call_and_validate(checks=checks)
        assert response.status_code == status, (path, body, response.text)
