import pytest
import yaml

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
