"""GET /api/v1/projects/<id>/events: filters, keyset pagination, auth and tenancy."""

import base64
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from apps.projects.services import personal_api_key_create
from conftest import PASSWORD, MembershipFactory, flush

pytestmark = pytest.mark.django_db

# The events below are of the two days before NOW, and the whole stack (ingest's limit on
# past timestamps included) runs as of NOW.
NOW = datetime(2026, 11, 22, 12, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=True):
        yield


def seed(client, send, project, events):
    assert send(client, project.api_key, {"events": events}).status_code == 202
    flush()


def url(project_id, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/api/v1/projects/{project_id}/events" + (f"?{query}" if query else "")


EVENTS = [
    {"event": "pageview", "distinct_id": "ann", "timestamp": "2026-11-20T09:00:00Z", "properties": {"path": "/"}},
    {"event": "signup", "distinct_id": "ann", "timestamp": "2026-11-20T09:05:00Z"},
    {"event": "pageview", "distinct_id": "bob", "timestamp": "2026-11-21T23:30:00Z"},
    {"event": "pageview", "distinct_id": "bob", "timestamp": "2026-11-22T08:00:00Z"},
]


def test_events_come_back_newest_first_with_all_fields(member, reader, ingest_client, send):
    seed(ingest_client, send, member.project, EVENTS)
    response = reader.get(url(member.project.id))
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["timestamp"] for r in results] == [
        "2026-11-22T08:00:00Z",
        "2026-11-21T23:30:00Z",
        "2026-11-20T09:05:00Z",
        "2026-11-20T09:00:00Z",
    ]
    oldest = results[-1]
    assert oldest["event"] == "pageview" and oldest["distinct_id"] == "ann"
    assert oldest["properties"] == {"path": "/"}
    assert response.json()["next"] is None


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"event": "signup"}, 1),
        ({"distinct_id": "bob"}, 2),
        ({"event": "pageview", "distinct_id": "ann"}, 1),
        ({"date_from": "2026-11-21"}, 2),
        ({"date_to": "2026-11-20"}, 2),
        ({"date_from": "2026-11-20T09:01:00Z", "date_to": "2026-11-22T00:00:00Z"}, 2),
    ],
)
def test_filters(member, reader, ingest_client, send, params, expected):
    seed(ingest_client, send, member.project, EVENTS)
    assert len(reader.get(url(member.project.id, **params)).json()["results"]) == expected


def test_dates_are_days_in_the_project_timezone(member, reader, ingest_client, send):
    member.project.timezone = "America/New_York"
    member.project.save()
    seed(ingest_client, send, member.project, EVENTS)
    # 2026-11-21T23:30Z is 18:30 on the 21st in New York; 2026-11-22T08:00Z is 03:00 on the 22nd.
    results = reader.get(url(member.project.id, date_from="2026-11-22", date_to="2026-11-22")).json()["results"]
    assert [r["timestamp"] for r in results] == ["2026-11-22T08:00:00Z"]


def test_cursor_pagination_walks_every_event_once(member, reader, ingest_client, send):
    events = [{"event": "tick", "distinct_id": f"u{i}", "timestamp": f"2026-11-21T10:00:{i % 7:02d}Z"} for i in range(23)]
    seed(ingest_client, send, member.project, events)
    seen, next_url, pages = [], url(member.project.id, limit=5), 0
    while next_url:
        body = reader.get(next_url).json()
        seen += [r["event_id"] for r in body["results"]]
        next_url = body["next"]
        pages += 1
    assert pages == 5
    assert len(seen) == len(set(seen)) == 23


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date_from": "last-week"}, "date_from"),
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"cursor": "%%%"}, "cursor"),
        # Beyond what ClickHouse's DateTime64 holds (1900 to 2299), or Python's datetime.
        ({"date_from": "0001-01-01"}, "date_from"),
        ({"date_to": "9999-12-31"}, "date_to"),
        ({"date_to": "2300-01-01T00:00:00Z"}, "date_to"),
        ({"cursor": base64.urlsafe_b64encode(b"99999999999999999999:0b9f1c2e-4c1a-4f7e-9a59-2f6f1d3c8e11").decode()}, "cursor"),
        ({"cursor": base64.urlsafe_b64encode(b"-62135596800000:0b9f1c2e-4c1a-4f7e-9a59-2f6f1d3c8e11").decode()}, "cursor"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(member, reader, params, field):
    response = reader.get(url(member.project.id, **params))
    assert response.status_code == 400
    assert response.json()["field"] == field


def test_session_login_can_read(member, ingest_client, send):
    seed(ingest_client, send, member.project, EVENTS[:1])
    client = APIClient()
    assert client.login(username=member.user.username, password=PASSWORD)
    assert len(client.get(url(member.project.id)).json()["results"]) == 1


def test_anonymous_is_401_and_ingest_key_can_never_read(member):
    client = APIClient()
    assert client.get(url(member.project.id)).status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {member.project.api_key}")
    assert client.get(url(member.project.id)).status_code == 401
    client.credentials(HTTP_X_API_KEY=member.project.api_key)
    assert client.get(url(member.project.id)).status_code == 401


def test_member_of_a_cannot_read_b(member, reader, ingest_client, send):
    other = MembershipFactory()
    seed(ingest_client, send, other.project, EVENTS)
    assert reader.get(url(other.project.id)).status_code == 404
    assert reader.get(url(999_999_999)).status_code == 404
    # and B's own member sees B's events
    own = APIClient()
    own.credentials(HTTP_AUTHORIZATION=f"Bearer {personal_api_key_create(user=other.user, label='t').secret}")
    assert len(own.get(url(other.project.id)).json()["results"]) == 4


def test_posted_event_is_readable_once_the_worker_flushes(member, reader, ingest_client, send):
    response = send(ingest_client, member.project.api_key, {"event": "hello", "distinct_id": "me"})
    event_id = response.json()["event_ids"][0]
    assert reader.get(url(member.project.id)).json()["results"] == []
    flush()
    assert [r["event_id"] for r in reader.get(url(member.project.id)).json()["results"]] == [event_id]


dates = st.one_of(
    st.dates().map(str),  # years 1 to 9999
    st.datetimes(timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))])).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat()),  # no offset: the project's timezone
    st.text(max_size=12),
)


@settings(max_examples=80)
@given(date_from=dates | st.none(), date_to=dates | st.none(), insight=st.sampled_from(["events", "insights/trends", "insights/top-events", "insights/overview", "insights/active-users"]))
def test_any_dates_are_an_answer_or_a_400_naming_them(member, reader, date_from, date_to, insight):
    params = {name: value for name, value in {"date_from": date_from, "date_to": date_to, "events": "a"}.items() if value is not None}
    response = reader.get(f"/api/v1/projects/{member.project.id}/{insight}", params)
    assert response.status_code in (200, 400), response.content[:300]
    if response.status_code == 400:
        assert response.json()["field"] in ("date_from", "date_to", "interval"), response.json()
