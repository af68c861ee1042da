"""The batch writer: stream → ClickHouse → settle, exactly once in every table."""

import threading
import uuid
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from apps.ingest import hooks, stream
from apps.ingest.models import EventDefinition
from apps.ingest.reconcile import rollups_check
from apps.ingest.selectors import event_names_by_volume
from apps.ingest.services import MAX_PARTITIONS_PER_INSERT, batch_write, batches_plan
from apps.ingest.tasks import flush_events
from conftest import ProjectFactory, flush
from pulseboard import clickhouse

pytestmark = pytest.mark.django_db


def inserts_so_far() -> int:
    """ClickHouse gives every INSERT a new block number: the highest one counts inserts.
    Mutations (the migrations that add a column to events) take numbers too, so the count
    starts from theirs when no insert has come since."""
    return clickhouse.query(
        """SELECT greatest(
               (SELECT toUInt64(max(max_block_number)) FROM system.parts WHERE database = currentDatabase() AND table = 'events'),
               (SELECT max(toUInt64OrZero(extract(mutation_id, '([0-9]+)'))) FROM system.mutations
                WHERE database = currentDatabase() AND table = 'events'))"""
    ).scalar()


def send_requests(client, send, project, requests: int, per_request: int) -> list[str]:
    ids = []
    for r in range(requests):
        events = [{"event": f"step_{i % 3}", "distinct_id": f"user-{r}-{i}", "session_id": f"s-{r}"} for i in range(per_request)]
        response = send(client, project.api_key, {"events": events})
        assert response.status_code == 202
        ids += response.json()["event_ids"]
    return ids


def stored_ids(project_id: int) -> list[str]:
    result = clickhouse.query("SELECT toString(event_id) FROM events WHERE project_id = {p:UInt64}", {"p": project_id})
    return sorted(row[0] for row in result.rows)


def rollup_rows(project_id: int) -> dict[str, int]:
    """What each rollup holds for the project: events counted, or distinct keys."""
    p = {"p": project_id}
    return {
        "event_counts_15m": clickhouse.query("SELECT sum(events) FROM event_counts_15m WHERE project_id = {p:UInt64}", p).scalar(),
        "person_slots_15m": clickhouse.query(
            "SELECT count() FROM (SELECT DISTINCT slot, event, person_key FROM person_slots_15m WHERE project_id = {p:UInt64})", p
        ).scalar(),
        "funnel_events": clickhouse.query("SELECT uniqExact(event_id) FROM funnel_events WHERE project_id = {p:UInt64}", p).scalar(),
        "session_parts_15m": clickhouse.query("SELECT sum(events) FROM session_parts_15m WHERE project_id = {p:UInt64}", p).scalar(),
        "person_days": clickhouse.query(
            "SELECT count() FROM (SELECT DISTINCT day, person_key FROM person_days WHERE project_id = {p:UInt64})", p
        ).scalar(),
    }


def assert_every_table_agrees(project_id: int, events: int, persons: int) -> None:
    """events holds each event once, and every rollup holds exactly what events implies."""
    assert clickhouse.query("SELECT count(), uniqExact(event_id) FROM events WHERE project_id = {p:UInt64}", {"p": project_id}).rows[
        0
    ] == (events, events)
    held = rollup_rows(project_id)
    assert held["event_counts_15m"] == events
    assert held["funnel_events"] == events
    with_session = clickhouse.query("SELECT countIf(session_id != '') FROM events WHERE project_id = {p:UInt64}", {"p": project_id}).scalar()
    assert held["session_parts_15m"] == with_session
    assert held["person_days"] >= persons > 0
    assert rollups_check(project_ids=[project_id], repair=False).drift == []


def test_a_flush_writes_all_pending_requests_in_one_insert(member, ingest_client, send, count_stored):
    send_requests(ingest_client, send, member.project, requests=4, per_request=25)
    before = inserts_so_far()
    stats = flush()
    assert (stats.events_written, stats.batches, stats.entries_acked) == (100, 1, 4)
    assert inserts_so_far() - before == 1
    assert count_stored(member.project.id) == 100
    assert stream.stream_backlog().entries == 0
    assert_every_table_agrees(member.project.id, events=100, persons=100)


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


def test_crash_after_insert_before_settle_is_written_exactly_once_in_every_table(member, ingest_client, send):
    ids = send_requests(ingest_client, send, member.project, requests=3, per_request=10)
    stream.group_ensure()
    # A worker reads the three entries, plans two batches, writes the first, and dies
    # before settling it.
    taken = stream.stream_read(consumer="doomed-worker", count=100, claim_idle_ms=60_000)
    planned = batches_plan(taken, max_events=20, max_bytes=10**9)
    assert [len(b.entries) for b in planned] == [2, 1]
    batch_write(planned[0])
    assert len(stored_ids(member.project.id)) == 20

    # A live worker reclaims the dead one's entries once they have been idle long enough,
    # rebuilds the same two batches from their manifests, and writes them again.
    stats = flush(consumer="survivor", claim_idle_ms=0)
    assert (stats.entries_acked, stats.batches) == (3, 2)
    assert stored_ids(member.project.id) == sorted(ids)
    assert stream.stream_backlog().entries == 0
    assert_every_table_agrees(member.project.id, events=30, persons=30)


