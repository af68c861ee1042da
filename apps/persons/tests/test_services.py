"""Merging ids into persons through the real ingest path: doors, stream, flush, ClickHouse."""

import uuid
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from apps.ingest.validation import EVENT_COLUMNS
from apps.persons.models import IngestionWarning
from apps.persons.selectors import person_by_distinct_id, persons_list
from apps.persons.services import persons_reidentify
from conftest import flush
from pulseboard import clickhouse

pytestmark = pytest.mark.django_db


BASE = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(days=2)


def at(minutes: int) -> str:
    """A time ``minutes`` after a fixed point two days ago."""
    return (BASE + timedelta(minutes=minutes)).isoformat()


def send_all(client, send, project, events):
    response = send(client, project.api_key, {"events": events})
    assert response.status_code == 202, response.json()
    flush()


def ids_of(project, distinct_id):
    person = person_by_distinct_id(project_id=project.id, distinct_id=distinct_id)
    return None if person is None else sorted(person.distinct_ids)


def test_an_anonymous_visitor_who_signs_up_is_one_person(member, ingest_client, send):
    project = member.project
    send_all(ingest_client, send, project, [
        {"event": "$pageview", "anonymous_id": "anon-1", "timestamp": at(0)},
        {"event": "$pageview", "anonymous_id": "anon-1", "timestamp": at(1)},
        {"event": "signed_up", "user_id": "alice", "anonymous_id": "anon-1", "timestamp": at(2)},
        {"event": "purchase", "user_id": "alice", "timestamp": at(3)},
    ])
    assert ids_of(project, "anon-1") == ids_of(project, "alice") == ["alice", "anon-1"]
    page = persons_list(project_id=project.id)
    assert len(page.results) == 1 and page.next_cursor is None


def test_a_merge_may_arrive_before_the_events_it_covers(member, ingest_client, send):
    project = member.project
    send_all(ingest_client, send, project, [{"event": "signed_up", "user_id": "bob", "anonymous_id": "anon-2", "timestamp": at(5)}])
    send_all(ingest_client, send, project, [{"event": "$pageview", "anonymous_id": "anon-2", "timestamp": at(1)}])
    assert ids_of(project, "anon-2") == ["anon-2", "bob"]
    assert len(persons_list(project_id=project.id).results) == 1


def test_several_devices_merge_into_one_user(member, ingest_client, send):
    project = member.project
    send_all(ingest_client, send, project, [
        {"event": "$pageview", "anonymous_id": "phone", "timestamp": at(0)},
        {"event": "$pageview", "anonymous_id": "laptop", "timestamp": at(1)},
        {"event": "$identify", "user_id": "carol", "anonymous_id": "phone", "timestamp": at(2)},
        {"event": "$identify", "user_id": "carol", "anonymous_id": "laptop", "timestamp": at(3)},
    ])
    assert ids_of(project, "phone") == ["carol", "laptop", "phone"]


def test_two_identified_persons_are_never_joined(member, ingest_client, send):
    project = member.project
    send_all(ingest_client, send, project, [
        {"event": "login", "user_id": "dave", "timestamp": at(0)},
        {"event": "login", "user_id": "erin", "timestamp": at(1)},
        # erin was seen as a user id before: she is not an anonymous visitor of dave's
        {"event": "$identify", "user_id": "dave", "anonymous_id": "erin", "timestamp": at(2)},
        {"event": "$pageview", "anonymous_id": "shared-device", "timestamp": at(3)},
        {"event": "$identify", "user_id": "dave", "anonymous_id": "shared-device", "timestamp": at(4)},
        # the device is dave's now: merging it into erin would join them
        {"event": "$identify", "user_id": "erin", "anonymous_id": "shared-device", "timestamp": at(5)},
    ])
    assert ids_of(project, "dave") == ["dave", "shared-device"]
    assert ids_of(project, "erin") == ["erin"]
    warnings = IngestionWarning.objects.filter(project=project).order_by("event_time")
    assert [(w.details["anonymous_id"], w.details["user_id"]) for w in warnings] == [("erin", "dave"), ("shared-device", "erin")]
    assert "two identified persons are never joined" in warnings[0].message


