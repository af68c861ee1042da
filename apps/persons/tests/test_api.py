"""The persons API: list, search, one person, deletion, and its 4xx answers."""

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from apps.ingest.reconcile import rollups_check
from apps.persons.models import PersonDeletion
from apps.persons.selectors import person_uuid
from conftest import MembershipFactory, ProjectFactory, flush
from pulseboard import clickhouse
from pulseboard.celery import app as celery_app

pytestmark = pytest.mark.django_db


@pytest.fixture
def tasks_run_at_once():
    """Celery tasks run in the calling thread, as a worker would run them."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


BASE = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(days=1)


def at(minutes: int) -> str:
    """A time ``minutes`` after a fixed point a day ago."""
    return (BASE + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def people(member, ingest_client, send):
    """alice (browsed anonymously, then signed up, on two devices) and bob, and a stranger
    in another project with the same ids."""
    events = [
        {"event": "$pageview", "anonymous_id": "a-phone", "timestamp": at(0), "session_id": "s1"},
        {"event": "$pageview", "anonymous_id": "a-laptop", "timestamp": at(1), "session_id": "s2"},
        {"event": "signed_up", "user_id": "alice", "anonymous_id": "a-phone", "timestamp": at(2), "session_id": "s1",
         "properties": {"$set": {"plan": "pro"}}},
        {"event": "$identify", "user_id": "alice", "anonymous_id": "a-laptop", "timestamp": at(3), "session_id": "s2"},
        {"event": "purchase", "user_id": "alice", "timestamp": at(4), "session_id": "s1"},
        {"event": "$pageview", "user_id": "bob", "timestamp": at(5), "session_id": "s3", "properties": {"$set": {"plan": "free"}}},
    ]
    assert send(ingest_client, member.project.api_key, {"events": events}).status_code == 202
    other = ProjectFactory()
    assert send(ingest_client, other.api_key, {"events": events}).status_code == 202
    flush()
    return other


def test_persons_are_listed_with_every_id_and_current_properties(reader, member, people):
    body = reader.get(f"/api/v1/projects/{member.project.id}/persons").json()
    assert body["next"] is None
    assert [(p["distinct_ids"], p["properties"]) for p in body["results"]] == [
        (["bob"], {"plan": "free"}),
        (["a-laptop", "a-phone", "alice"], {"plan": "pro"}),
    ]
    alice = body["results"][1]
    assert set(alice) == {"id", "distinct_ids", "properties", "first_seen", "last_seen"}
    assert (alice["first_seen"], alice["last_seen"]) == (at(0).replace("+00:00", "Z"), at(4).replace("+00:00", "Z"))


def test_distinct_id_finds_the_one_person_that_holds_it(reader, member, people):
    url = f"/api/v1/projects/{member.project.id}/persons"
    (found,) = reader.get(url, {"distinct_id": "a-laptop"}).json()["results"]
    assert found["distinct_ids"] == ["a-laptop", "a-phone", "alice"]
    assert reader.get(url, {"distinct_id": "nobody"}).json() == {"results": [], "next": None}


def test_one_person_with_its_events_of_every_id(reader, member, people):
    (alice,) = reader.get(f"/api/v1/projects/{member.project.id}/persons", {"distinct_id": "alice"}).json()["results"]
    body = reader.get(f"/api/v1/projects/{member.project.id}/persons/{alice['id']}").json()
    assert [e["event"] for e in body["events"]] == ["purchase", "$identify", "signed_up", "$pageview", "$pageview"]
    assert body["distinct_ids"] == alice["distinct_ids"]


def test_bad_requests_are_4xx(reader, member, people):
    base = f"/api/v1/projects/{member.project.id}/persons"
    assert reader.get(base, {"search": "x" * 201}).status_code == 400
    assert reader.get(base, {"search": "x" * 201}).json()["field"] == "search"
    assert reader.get(base, {"cursor": "not-a-cursor"}).status_code == 400
    assert reader.get(f"{base}/not-a-uuid").status_code == 404
    assert reader.get(f"{base}/{uuid.uuid4()}").status_code == 404
    assert reader.get(f"{base}/{person_uuid(project_id=member.project.id, person_key=12345)}").status_code == 404
    # another project's person, under its own project id or under this one
    theirs = clickhouse.query("SELECT cityHash64('bob')").scalar()
    assert reader.get(f"{base}/{person_uuid(project_id=people.id, person_key=theirs)}").status_code == 404
    assert reader.get(f"/api/v1/projects/{people.id}/persons").status_code == 404


def all_rows_of(project_id: int, keys: list[int]) -> dict[str, int]:
    """Rows of these keys in every table that has a project_id column (tables added later
    are walked too): any column that holds person keys counts."""
    found = {}
    tables = clickhouse.query(
        "SELECT table, groupArray(name) FROM system.columns WHERE database = currentDatabase() "
        "AND table IN (SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree%') "
        "GROUP BY table HAVING has(groupArray(name), 'project_id')"
    ).rows
    for table, columns in tables:
        key_columns = [c for c in columns if c in ("person_key", "old_key", "new_key", "anon_key", "user_key")]
        if not key_columns:
            continue
        condition = " OR ".join(f"{c} IN {{keys:Array(UInt64)}}" for c in key_columns)
        found[table] = clickhouse.query(
            f"SELECT count() FROM {table} WHERE project_id = {{p:UInt64}} AND ({condition})", {"p": project_id, "keys": keys}
        ).scalar()
    return found


def test_deleting_a_person_removes_every_row_of_every_id(reader, member, people, tasks_run_at_once):
    base = f"/api/v1/projects/{member.project.id}/persons"
    (alice,) = reader.get(base, {"distinct_id": "alice"}).json()["results"]
    keys = [row[0] for row in clickhouse.query("SELECT arrayJoin([cityHash64('alice'), cityHash64('a-phone'), cityHash64('a-laptop')])").rows]
    assert sum(all_rows_of(member.project.id, keys).values()) > 0

    answer = reader.delete(f"{base}/{alice['id']}")
    assert answer.status_code == 202
    deletion = PersonDeletion.objects.get(id=answer.json()["id"])
    assert deletion.status == PersonDeletion.Status.DONE
    assert deletion.requested_by == member.user
    assert deletion.rows_removed["events"] == 5 and deletion.rows_removed["event_counts_15m"] > 0
    (audit,) = member.project.audit_entries.filter(action="person_deleted")
    assert audit.actor == member.user and audit.details["rows_removed"] == deletion.rows_removed

    leftovers = all_rows_of(member.project.id, keys)
    assert leftovers and not any(leftovers.values()), leftovers
    assert rollups_check(project_ids=[member.project.id], repair=False).drift == []
    assert clickhouse.query("SELECT sum(events) FROM event_counts_15m WHERE project_id = {p:UInt64}", {"p": member.project.id}).scalar() == 1
    assert [p["distinct_ids"] for p in reader.get(base).json()["results"]] == [["bob"]]
    assert reader.get(f"{base}/{alice['id']}").status_code == 404
    assert reader.delete(f"{base}/{alice['id']}").status_code == 404
    # the other project's alice is untouched
    assert all_rows_of(people.id, keys)["events"] == 5


def test_a_member_of_another_project_cannot_delete(client, member, people):
    stranger = MembershipFactory()
    client.force_login(stranger.user)
    base = f"/api/v1/projects/{member.project.id}/persons"
    target = person_uuid(project_id=member.project.id, person_key=clickhouse.query("SELECT cityHash64('bob')").scalar())
    assert client.delete(f"{base}/{target}").status_code == 404
    assert not PersonDeletion.objects.exists()
