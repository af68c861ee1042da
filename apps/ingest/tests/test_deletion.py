"""Deleting data: a project, events by name and/or date range, and retention.

Every check walks the tables from ClickHouse's system tables (not a list in the test), so a
table added later is checked too. Consistency is checked against a fresh load: the events
left after a deletion, sent again (same ids, same ingest path) into a new project, must give
every table the very contents the deletion left.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from django.test import Client
from django.urls import reverse

from apps.ingest import deletion, lifecycle, stream
from apps.ingest.deletion import Condition, UnknownTable
from apps.ingest.models import EventDeletion
from apps.ingest.tasks import apply_retention
from apps.projects import selectors as project_selectors
from apps.projects.models import AuditEntry, Membership, Project
from conftest import PASSWORD, MembershipFactory, ProjectFactory, UserFactory, flush, post_events
from pulseboard import clickhouse
from pulseboard.celery import app as celery_app

pytestmark = pytest.mark.django_db

# Columns that legitimately differ between a project and a fresh load of the same events.
DIFFERING = {"events": ("received_at",), "person_overrides": ("version",)}


@pytest.fixture
def tasks_run_at_once():
    """Celery tasks run in the calling thread, as a worker would run them."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def project_tables() -> dict[str, dict[str, str]]:
    """Every MergeTree table with a project_id column, with its columns' types."""
    rows = clickhouse.query(
        "SELECT table, groupArray((name, type)) FROM system.columns WHERE database = currentDatabase() "
        "AND table IN (SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree%') "
        "GROUP BY table HAVING has(groupArray(name), 'project_id')"
    ).rows
    return {table: dict(columns) for table, columns in rows}


def rows_per_table(project_id: int) -> dict[str, int]:
    return {
        table: clickhouse.query(f"SELECT count() FROM {table} WHERE project_id = {{p:UInt64}}", {"p": project_id}).scalar()
        for table in project_tables()
    }


def contents(project_id: int) -> dict[str, list]:
    """What every table holds for a project, merged (FINAL), without the project id."""
    found = {}
    for table, columns in project_tables().items():
        skip = ", ".join(("project_id", *DIFFERING.get(table, ())))
        rows = clickhouse.query(f"SELECT * EXCEPT ({skip}) FROM {table} FINAL WHERE project_id = {{p:UInt64}}", {"p": project_id}).rows
        found[table] = sorted(rows, key=repr)
    return found


# Time columns, as a condition "this row is of a time in [since, until)".
def _time_conditions(columns: dict[str, str]) -> list[str]:
    conditions = []
    for name, kind in columns.items():
        value = None
        if name == "timestamp" or name == "slot" or name in ("first_seen", "last_seen"):
            value = f"tupleElement({name}, 1)" if "Tuple" in kind else name
            conditions.append(f"({value} >= {{since:DateTime64(3, 'UTC')}} AND {value} < {{until:DateTime64(3, 'UTC')}})")
        elif name == "day":
            conditions.append("(day >= toDate({since:DateTime64(3, 'UTC')}) AND day < toDate({until:DateTime64(3, 'UTC')}))")
        elif name == "order_key":
            conditions.append(
                "(intDiv(order_key, 4194304000) >= toUnixTimestamp({since:DateTime64(3, 'UTC')})"
                " AND intDiv(order_key, 4194304000) < toUnixTimestamp({until:DateTime64(3, 'UTC')}))"
            )
    return conditions


# Tables without a time or event column: what they hold is checked by the fresh-load comparison.
TIMELESS = {"person_props", "person_overrides"}


