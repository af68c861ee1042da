import pytest

from apps.ingest import stream

pytestmark = pytest.mark.django_db


def test_healthz_reports_each_component_and_the_backlog(client, member, send, ingest_client):
    send(ingest_client, member.project.api_key, {"event": "e", "distinct_id": "d"})
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert {name: c["ok"] for name, c in body["components"].items()} == {"db": True, "redis": True, "clickhouse": True}
    assert body["components"]["clickhouse"]["backend"] == "chdb"
    assert body["stream"]["pending"] == 1
    assert body["stream"]["oldest_age_seconds"] >= 0


def test_healthz_is_503_when_redis_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["components"]["redis"]["ok"] is False
    assert body["components"]["db"]["ok"] is True


def test_livez_is_trivial(client):
    assert client.get("/livez").json() == {"status": "ok"}


def test_stream_backlog_is_empty_without_events():
    assert stream.stream_backlog().entries == 0
