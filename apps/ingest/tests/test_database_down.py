"""Postgres down on the ingest path: every door answers 503 with Retry-After, which clients
retry, never a 500, and accepts nothing; once it is back the same request is accepted."""

from __future__ import annotations

import base64
import socket

import pytest
from django.db import connections

from apps.ingest import stream
from apps.projects.selectors import project_key_cache_clear


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stream_events(project_id: int) -> int:
    return sum(int(fields[b"n"]) for _, fields in stream.client().xrange(stream.stream_key()) if int(fields[b"p"]) == project_id)


def requests(ingest_client, key: str):
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    return {
        "native": lambda: ingest_client.post("/api/v1/events", {"events": [{"event": "e", "distinct_id": "u"}]}, format="json", HTTP_X_API_KEY=key),
        "posthog": lambda: ingest_client.post("/batch/", {"api_key": key, "batch": [{"event": "e", "distinct_id": "u"}]}, format="json"),
        "segment": lambda: ingest_client.post("/v1/batch", {"batch": [{"type": "track", "event": "e", "userId": "u"}]}, format="json", HTTP_AUTHORIZATION=auth),
    }


@pytest.mark.django_db(transaction=True)
def test_postgres_down_is_503_on_every_door_and_accepts_nothing(member, ingest_client):
    project_key_cache_clear()  # the key must be looked up in Postgres
    doors = requests(ingest_client, member.project.api_key)
    database = connections["default"]
    port = database.settings_dict["PORT"]
    database.close()
    database.settings_dict["PORT"] = str(unused_port())
    try:
        for name, send in doors.items():
            response = send()
            assert response.status_code == 503, (name, response.content)
            assert response["Retry-After"] == "5"
            assert "database is unreachable" in response.content.decode()
    finally:
        database.close()
        database.settings_dict["PORT"] = port
    assert stream_events(member.project.id) == 0
    assert [send().status_code for send in doors.values()] == [202, 200, 200]
    assert stream_events(member.project.id) == 3