def leftovers(project_id: int, *, event: str | None = None, since: datetime | None = None, until: datetime | None = None) -> dict[str, int]:
    """Rows of every table that a deletion of ``event`` and/or [since, until) should have
    removed (a table without the columns to tell is checked by :func:`contents` instead)."""
    found = {}
    params = {"p": project_id, "event": event or "", "since": since or datetime(1970, 1, 1, tzinfo=timezone.utc),
              "until": until or datetime(2105, 1, 1, tzinfo=timezone.utc)}
    for table, columns in project_tables().items():
        conditions = []
        if event is not None:
            if "event" not in columns:
                continue
            conditions.append("event = {event:String}")
        if since is not None or until is not None:
            times = _time_conditions(columns)
            if not times:
                assert table in TIMELESS, f"{table} has no column this test can check a time range on"
                continue
            conditions.append("(" + " OR ".join(times) + ")")
        where = " AND ".join(["project_id = {p:UInt64}", *conditions])
        found[table] = clickhouse.query(f"SELECT count() FROM {table} WHERE {where}", params).scalar()
    return found


# --- Data ---------------------------------------------------------------------------------------------

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def history() -> list[dict]:
    """About 2.5 days of traffic with client event ids: anonymous visitors, two of them
    identified (3 days ago, before everything else), person properties, sessions."""
    events = [
        {"event": "$identify", "user_id": "u1", "anonymous_id": "anon-1", "timestamp": NOW - timedelta(hours=72)},
        {"event": "$identify", "user_id": "u2", "anonymous_id": "anon-2", "timestamp": NOW - timedelta(hours=72, minutes=-5),
         "properties": {"$set_once": {"source": "ad"}}},
    ]
    for i in range(72):
        who = [{"anonymous_id": "anon-1"}, {"user_id": "u1"}, {"anonymous_id": "anon-2"}, {"user_id": "u2"}, {"distinct_id": f"d{i % 5}"}][i % 5]
        name = ["$pageview", "click", "buy"][i % 3]
        event = {"event": name, **who, "timestamp": NOW - timedelta(minutes=50 * i + 3), "session_id": f"s{i % 4}"}
        if name == "click" and "user_id" in who:
            event["properties"] = {"$set": {"color": f"c{i}"}}
        elif name == "buy":
            event["properties"] = {"$set": {"plan": f"p{i}"}, "amount": i}
        events.append(event)
    for event in events:
        event["event_id"] = str(uuid.uuid4())
        event["timestamp"] = event["timestamp"].isoformat()
    return events


def load(client, project: Project, events: list[dict]) -> None:
    for start in range(0, len(events), 500):
        assert post_events(client, project.api_key, {"events": events[start : start + 500]}).status_code == 202
    flush()


def remaining(events: list[dict], *, event: str | None = None, since: datetime | None = None, until: datetime | None = None) -> list[dict]:
    def deleted(e):
        at = datetime.fromisoformat(e["timestamp"])
        return (event is None or e["event"] == event) and (since is None or at >= since) and (until is None or at < until)

    return [e for e in events if not deleted(e)]


def owner_client(membership) -> Client:
    client = Client()
    assert client.login(username=membership.user.username, password=PASSWORD)
    return client


def data_url(project, name="data-settings", **kwargs) -> str:
    return reverse(name, kwargs={"project_id": project.id, **kwargs})


# --- The helper --------------------------------------------------------------------------------------


def test_every_table_with_project_data_is_known():
    tables = deletion.tables_with_projects()
    assert {"events", "event_counts_15m", "person_days", "funnel_events", "identity_users", "person_props"} <= set(tables)
    assert deletion.tables_unknown() == []


def test_a_table_it_does_not_know_stops_a_deletion_before_anything_is_deleted(member, ingest_client):
    load(ingest_client, member.project, history()[:10])
    before = rows_per_table(member.project.id)
    clickhouse.command("CREATE TABLE IF NOT EXISTS zz_unknown_rollup (project_id UInt64, n UInt64) ENGINE = MergeTree ORDER BY project_id")
    try:
        assert deletion.tables_unknown() == ["zz_unknown_rollup"]
        with pytest.raises(UnknownTable, match="zz_unknown_rollup has project data"):
            deletion.rows_delete_locked(Condition.events(member.project.id, event="click"))
        assert rows_per_table(member.project.id) == {**before, "zz_unknown_rollup": 0}
        # a whole project can be cleared from any table, known or not
        clickhouse.command("INSERT INTO zz_unknown_rollup VALUES ({p:UInt64}, 1)", {"p": member.project.id})
        removed = deletion.rows_delete_locked(Condition.project(member.project.id))
        assert removed["zz_unknown_rollup"] == 1 and removed["events"] == 10
    finally:
        clickhouse.command("DROP TABLE IF EXISTS zz_unknown_rollup")


