"""Idempotency keys: a request whose process died does not block its key for good."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from apps.ingest.models import IngestRequest
from conftest import flush

ROOT = Path(__file__).resolve().parents[3]
BODY = {"events": [{"event": "paid", "distinct_id": "u1"}, {"event": "paid", "distinct_id": "u2"}]}

# Posts BODY with an idempotency key through the production ingest view, in a process of its own.
CLIENT = """
import json, os, django
django.setup()
from django.test import Client
Client().post("/api/v1/events", data=os.environ["BODY"], content_type="application/json",
              HTTP_X_API_KEY=os.environ["KEY"], HTTP_IDEMPOTENCY_KEY="order-99")
"""


@pytest.fixture
def silent_redis():
    """A TCP server that takes connections and never answers: a request appending to it hangs."""
    listener = socket.create_server(("127.0.0.1", 0))
    held = []

    def accept():
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    listener.close()
    for conn in held:
        conn.close()


@pytest.mark.slow
def test_a_request_killed_mid_way_does_not_block_its_key(transactional_db, member, ingest_client, send, count_stored, silent_redis):
    import json

    db = settings.DATABASES["default"]
    env = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "pulseboard.settings",
        "PULSEBOARD_DEPLOYMENT": "server",
        "SECRET_KEY": "test-only",
        "ALLOWED_HOSTS": "testserver",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}",
        "REDIS_URL": silent_redis,
        "REDIS_KEY_PREFIX": settings.REDIS_KEY_PREFIX,
        "CLICKHOUSE_URL": "clickhouse://127.0.0.1:1/unused",
        "BODY": json.dumps(BODY),
        "KEY": member.project.api_key,
    }
    process = subprocess.Popen([sys.executable, "-c", CLIENT], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not IngestRequest.objects.filter(project=member.project, idempotency_key="order-99").exists():
            assert process.poll() is None and time.monotonic() < deadline, "the client never reserved its key"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)  # dies between reserving the key and answering
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert IngestRequest.objects.get(project=member.project, idempotency_key="order-99").response is None

    # Within the lease, a retry is told the request is still in progress.
    retry = send(ingest_client, member.project.api_key, BODY, HTTP_IDEMPOTENCY_KEY="order-99")
    assert retry.status_code == 409 and retry.json()["error"] == "in_progress"

    # After it, the next retry takes the key over and the events are stored, once.
    settings.INGEST_IDEMPOTENCY_LEASE_SECONDS = 0
    retry = send(ingest_client, member.project.api_key, BODY, HTTP_IDEMPOTENCY_KEY="order-99")
    assert retry.status_code == 202 and retry.json()["accepted"] == 2
    flush()
    assert count_stored(member.project.id) == 2
    replay = send(ingest_client, member.project.api_key, BODY, HTTP_IDEMPOTENCY_KEY="order-99")
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate"


def test_a_takeover_after_the_events_were_appended_stores_them_once(db, member, ingest_client, send, count_stored, settings):
    """The process may die after appending the events and before saving the answer: the
    retry derives the same event ids from the key, and the stream skips them."""
    first = send(ingest_client, member.project.api_key, BODY, HTTP_IDEMPOTENCY_KEY="order-100")
    assert first.status_code == 202
    IngestRequest.objects.filter(project=member.project, idempotency_key="order-100").update(response=None)
    settings.INGEST_IDEMPOTENCY_LEASE_SECONDS = 0
    retry = send(ingest_client, member.project.api_key, BODY, HTTP_IDEMPOTENCY_KEY="order-100")
    assert retry.status_code == 202
    assert retry.json()["event_ids"] == first.json()["event_ids"]
    flush()
    assert count_stored(member.project.id) == 2


def test_generated_ids_differ_between_keys_and_requests_without_one(db, member, ingest_client, send):
    a = send(ingest_client, member.project.api_key, BODY, HTTP_IDEMPOTENCY_KEY="k-a").json()["event_ids"]
    b = send(ingest_client, member.project.api_key, BODY, HTTP_IDEMPOTENCY_KEY="k-b").json()["event_ids"]
    c = send(ingest_client, member.project.api_key, BODY).json()["event_ids"]
    d = send(ingest_client, member.project.api_key, BODY).json()["event_ids"]
    assert len(set(a + b + c + d)) == 8
