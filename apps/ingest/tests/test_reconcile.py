"""The rollup reconciler: drift in any rollup is found, reported and repaired."""

import threading
import time
from datetime import datetime, timedelta, timezone
from io import StringIO

import pytest
from django.core.management import call_command

from apps.ingest import stream
from apps.ingest.models import ReconcileRun
from apps.ingest.reconcile import ROLLUPS, reconcile_run, rollups_check
from apps.ingest.tasks import reconcile_rollups
from conftest import flush
from pulseboard import clickhouse

pytestmark = pytest.mark.django_db


def traffic(client, send, project, hours: int = 30) -> int:
    """Events over the last ``hours`` hours, several people, sessions and names."""
    now = datetime.now(timezone.utc)
    events = [
        {
            "event": ["view", "click", "buy"][i % 3],
            "distinct_id": f"p{i % 7}",
            "session_id": f"s{i % 5}",
            "timestamp": (now - timedelta(hours=i % hours, minutes=i % 60)).isoformat(),
        }
        for i in range(200)
    ]
    assert send(client, project.api_key, {"events": events}).status_code == 202
    flush()
    return len(events)


def figures(project_id: int) -> tuple:
    p = {"p": project_id}
    return (
        clickhouse.query("SELECT sum(events) FROM event_counts_15m WHERE project_id = {p:UInt64}", p).scalar(),
        clickhouse.query("SELECT uniqExact(slot, event, person_key) FROM person_slots_15m WHERE project_id = {p:UInt64}", p).scalar(),
        clickhouse.query("SELECT uniqExact(day, person_key) FROM person_days WHERE project_id = {p:UInt64}", p).scalar(),
        clickhouse.query("SELECT uniqExact(event_id) FROM funnel_events WHERE project_id = {p:UInt64}", p).scalar(),
        clickhouse.query("SELECT sum(events), sum(pageviews) FROM session_parts_15m WHERE project_id = {p:UInt64}", p).rows[0],
    )


def damage(project_id: int) -> None:
    """Drift of every kind: rows missing from rollups, and rows too many."""
    p = {"p": project_id}
    hour = clickhouse.query("SELECT max(slot) FROM event_counts_15m WHERE project_id = {p:UInt64}", p).scalar()
    clickhouse.command("DELETE FROM event_counts_15m WHERE project_id = {p:UInt64} AND slot = {s:DateTime64(3, 'UTC')}", {**p, "s": hour})
    clickhouse.command(
        "INSERT INTO event_counts_15m SETTINGS insert_deduplicate = 0 VALUES ({p:UInt64}, {s:DateTime64(3, 'UTC')}, 'view', 5)", {**p, "s": hour}
    )
    clickhouse.command("DELETE FROM person_slots_15m WHERE project_id = {p:UInt64} AND event = 'click'", p)
    clickhouse.command("DELETE FROM person_days WHERE project_id = {p:UInt64}", p)
    clickhouse.command(
        "INSERT INTO person_event_days SETTINGS insert_deduplicate = 0 VALUES ({p:UInt64}, 'ghost', today(), 42, 1, 0)", p
    )
    clickhouse.command("DELETE FROM funnel_events WHERE project_id = {p:UInt64} AND event = 'buy'", p)
    clickhouse.command("DELETE FROM session_slots_15m WHERE project_id = {p:UInt64}", p)
    clickhouse.command("DELETE FROM session_parts_15m WHERE project_id = {p:UInt64} AND session_key = cityHash64('s1')", p)


def test_a_consistent_project_has_no_drift(member, ingest_client, send):
    traffic(ingest_client, send, member.project)
    report = rollups_check(project_ids=[member.project.id])
    assert report.drift == [] and report.repaired == 0
    assert report.buckets > 0