def test_a_late_user_event_undoes_a_merge_it_predates(member, ingest_client, send):
    """Facts count in the order of their time, whatever order they arrive in."""
    project = member.project
    send_all(ingest_client, send, project, [{"event": "$identify", "user_id": "frank", "anonymous_id": "gina", "timestamp": at(10)}])
    assert ids_of(project, "gina") == ["frank", "gina"]
    send_all(ingest_client, send, project, [{"event": "login", "user_id": "gina", "timestamp": at(5)}])
    assert ids_of(project, "gina") == ["gina"]
    assert ids_of(project, "frank") == ["frank"]


@pytest.mark.parametrize("illegal", ["undefined", " NULL ", "[object Object]", "0", "guest", "Email"])
def test_illegal_ids_never_merge(member, ingest_client, send, illegal):
    project = member.project
    send_all(ingest_client, send, project, [
        {"event": "$pageview", "anonymous_id": illegal, "timestamp": at(0)},
        {"event": "$identify", "user_id": "hank", "anonymous_id": illegal, "timestamp": at(1)},
    ])
    assert ids_of(project, "hank") == ["hank"]
    assert ids_of(project, illegal) == [illegal]
    assert IngestionWarning.objects.filter(project=project, key__startswith="illegal_id:").count() == 1


def test_person_properties_follow_set_and_set_once(member, ingest_client, send):
    project = member.project
    send_all(ingest_client, send, project, [
        {"event": "$pageview", "anonymous_id": "ivy-anon", "timestamp": at(0),
         "properties": {"$set_once": {"first_page": "/pricing"}, "$set": {"plan": "free"}}},
        {"event": "$identify", "user_id": "ivy", "anonymous_id": "ivy-anon", "timestamp": at(1),
         "properties": {"$set": {"email": "ivy@example.com"}, "$set_once": {"first_page": "/signup"}}},
        {"event": "upgraded", "user_id": "ivy", "timestamp": at(3), "properties": {"$set": {"plan": "pro", "seats": 3}}},
    ])
    # a $set from the past arrives late: the later one still wins
    send_all(ingest_client, send, project, [
        {"event": "downgraded", "user_id": "ivy", "timestamp": at(2), "properties": {"$set": {"plan": "team"}}},
    ])
    person = person_by_distinct_id(project_id=project.id, distinct_id="ivy")
    assert person.properties == {"first_page": "/pricing", "plan": "pro", "seats": 3, "email": "ivy@example.com"}


def test_person_properties_in_the_same_millisecond_go_by_event_id(member, ingest_client, send):
    """Ties in time: the greater event id wins a $set, the smaller a $set_once, across the
    ids of one person; a $set beats any $set_once."""
    project = member.project
    low, high = "00000000-0000-4000-8000-000000000001", "ffffffff-0000-4000-8000-000000000000"
    # the ids differ in their first and in their last bits: both must count
    mid_a, mid_b = "7fffffff-ffff-4fff-bfff-fffffffffffe", "7fffffff-ffff-4fff-bfff-ffffffffffff"
    send_all(ingest_client, send, project, [
        {"event_id": high, "event": "a", "anonymous_id": "jo-anon", "timestamp": at(0),
         "properties": {"$set": {"plan": "high"}, "$set_once": {"source": "high"}}},
        {"event_id": low, "event": "b", "user_id": "jo", "anonymous_id": "jo-anon", "timestamp": at(0),
         "properties": {"$set": {"plan": "low"}, "$set_once": {"source": "low"}}},
        {"event_id": mid_b, "event": "c", "user_id": "jo", "timestamp": at(1), "properties": {"$set_once": {"seats": 2, "tier": "once"}}},
        {"event_id": mid_a, "event": "d", "user_id": "jo", "timestamp": at(1), "properties": {"$set": {"seats": 1}, "$set_once": {"seats": 3}}},
        {"event": "e", "user_id": "jo", "timestamp": at(2), "properties": {"$set_once": {"plan": "later once"}}},
    ])
    person = person_by_distinct_id(project_id=project.id, distinct_id="jo-anon")
    assert person.properties == {"plan": "high", "source": "low", "seats": 1, "tier": "once"}