@pytest.mark.parametrize(
    "what",
    [
        pytest.param({"event": "click"}, id="by-name"),
        pytest.param({"days": (1, 1)}, id="by-day"),
        pytest.param({"event": "buy", "days": (2, 0)}, id="by-name-and-days"),
        # persons' rows computed again for the whole project, as when many persons are concerned
        pytest.param({"event": "click", "keyed_max": 0}, id="by-name-whole-project"),
    ],
)
def test_deleting_events_leaves_every_table_as_a_fresh_load_of_the_rest(member, ingest_client, what, monkeypatch):
    """Project A loses some events; project B gets only the rest, through ingest. Every
    table of A (rollups, persons' tables) must then hold exactly what B holds."""
    if "keyed_max" in what:
        monkeypatch.setattr(deletion, "KEYED_REBUILD_MAX", what["keyed_max"])
    events = history()
    other = ProjectFactory()
    load(ingest_client, member.project, events)
    load(ingest_client, other, events)
    other_before = contents(other.id)

    today = lifecycle.local_today(project=member.project)
    date_from = date_to = None
    if "days" in what:
        date_from, date_to = today - timedelta(days=what["days"][0]), today - timedelta(days=what["days"][1])
    condition = lifecycle.event_deletion_range(project=member.project, event=what.get("event", ""), date_from=date_from, date_to=date_to)
    kept = remaining(events, event=condition.event, since=condition.since, until=condition.until)
    assert 0 < len(kept) < len(events)

    removed = deletion.rows_delete_locked(condition)
    assert removed["events"] == len(events) - len(kept)
    assert not any(leftovers(member.project.id, event=condition.event, since=condition.since, until=condition.until).values())

    fresh = ProjectFactory()
    load(ingest_client, fresh, kept)
    assert contents(member.project.id) == contents(fresh.id)
    assert contents(other.id) == other_before  # another project's rows are untouched


def test_merges_stand_when_the_events_that_made_them_are_deleted(member, ingest_client):
    """Deleting events never undoes a merge (only deleting the person does): the ids stay one person."""
    load(ingest_client, member.project, history())
    overrides = "SELECT old_key, argMax(new_key, version) FROM person_overrides WHERE project_id = {p:UInt64} GROUP BY old_key ORDER BY old_key"
    merged = clickhouse.query(overrides, {"p": member.project.id}).rows
    assert len(merged) == 2
    deletion.rows_delete_locked(Condition.events(member.project.id, event="$identify"))
    assert clickhouse.query(overrides, {"p": member.project.id}).rows == merged
    assert not leftovers(member.project.id, event="$identify")["events"]


# --- Deleting events from the page -------------------------------------------------------------------


