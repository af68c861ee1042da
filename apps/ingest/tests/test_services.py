"""The batch writer: stream → ONE ClickHouse insert per batch → ack, exactly once."""

import uuid
from datetime import datetime, timezone

import pytest

from apps.ingest import stream
from apps.ingest.models import EventDefinition
from apps.ingest.services import batch_write
from apps.ingest.tasks import flush_events
from conftest import flush
from pulseboard import clickhouse

pytestmark = pytest.mark.django_db


def inserts_so_far() -> int:
    """ClickHouse gives every INSERT a new block number: the highest one counts inserts."""
    return clickhouse.query(
        "SELECT max(max_block_number) FROM system.parts WHERE database = currentDatabase() AND table = 'events'"
    ).scalar()


def send_requests(client, send, project, requests: int, per_request: int) -> list[str]:
    ids = []
    for r in range(requests):
        events = [{"event": f"step_{i % 3}", "distinct_id": f"user-{r}-{i}"} for i in range(per_request)]
        response = send(client, project.api_key, {"events": events})
        assert response.status_code == 202
        ids += response.json()["event_ids"]
    return ids


def test_a_flush_writes_all_pending_requests_in_one_insert(member, ingest_client, send, count_stored):
    send_requests(ingest_client, send, member.project, requests=4, per_request=25)
    before = inserts_so_far()
    stats = flush()
    assert (stats.events_written, stats.batches, stats.entries_acked) == (100, 1, 4)
    assert inserts_so_far() - before == 1
    assert count_stored(member.project.id) == 100
    assert stream.stream_backlog().entries == 0


def test_batches_are_bounded_by_event_count(member, ingest_client, send, count_stored):
    send_requests(ingest_client, send, member.project, requests=5, per_request=2)
    before = inserts_so_far()
    stats = flush(max_events=4)
    assert stats.batches == 3
    assert inserts_so_far() - before == 3
    assert count_stored(member.project.id) == 10


def test_batches_are_bounded_by_bytes(member, ingest_client, send, count_stored):
    send_requests(ingest_client, send, member.project, requests=3, per_request=5)
    stats = flush(max_bytes=1)  # every entry exceeds it: one entry per insert, none skipped
    assert stats.batches == 3
    assert count_stored(member.project.id) == 15


def test_crash_after_insert_before_ack_is_written_exactly_once(member, ingest_client, send, count_stored):
    ids = send_requests(ingest_client, send, member.project, requests=3, per_request=10)
    stream.group_ensure()
    # A worker reads all three entries, inserts the first two, and dies before acking.
    taken = stream.stream_read(consumer="doomed-worker", count=100, claim_idle_ms=60_000)
    assert len(taken) == 3
    batch_write(taken[:2])
    assert count_stored(member.project.id) == 20

    # A live worker reclaims the dead one's entries once they have been idle long enough.
    stats = flush(consumer="survivor", claim_idle_ms=0)
    assert stats.entries_acked == 3
    assert (stats.events_written, stats.duplicates_skipped) == (10, 20)
    assert count_stored(member.project.id) == 30
    stored = clickhouse.query("SELECT toString(event_id) FROM events WHERE project_id = {p:UInt64}", {"p": member.project.id})
    assert sorted(r[0] for r in stored.rows) == sorted(ids)
    assert stream.stream_backlog().entries == 0
    assert EventDefinition.objects.get(project=member.project, name="step_0").count == 12


def test_live_worker_does_not_steal_entries_before_they_are_idle(member, ingest_client, send, count_stored):
    send_requests(ingest_client, send, member.project, requests=1, per_request=5)
    stream.group_ensure()
    stream.stream_read(consumer="busy-worker", count=100, claim_idle_ms=60_000)
    assert flush(consumer="other", claim_idle_ms=60_000).entries_acked == 0
    assert count_stored(member.project.id) == 0


def test_clickhouse_outage_keeps_events_in_the_stream_until_it_returns(member, ingest_client, send, count_stored):
    send_requests(ingest_client, send, member.project, requests=2, per_request=5)
    clickhouse.command("RENAME TABLE events TO events_offline")
    try:
        with pytest.raises(clickhouse.ClickHouseError):
            flush()
        assert stream.stream_backlog().entries == 2
        # ingest keeps accepting while ClickHouse is away
        send_requests(ingest_client, send, member.project, requests=1, per_request=5)
    finally:
        clickhouse.command("RENAME TABLE events_offline TO events")
    stats = flush()
    assert stats.entries_acked == 3
    assert count_stored(member.project.id) == 15
    assert stream.stream_backlog().entries == 0


def test_catalog_counts_names_with_first_and_last_seen(member, ingest_client, send):
    events = [
        {"event": "viewed", "distinct_id": "a", "timestamp": "2026-11-01T10:00:00Z"},
        {"event": "viewed", "distinct_id": "b", "timestamp": "2026-11-03T10:00:00Z"},
        {"event": "bought", "distinct_id": "a", "timestamp": "2026-11-02T10:00:00Z"},
    ]
    send(ingest_client, member.project.api_key, {"events": events})
    flush()
    send(ingest_client, member.project.api_key, {"event": "viewed", "distinct_id": "c", "timestamp": "2026-10-30T08:00:00Z"})
    flush()
    viewed = EventDefinition.objects.get(project=member.project, name="viewed")
    assert viewed.count == 3
    assert viewed.first_seen == datetime(2026, 10, 30, 8, tzinfo=timezone.utc)
    assert viewed.last_seen == datetime(2026, 11, 3, 10, tzinfo=timezone.utc)
    assert EventDefinition.objects.get(project=member.project, name="bought").count == 1


def test_catalog_does_not_count_duplicate_event_ids(member, ingest_client, send):
    event = {"event": "once", "distinct_id": "a", "event_id": str(uuid.uuid4())}
    send(ingest_client, member.project.api_key, {"events": [event, {"event": "once", "distinct_id": "b"}]})
    send(ingest_client, member.project.api_key, event)
    flush()
    assert EventDefinition.objects.get(project=member.project, name="once").count == 2


def test_the_celery_task_drains_the_stream(member, ingest_client, send, count_stored):
    send_requests(ingest_client, send, member.project, requests=2, per_request=3)
    result = flush_events.apply().get()
    assert result["events_written"] == 6
    assert count_stored(member.project.id) == 6