def test_posthog_identify_and_alias_merge(member, ingest_client):
    project = member.project
    batch = {
        "api_key": project.api_key,
        "batch": [
            {"event": "$pageview", "distinct_id": "ph-anon", "timestamp": at(0), "properties": {}},
            {"event": "$identify", "distinct_id": "ph-user", "timestamp": at(1), "properties": {"$anon_distinct_id": "ph-anon"}},
            {"event": "$create_alias", "distinct_id": "ph-old", "timestamp": at(2), "properties": {"alias": "ph-user"}},
        ],
    }
    assert ingest_client.post("/batch/", batch, format="json").status_code == 200
    flush()
    assert ids_of(project, "ph-anon") == ["ph-anon", "ph-old", "ph-user"]


def test_segment_identify_and_alias_merge(member, ingest_client):
    project = member.project
    batch = {
        "writeKey": project.api_key,
        "batch": [
            {"type": "page", "anonymousId": "sg-anon", "timestamp": at(0), "name": "Home"},
            {"type": "identify", "userId": "sg-user", "anonymousId": "sg-anon", "timestamp": at(1), "traits": {"plan": "pro"}},
            {"type": "alias", "userId": "sg-user", "previousId": "sg-device", "timestamp": at(2)},
        ],
    }
    assert ingest_client.post("/v1/batch", batch, format="json").status_code == 200
    flush()
    person = person_by_distinct_id(project_id=project.id, distinct_id="sg-anon")
    assert sorted(person.distinct_ids) == ["sg-anon", "sg-device", "sg-user"]
    assert person.properties == {"plan": "pro"}


def test_search_matches_ids_and_property_values(member, ingest_client, send):
    project = member.project
    send_all(ingest_client, send, project, [
        {"event": "signed_up", "user_id": "jack", "timestamp": at(0), "properties": {"$set": {"company": "Acme Rockets"}}},
        {"event": "signed_up", "user_id": "kate", "timestamp": at(1), "properties": {"$set": {"company": "Globex"}}},
    ])
    assert [p.distinct_ids for p in persons_list(project_id=project.id, search="ROCKET").results] == [["jack"]]
    assert [p.distinct_ids for p in persons_list(project_id=project.id, search="kat").results] == [["kate"]]
    assert persons_list(project_id=project.id, search="nobody").results == []


def test_the_list_pages_with_a_cursor(member, ingest_client, send):
    project = member.project
    send_all(ingest_client, send, project, [{"event": "e", "user_id": f"u{i:02d}", "timestamp": at(i)} for i in range(7)])
    seen, cursor = [], None
    while True:
        page = persons_list(project_id=project.id, cursor=cursor, limit=3)
        seen += [p.distinct_ids[0] for p in page.results]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [f"u{i:02d}" for i in reversed(range(7))]


def test_refused_merges_are_listed_in_the_projects_settings(client, member, ingest_client, send):
    project = member.project
    send_all(ingest_client, send, project, [
        {"event": "login", "user_id": "lee", "timestamp": at(0)},
        {"event": "$identify", "user_id": "max", "anonymous_id": "lee", "timestamp": at(1)},
    ])
    client.force_login(member.user)
    assert "/settings/ingestion-warnings/" in client.get(f"/projects/{project.id}/settings/").content.decode()
    section = client.get(f"/projects/{project.id}/settings/ingestion-warnings/", HTTP_HX_REQUEST="true").content.decode()
    assert "&#x27;lee&#x27; was not merged into &#x27;max&#x27;" in section and "<html" not in section


def test_events_written_without_the_flush_are_merged_by_a_reidentify(member):
    """Demo seeding writes straight to ClickHouse; persons_reidentify decides its merges."""
    def row(**fields):
        text = {"timestamp": fields.pop("timestamp").replace("T", " ")[:19] + ".000"}
        base = {column: "" for column in EVENT_COLUMNS}
        base.update(project_id=member.project.id, event_id=str(uuid.uuid4()), event="e", properties="{}", received_at=text["timestamp"])
        base.update(fields, **text)
        base["distinct_id"] = base["user_id"] or base["anonymous_id"]
        return base

    rows = [row(anonymous_id="seed-anon", timestamp=at(0)), row(user_id="seed-user", anonymous_id="seed-anon", timestamp=at(1))]
    clickhouse.insert_json_each_row("events", EVENT_COLUMNS, b"\n".join(orjson.dumps(r) for r in rows))
    assert ids_of(member.project, "seed-anon") == ["seed-anon"]
    assert persons_reidentify(project_id=member.project.id) == 1
    assert ids_of(member.project, "seed-anon") == ["seed-anon", "seed-user"]