def test_events_are_previewed_confirmed_deleted_and_reported(member, ingest_client, tasks_run_at_once):
    events = history()
    load(ingest_client, member.project, events)
    client = owner_client(member)
    project = member.project
    clicks = sum(e["event"] == "click" for e in events)

    preview = client.post(data_url(project, "data-events-preview"), {"event": "click"}, HTTP_HX_REQUEST="true")
    assert preview.status_code == 200
    assert f"{clicks} events" in preview.content.decode() and 'name="confirm"' in preview.content.decode()

    wrong = client.post(data_url(project, "data-events-delete"), {"event": "click", "confirm": "nope"}, HTTP_HX_REQUEST="true")
    assert wrong.status_code == 400
    assert f"Type the project&#x27;s name, {project.name}, exactly" in wrong.content.decode()
    assert not EventDeletion.objects.exists() and leftovers(project.id, event="click")["events"] == clicks

    done = client.post(data_url(project, "data-events-delete"), {"event": "click", "confirm": project.name}, HTTP_HX_REQUEST="true")
    assert done.status_code == 200
    record = EventDeletion.objects.get()
    assert record.status == EventDeletion.Status.DONE and record.requested_by == member.user
    assert record.rows_matched == clicks and record.rows_removed["events"] == clicks
    assert set(record.rows_removed) == set(project_tables())
    assert not any(leftovers(project.id, event="click").values())
    page = done.content.decode()
    assert "done" in page and "event_counts_15m" in page  # the report, per table
    status = client.get(data_url(project, "data-events-deletion", deletion_id=record.id), HTTP_HX_REQUEST="true")
    assert status.status_code == 200 and "every 1s" not in status.content.decode()  # finished: no more polling
    entry = AuditEntry.objects.get(project=project, action=AuditEntry.Action.EVENTS_DELETED)
    assert entry.actor == member.user and entry.details["rows_removed"]["events"] == clicks
    assert record.describe() in client.get(data_url(project)).content.decode()  # in the history


def test_events_sent_again_after_their_deletion_are_stored_again(member, ingest_client, tasks_run_at_once):
    project = member.project
    events = [e for e in history() if e["event"] == "buy"][:20]
    body = {"events": events}
    assert post_events(ingest_client, project.api_key, body).status_code == 202
    flush()
    ids = [e["event_id"] for e in events]
    stored = "SELECT count() FROM events WHERE project_id = {p:UInt64} AND has({ids:Array(UUID)}, event_id)"
    assert clickhouse.query(stored, {"p": project.id, "ids": ids}).scalar() == 20
    # sent again before the deletion: the same ids are skipped
    assert post_events(ingest_client, project.api_key, body).status_code == 202
    flush()
    assert clickhouse.query(stored, {"p": project.id, "ids": ids}).scalar() == 20

    answer = owner_client(member).post(data_url(project, "data-events-delete"), {"event": "buy", "confirm": project.name})
    assert answer.status_code == 302
    assert clickhouse.query(stored, {"p": project.id, "ids": ids}).scalar() == 0
    assert not any(stream.client().exists(stream.dedup_key(project.id, i)) for i in ids)

    # a corrected re-send with the same ids: accepted and stored (neither ingest's dedup memory
    # nor ClickHouse's insert deduplication swallows it: the rows have a new received_at)
    again = post_events(ingest_client, project.api_key, body)
    assert again.status_code == 202 and again.json()["accepted"] == 20
    assert flush().events_written == 20
    assert clickhouse.query(stored, {"p": project.id, "ids": ids}).scalar() == 20
    assert clickhouse.query("SELECT sum(events) FROM event_counts_15m WHERE project_id = {p:UInt64} AND event = 'buy'", {"p": project.id}).scalar() == 20


def test_bad_deletions_are_400_and_delete_nothing(member, ingest_client):
    load(ingest_client, member.project, history()[:10])
    before = rows_per_table(member.project.id)
    client = owner_client(member)
    today = lifecycle.local_today(project=member.project)
    cases = {
        "neither": ({}, "Choose an event name, a date range, or both"),
        "future": ({"date_from": (today + timedelta(days=1)).isoformat()}, "is in the future"),
        "future end": ({"date_from": today.isoformat(), "date_to": (today + timedelta(days=3)).isoformat()}, "is in the future"),
        "backwards": ({"date_from": today.isoformat(), "date_to": (today - timedelta(days=3)).isoformat()}, "ends before it starts"),
        "not a date": ({"date_from": "yesterday"}, "Enter a valid date"),
    }
    for name, (form, message) in cases.items():
        for url in ("data-events-preview", "data-events-delete"):
            answer = client.post(data_url(member.project, url), {**form, "confirm": member.project.name})
            assert answer.status_code == 400, (name, url)
            assert message in answer.content.decode(), (name, url)
    assert not EventDeletion.objects.exists()
    assert rows_per_table(member.project.id) == before