def test_a_batch_reclaimed_in_pieces_is_still_written_as_recorded(member, ingest_client, send):
    """Another worker may reclaim only some entries of a dead worker's batch: it fetches the
    rest, so the repeated insert is the same as the first and nothing is counted twice."""
    send_requests(ingest_client, send, member.project, requests=4, per_request=5)
    stream.group_ensure()
    taken = stream.stream_read(consumer="doomed-worker", count=100, claim_idle_ms=60_000)
    (batch,) = batches_plan(taken, max_events=1000, max_bytes=10**9)
    batch_write(batch)
    stats = flush(consumer="survivor", claim_idle_ms=0, read_count=1)
    assert stats.entries_acked == 4
    assert_every_table_agrees(member.project.id, events=20, persons=20)


def test_a_batch_whose_manifest_lost_a_member_is_checked_and_written_once(member, ingest_client, send):
    """If an entry of a recorded batch is gone (deleted by hand), the rest is no longer that
    batch: it is checked against ClickHouse and only what is missing is written."""
    ids = send_requests(ingest_client, send, member.project, requests=3, per_request=4)
    stream.group_ensure()
    taken = stream.stream_read(consumer="doomed-worker", count=100, claim_idle_ms=60_000)
    (batch,) = batches_plan(taken, max_events=1000, max_bytes=10**9)
    batch_write(batch)
    stream.client().xdel(stream.stream_key(), taken[1].id)
    stats = flush(consumer="survivor", claim_idle_ms=0)
    assert (stats.entries_acked, stats.duplicates_skipped) == (2, 8)
    assert stored_ids(member.project.id) == sorted(ids)
    assert stream.stream_backlog().entries == 0


@pytest.fixture
def failing_view():
    """A materialised view on events that fails, like a rollup's insert cut short after
    events took the rows (a crash, memory running out), while ``fail`` is set."""
    clickhouse.command("CREATE TABLE IF NOT EXISTS test_fail_flag (x UInt8) ENGINE = Memory")
    clickhouse.command("CREATE TABLE IF NOT EXISTS test_fail_sink (x UInt8) ENGINE = Memory")
    clickhouse.command(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS aaa_test_fail_mv TO test_fail_sink AS "
        "SELECT throwIf((SELECT count() FROM test_fail_flag) > 0, 'simulated: memory limit exceeded', toInt32(241)) AS x "
        "FROM events SETTINGS allow_custom_error_code_in_throwif = 1"
    )

    class Switch:
        def fail(self, on: bool) -> None:
            clickhouse.command("TRUNCATE TABLE test_fail_flag")
            if on:
                clickhouse.command("INSERT INTO test_fail_flag VALUES (1)")

    yield Switch()
    clickhouse.command("DROP VIEW IF EXISTS aaa_test_fail_mv")
    clickhouse.command("DROP TABLE IF EXISTS test_fail_flag")
    clickhouse.command("DROP TABLE IF EXISTS test_fail_sink")


def test_an_insert_cut_short_after_events_leaves_no_rollup_short(member, ingest_client, send, failing_view):
    send_requests(ingest_client, send, member.project, requests=3, per_request=10)
    failing_view.fail(True)
    with pytest.raises(clickhouse.ClickHouseError) as failure:
        flush()
    assert failure.value.transient
    # events took the rows; the views processed after the failing one did not.
    assert len(stored_ids(member.project.id)) == 30
    short = {d.table for d in rollups_check(project_ids=[member.project.id], repair=False).drift}
    assert short
    assert stream.stream_backlog().entries == 3

    failing_view.fail(False)
    stats = flush()
    assert stats.entries_acked == 3
    assert_every_table_agrees(member.project.id, events=30, persons=30)


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
        with pytest.raises(clickhouse.ClickHouseError) as failure:
            flush()
        assert failure.value.transient
        assert stream.stream_backlog().entries == 2
        assert stream.deadletter_count() == 0  # an outage is not the rows' fault
        # ingest keeps accepting while ClickHouse is away
        send_requests(ingest_client, send, member.project, requests=1, per_request=5)
    finally:
        clickhouse.command("RENAME TABLE events_offline TO events")
    stats = flush()
    assert stats.entries_acked == 3
    assert count_stored(member.project.id) == 15
    assert stream.stream_backlog().entries == 0