def test_drift_in_every_rollup_is_found_and_repaired(member, ingest_client, send):
    events = traffic(ingest_client, send, member.project)
    healthy = figures(member.project.id)
    assert healthy[0] == events and healthy[3] == events and healthy[4] == (events, 0)
    damage(member.project.id)
    assert figures(member.project.id) != healthy

    report = rollups_check(project_ids=[member.project.id])
    assert {d.table for d in report.drift} == {r.table for r in ROLLUPS}
    assert report.repaired == len(report.drift)
    assert figures(member.project.id) == healthy
    assert rollups_check(project_ids=[member.project.id], repair=False).drift == []


def test_check_only_reports_and_repairs_nothing(member, ingest_client, send):
    traffic(ingest_client, send, member.project)
    damage(member.project.id)
    damaged = figures(member.project.id)
    report = rollups_check(project_ids=[member.project.id], repair=False)
    assert report.drift and report.repaired == 0
    assert figures(member.project.id) == damaged


def test_other_projects_are_left_alone(member, ingest_client, send):
    from conftest import ProjectFactory

    other = ProjectFactory()
    traffic(ingest_client, send, member.project)
    traffic(ingest_client, send, other)
    damage(other.id)
    mine = figures(member.project.id)
    assert rollups_check(project_ids=[member.project.id]).drift == []
    assert figures(member.project.id) == mine
    assert rollups_check(project_ids=[other.id], repair=False).drift


def test_the_repair_waits_for_batches_being_written(member, ingest_client, send):
    """A batch half-way through its views must not be taken for drift and 'repaired' twice:
    the repair takes the write lock alone, and waits for writers to finish."""
    traffic(ingest_client, send, member.project)
    damage(member.project.id)
    entered = threading.Event()
    leave = threading.Event()

    def writer():
        with stream.writer_lease():
            entered.set()
            leave.wait(timeout=30)

    thread = threading.Thread(target=writer)
    thread.start()
    entered.wait(timeout=10)
    repaired_at: list[float] = []

    def repair():
        rollups_check(project_ids=[member.project.id])
        repaired_at.append(time.monotonic())

    repairer = threading.Thread(target=repair)
    repairer.start()
    time.sleep(0.5)
    assert repaired_at == []  # still waiting for the writer
    released = time.monotonic()
    leave.set()
    thread.join(timeout=10)
    repairer.join(timeout=60)
    assert repaired_at and repaired_at[0] >= released
    # and while it holds the lock, a writer waits in turn
    with stream.writers_excluded():
        with pytest.raises(stream.WriteLockBusy):
            with stream.writer_lease(wait_seconds=0.2):
                pass


def test_a_run_is_recorded_and_reported_by_health(client, member, ingest_client, send):
    traffic(ingest_client, send, member.project)
    damage(member.project.id)
    run = reconcile_run(project_id=member.project.id)
    assert run.status == ReconcileRun.Status.DONE
    assert run.drift == run.repaired > 0
    assert run.details[0]["project_id"] == member.project.id
    report = client.get("/healthz").json()["reconcile"]
    assert report["run"] == run.id and report["drift"] == run.drift and report["repaired"] == run.repaired


def test_the_nightly_task_reconciles_every_project(member, ingest_client, send):
    traffic(ingest_client, send, member.project)
    damage(member.project.id)
    reconcile_rollups.apply()
    run = ReconcileRun.objects.first()
    assert run.project_id is None and run.status == ReconcileRun.Status.DONE and run.repaired > 0
    assert rollups_check(project_ids=[member.project.id], repair=False).drift == []


def test_the_command_reports_drift_and_repairs_it(member, ingest_client, send):
    traffic(ingest_client, send, member.project)
    damage(member.project.id)
    out = StringIO()
    call_command("reconcile", "--project", str(member.project.id), "--check", stdout=out, verbosity=0)
    assert "drifting" in out.getvalue() and "repaired" not in out.getvalue()
    out = StringIO()
    call_command("reconcile", "--project", str(member.project.id), stdout=out, verbosity=0)
    assert "repaired" in out.getvalue()
    assert rollups_check(project_ids=[member.project.id], repair=False).drift == []