def test_only_owners_reach_the_data_page(member, ingest_client):
    project = member.project
    posts = {
        "data-retention": {"retention_days": "30"},
        "data-events-preview": {"event": "click"},
        "data-events-delete": {"event": "click", "confirm": project.name},
        "data-project-delete": {"confirm": project.name},
    }
    for role in (Membership.Role.MEMBER, Membership.Role.VIEWER):
        other = MembershipFactory(project=project, user=UserFactory(), role=role)
        client = owner_client(other)
        assert client.get(data_url(project)).status_code == 403
        for name, form in posts.items():
            assert client.post(data_url(project, name), form).status_code == 403, (role, name)
    stranger = owner_client(MembershipFactory())
    assert stranger.get(data_url(project)).status_code == 404
    assert stranger.post(data_url(project, "data-project-delete"), {"confirm": project.name}).status_code == 404
    assert Project.objects.filter(id=project.id, retention_days=None).exists() and not EventDeletion.objects.exists()
    # the settings page links the Data page for owners
    assert data_url(project) in owner_client(member).get(reverse("project-settings", kwargs={"project_id": project.id})).content.decode()


# --- Deleting the project ----------------------------------------------------------------------------


def test_deleting_a_project_needs_its_name(member, ingest_client):
    load(ingest_client, member.project, history()[:10])
    before = rows_per_table(member.project.id)
    answer = owner_client(member).post(data_url(member.project, "data-project-delete"), {"confirm": member.project.name.upper()})
    assert answer.status_code == 400
    assert f"Type the project&#x27;s name, {member.project.name}, exactly to delete it." in answer.content.decode()
    assert rows_per_table(member.project.id) == before and Project.objects.filter(id=member.project.id).exists()
    assert post_events(ingest_client, member.project.api_key, {"event": "still", "distinct_id": "x"}).status_code == 202


def test_deleting_a_project_removes_everything_and_its_key_stops_at_once(member, ingest_client):
    project, key = member.project, member.project.api_key
    other = ProjectFactory()
    events = history()
    load(ingest_client, project, events)
    load(ingest_client, other, events)
    other_before = contents(other.id)
    # events accepted but not written yet, and the key cached as another process would hold it
    assert post_events(ingest_client, key, {"events": [{"event": "late", "distinct_id": "z", "event_id": str(uuid.uuid4())}]}).status_code == 202
    assert stream.stream_backlog().entries == 1
    cached = project_selectors.project_for_ingest_key(api_key=key)

    answer = owner_client(member).post(data_url(project, "data-project-delete"), {"confirm": project.name})
    assert answer.status_code == 302 and answer["Location"] == reverse("project-list")

    assert not Project.objects.filter(id=project.id).exists() and not Membership.objects.filter(project_id=project.id).exists()
    entry = AuditEntry.objects.get(action=AuditEntry.Action.PROJECT_DELETED, project_name=project.name)
    assert entry.project is None and entry.actor == member.user
    assert entry.details["rows_removed"]["events"] == len(events)
    assert not any(rows_per_table(project.id).values())

    # another process still caches the key for a few seconds: ingest refuses all the same
    project_selectors._key_cache[key] = (time.monotonic() + 10, cached)
    refused = post_events(ingest_client, key, {"event": "after", "distinct_id": "z"})
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_api_key"
    assert ingest_client.post("/batch/", {"api_key": key, "batch": [{"event": "after", "distinct_id": "z"}]}, format="json").status_code == 401
    assert ingest_client.get(f"/array/{key}/config").status_code == 401
    assert post_events(ingest_client, key, {"event": "after", "distinct_id": "z"}, HTTP_IDEMPOTENCY_KEY="k1").status_code == 401
    project_selectors.project_key_cache_clear(key)
    assert post_events(ingest_client, key, {"event": "after", "distinct_id": "z"}).status_code == 401
    # what was in the stream is settled without being written
    stats = flush()
    assert stats.events_written == 0 and stats.entries_acked == 1 and stream.stream_backlog().entries == 0
    assert not any(rows_per_table(project.id).values())
    assert contents(other.id) == other_before