def _row(project_id: int, *, timestamp: str, event: str = "e", distinct_id: str = "d") -> dict:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.000")
    return {
        "project_id": project_id,
        "event_id": str(uuid.uuid4()),
        "event": event,
        "timestamp": timestamp,
        "distinct_id": distinct_id,
        "user_id": "",
        "anonymous_id": "",
        "session_id": "",
        "source": "",
        "page_url": "",
        "referrer": "",
        "user_agent": "",
        "ip_hash": "",
        "properties": "{}",
        "received_at": now,
    }


@pytest.fixture
def partitions_of_its_own_dropped(member):
    """Drop, after the test, the partitions that hold only the test project's rows: it writes
    150 months, and each later DELETE of the suite (person deletion, rollup rebuilds) works
    through every part of its table."""
    yield
    tables = clickhouse.query(
        "SELECT DISTINCT table FROM system.columns WHERE database = currentDatabase() AND name = 'project_id'"
        " AND table IN (SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree')"
    ).rows
    for (table,) in tables:
        partitions = clickhouse.query(
            f"SELECT _partition_id FROM {table} GROUP BY _partition_id HAVING min(project_id) = max(project_id) AND any(project_id) = {{p:UInt64}}",
            {"p": member.project.id},
        ).rows
        for (partition,) in partitions:
            clickhouse.command(f"ALTER TABLE {table} DROP PARTITION ID '{partition}'")


def test_events_over_more_months_than_one_insert_takes_are_all_stored(member, ingest_client, send, settings, partitions_of_its_own_dropped):
    """150 events over 150 months in one request, beside 3,000 events of another project:
    ClickHouse refuses an insert over more than 100 partitions, so the flush cuts the batch
    by month, and every event of both projects is stored."""
    settings.INGEST_MAX_PAST_DAYS = 5000
    now = datetime.now(timezone.utc)
    spread = [
        {"event": "old", "distinct_id": f"u{m}", "timestamp": (now - timedelta(days=31 * m)).isoformat()} for m in range(150)
    ]
    assert send(ingest_client, member.project.api_key, {"events": spread}).json()["accepted"] == 150
    other = ProjectFactory()
    for chunk in range(3):
        events = [{"event": "innocent", "distinct_id": f"v{chunk}-{i}"} for i in range(1000)]
        assert send(ingest_client, other.api_key, {"events": events}).json()["accepted"] == 1000
    stats = flush()
    assert (stats.events_written, stats.events_refused) == (3150, 0)
    assert len(stored_ids(member.project.id)) == 150
    assert len(stored_ids(other.id)) == 3000
    assert MAX_PARTITIONS_PER_INSERT == 100
    assert stream.deadletter_count() == 0
    assert_every_table_agrees(member.project.id, events=150, persons=150)


def test_an_insert_error_raises_on_chdb():
    """chdb's streaming insert reported success when the engine refused the rows; the
    backend must raise, with ClickHouse's code, and store nothing."""
    bad = _row(424242, timestamp="not a time")
    with pytest.raises(clickhouse.ClickHouseError) as failure:
        clickhouse.insert_json_each_row("events", list(bad), orjson.dumps(bad))
    assert failure.value.code is not None and not failure.value.transient
    months = [_row(424242, timestamp=f"{2000 + m // 12}-{m % 12 + 1:02d}-01 00:00:00.000") for m in range(150)]
    with pytest.raises(clickhouse.ClickHouseError) as failure:
        clickhouse.insert_json_each_row("events", list(months[0]), b"\n".join(orjson.dumps(r) for r in months))
    assert "partitions" in str(failure.value)
    assert clickhouse.query("SELECT count() FROM events WHERE project_id = 424242").scalar() == 0


