"""Rate limits against the real PostHog and Segment Python libraries, pointed at a live
PulseBoard: they get 429 with Retry-After, wait, retry, and in the end every event is
stored exactly once."""

from __future__ import annotations

import logging

import pytest
from posthog import Posthog
from segment.analytics import Client as SegmentClient

from apps.projects.selectors import project_key_cache_clear
from apps.projects.services import project_ingest_guards_update, server_key_create
from conftest import MembershipFactory
from pulseboard import clickhouse

pytestmark = pytest.mark.django_db(transaction=True)


def stored(project_id: int) -> tuple[int, int]:
    """(events, distinct event ids) stored for the project."""
    row = clickhouse.query(
        "SELECT count(), uniqExact(event_id) FROM events WHERE project_id = {p:UInt64}", {"p": project_id}
    ).rows[0]
    return int(row[0]), int(row[1])


@pytest.fixture
def project(db):
    project_key_cache_clear()
    project = MembershipFactory().project
    # 10 events a second, at most 20 at once: 60 events take about 4 s to get through.
    project_ingest_guards_update(project=project, rate_per_second=10, burst=20, daily_quota=None, allowed_origins=[], require_server_key=False)
    yield project
    project_key_cache_clear()


@pytest.fixture
def refusals(caplog):
    """How many ingest requests the live server answered 429."""
    caplog.set_level(logging.WARNING, logger="django.request")
    return lambda: sum(1 for record in caplog.records if record.name == "django.request" and "Too Many Requests" in record.getMessage())


def test_posthog_python_retries_after_429_and_delivers_every_event_once(project, live_server, flush_stream, refusals):
    errors: list = []
    client = Posthog(
        project.api_key, host=live_server.url, flush_at=20, flush_interval=0.05, max_retries=8, on_error=lambda e, batch: errors.append(e)
    )
    ids = {client.capture("clicked", distinct_id=f"user-{i % 5}", properties={"n": i}) for i in range(60)}
    client.flush()
    client.shutdown()
    assert errors == []
    assert refusals() >= 1  # it was limited, and waited
    flush_stream()
    assert stored(project.id) == (60, 60)
    assert len(ids) == 60


def test_segment_retries_after_429_and_delivers_every_event_once(project, live_server, flush_stream, refusals):
    errors: list = []
    client = SegmentClient(
        project.api_key, host=live_server.url, upload_size=20, max_retries=8, on_error=lambda e, batch: errors.append(e)
    )
    for i in range(60):
        client.track(user_id=f"user-{i % 5}", event="Clicked", properties={"n": i})
    client.flush()
    client.join()
    assert errors == []
    assert refusals() >= 1
    flush_stream()
    assert stored(project.id) == (60, 60)


def test_posthog_python_with_a_server_key_has_a_bucket_of_its_own(project, live_server, flush_stream, refusals):
    secret = server_key_create(project=project, label="backend").secret
    public = Posthog(project.api_key, host=live_server.url, sync_mode=True, max_retries=0)
    server = Posthog(secret, host=live_server.url, sync_mode=True, max_retries=0)
    for i in range(20):  # one event per request: each key's burst, exactly
        public.capture("from_browser", distinct_id="a", properties={"n": i})
        server.capture("from_server", distinct_id="b", properties={"n": i})
    assert refusals() == 0
    flush_stream()
    assert stored(project.id) == (40, 40)


def test_a_batch_larger_than_the_burst_is_413_and_the_client_gives_up(project, live_server, flush_stream):
    errors: list = []
    client = Posthog(project.api_key, host=live_server.url, flush_at=30, max_retries=3, on_error=lambda e, batch: errors.append(e))
    for i in range(30):
        client.capture("clicked", distinct_id="a", properties={"n": i})
    client.flush()
    client.shutdown()
    assert [getattr(e, "status", None) for e in errors] == [413]  # not retried: it could never pass
    flush_stream()
    assert stored(project.id) == (0, 0)