# --- Retention ---------------------------------------------------------------------------------------


def test_retention_is_set_by_owners_within_bounds(member):
    client = owner_client(member)
    url = data_url(member.project, "data-retention")
    for bad in ("0", "3651", "-5", "many"):
        answer = client.post(url, {"retention_days": bad}, HTTP_HX_REQUEST="true")
        assert answer.status_code == 400, bad
        assert answer.context["retention_form"].errors["retention_days"] == [lifecycle.RETENTION_MESSAGE]
        assert "Keep between 1 and 3650 days" in answer.content.decode()
    member.project.refresh_from_db()
    assert member.project.retention_days is None and not AuditEntry.objects.filter(action=AuditEntry.Action.RETENTION_CHANGED).exists()

    assert client.post(url, {"retention_days": "30"}).status_code == 302
    member.project.refresh_from_db()
    assert member.project.retention_days == 30
    assert client.post(url, {"retention_days": ""}, HTTP_HX_REQUEST="true").status_code == 200
    member.project.refresh_from_db()
    assert member.project.retention_days is None
    changes = AuditEntry.objects.filter(action=AuditEntry.Action.RETENTION_CHANGED).order_by("id")
    assert [e.details for e in changes] == [{"from": None, "to": 30}, {"from": 30, "to": None}]


def test_retention_removes_old_rows_from_every_table_and_a_run_with_nothing_due_is_a_no_op(member, ingest_client):
    project = member.project
    events = history()
    for i, event in enumerate(events[2:32]):  # a month ago (in the last 60 days: few partitions); not the merges
        event["timestamp"] = (NOW - timedelta(days=30, minutes=i)).isoformat()
    other = ProjectFactory()
    load(ingest_client, project, events)
    load(ingest_client, other, events)
    other_before = contents(other.id)
    project.retention_days = 7
    project.save()
    cutoff = lifecycle.retention_cutoff(project=project)
    kept = remaining(events, until=cutoff)
    assert len(kept) == len(events) - 30

    assert apply_retention() == {project.id: 30}
    assert not any(leftovers(project.id, until=cutoff).values())
    fresh = ProjectFactory()
    load(ingest_client, fresh, kept)
    assert contents(project.id) == contents(fresh.id)
    assert contents(other.id) == other_before
    project.refresh_from_db()
    applied = project.retention_applied_at
    assert applied is not None
    entry = AuditEntry.objects.get(project=project, action=AuditEntry.Action.RETENTION_APPLIED)
    assert entry.actor is None and entry.details["rows_removed"]["events"] == 30

    # nothing older than the cutoff now: no DELETE, no record
    mutations = "SELECT count() FROM system.mutations WHERE database = currentDatabase()"
    before = clickhouse.query(mutations).scalar()
    assert lifecycle.retention_apply(project=project) is None
    assert apply_retention() == {}
    assert clickhouse.query(mutations).scalar() == before
    project.refresh_from_db()
    assert project.retention_applied_at == applied
    assert AuditEntry.objects.filter(project=project, action=AuditEntry.Action.RETENTION_APPLIED).count() == 1

    page = owner_client(member).get(data_url(project)).content.decode()
    oldest_kept = min(datetime.fromisoformat(e["timestamp"]) for e in kept).date()
    assert f"<dt>Oldest event kept</dt>\n    <dd>{oldest_kept:%Y-%m-%d}" in page
    assert "keep 7 days" in page and "never" not in page.split("Last applied")[1][:200]