def test_refused_rows_go_to_the_dead_letter_stream_and_their_neighbours_are_stored(member, ingest_client, send):
    other = ProjectFactory()
    send_requests(ingest_client, send, member.project, requests=2, per_request=10)
    poison = [_row(other.id, timestamp="2026-13-45 99:99:99.000", event="poison"), _row(other.id, timestamp="garbage", event="poison")]
    good = _row(other.id, timestamp=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.000"), event="fine")
    stream.stream_append(project_id=other.id, rows=[poison[0], good, poison[1]], supplied_ids=[False] * 3, catalog={})
    send_requests(ingest_client, send, member.project, requests=1, per_request=10)

    stats = flush()
    assert (stats.events_written, stats.events_refused, stats.entries_acked) == (31, 2, 4)
    assert len(stored_ids(member.project.id)) == 30
    assert stored_ids(other.id) == [good["event_id"]]
    assert stream.stream_backlog().entries == 0
    letters = stream.deadletters(project_id=other.id)
    assert sorted(letter.row["event_id"] for letter in letters) == sorted(row["event_id"] for row in poison)
    assert all(letter.code is not None and "DB::Exception" in letter.error for letter in letters)
    assert stream.deadletters(project_id=member.project.id) == []
    assert_every_table_agrees(member.project.id, events=30, persons=20)  # the third request reuses the first's ids


def test_dead_letters_are_replayed_once_the_cause_is_fixed(member, ingest_client, send, count_stored):
    """An operator's constraint refuses some events; once it is lifted, a replay stores them."""
    clickhouse.command("ALTER TABLE events ADD CONSTRAINT test_no_forbidden CHECK event != 'forbidden'")
    try:
        events = [{"event": "forbidden", "distinct_id": "a"}, {"event": "allowed", "distinct_id": "b"}]
        send(ingest_client, member.project.api_key, {"events": events})
        stats = flush()
        assert (stats.events_written, stats.events_refused) == (1, 1)
        (letter,) = stream.deadletters(project_id=member.project.id)
        assert "test_no_forbidden" in letter.error
    finally:
        clickhouse.command("ALTER TABLE events DROP CONSTRAINT test_no_forbidden")
    from django.core.management import call_command

    call_command("deadletter", "replay", "--project", str(member.project.id), "--all")
    assert stream.deadletter_count() == 0
    flush()
    assert count_stored(member.project.id) == 2
    assert_every_table_agrees(member.project.id, events=2, persons=2)


def test_a_slow_after_storage_hook_does_not_hold_up_the_flush(member, ingest_client, send, count_stored):
    release = threading.Event()
    heard: list[int] = []

    def slow(stored):
        release.wait(timeout=30)
        heard.append(sum(part.count for part in stored))

    hooks.stored_subscribe(name="test slow", receiver=slow)
    try:
        send_requests(ingest_client, send, member.project, requests=2, per_request=5)
        stats = flush()
        assert stats.events_written == 10 and heard == []  # the flush is done, the hook still waits
        release.set()
        deadline = datetime.now() + timedelta(seconds=30)
        while not heard and datetime.now() < deadline:
            threading.Event().wait(0.05)
        assert heard == [10]
    finally:
        release.set()
        hooks._subscribers.pop("test slow", None)


def test_catalog_keeps_first_and_last_seen_and_counts_come_from_clickhouse(member, ingest_client, send):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    events = [
        {"event": "viewed", "distinct_id": "a", "timestamp": (now - timedelta(days=5)).isoformat()},
        {"event": "viewed", "distinct_id": "b", "timestamp": (now - timedelta(days=3)).isoformat()},
        {"event": "bought", "distinct_id": "a", "timestamp": (now - timedelta(days=4)).isoformat()},
    ]
    send(ingest_client, member.project.api_key, {"events": events})
    flush()
    send(ingest_client, member.project.api_key, {"event": "viewed", "distinct_id": "c", "timestamp": (now - timedelta(days=9)).isoformat()})
    flush()
    viewed = EventDefinition.objects.get(project=member.project, name="viewed")
    assert viewed.first_seen == now - timedelta(days=9)
    assert viewed.last_seen == now - timedelta(days=3)
    assert event_names_by_volume(project_id=member.project.id) == ["viewed", "bought"]


def test_catalog_survives_a_batch_written_twice(member, ingest_client, send):
    """The catalog update is idempotent: a batch written again (its settle was lost) changes nothing."""
    send_requests(ingest_client, send, member.project, requests=1, per_request=6)
    stream.group_ensure()
    taken = stream.stream_read(consumer="doomed-worker", count=100, claim_idle_ms=60_000)
    (batch,) = batches_plan(taken, max_events=1000, max_bytes=10**9)
    batch_write(batch)
    before = list(EventDefinition.objects.filter(project=member.project).values_list("name", "first_seen", "last_seen"))
    flush(consumer="survivor", claim_idle_ms=0)
    after = list(EventDefinition.objects.filter(project=member.project).values_list("name", "first_seen", "last_seen"))
    assert before == after and len(after) == 3


def test_catalog_does_not_count_duplicate_event_ids(member, ingest_client, send):
    event = {"event": "once", "distinct_id": "a", "event_id": str(uuid.uuid4())}
    send(ingest_client, member.project.api_key, {"events": [event, {"event": "once", "distinct_id": "b"}]})
    send(ingest_client, member.project.api_key, event)
    flush()
    assert clickhouse.query(
        "SELECT sum(events) FROM event_counts_15m WHERE project_id = {p:UInt64} AND event = 'once'", {"p": member.project.id}
    ).scalar() == 2


def test_the_celery_task_drains_the_stream_and_reports_to_health(client, member, ingest_client, send, count_stored):
    send_requests(ingest_client, send, member.project, requests=2, per_request=3)
    result = flush_events.apply().get()
    assert result["events_written"] == 6
    assert count_stored(member.project.id) == 6
    flush_report = client.get("/healthz").json()["flush"]
    assert flush_report["last_ok_at"] > 0 and "last_error" not in flush_report
