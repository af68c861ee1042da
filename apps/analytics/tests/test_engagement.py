"""Stickiness and lifecycle through the API against the pure-Python reference, and worked
cases. Random identity histories (merged ids included) go through the real ingest path."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from apps.analytics.tests import reference as ref
from apps.persons.tests.histories import BASE, NAMES, history_annotated, history_ingest, histories, histories_from
from apps.projects.services import personal_api_key_create
from apps.query.dates import date_range_resolve
from conftest import MembershipFactory, flush, post_events

pytestmark = pytest.mark.django_db

FAST = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def client_for(membership) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {personal_api_key_create(user=membership.user, label='t').secret}")
    return client


def get(client, project, insight, **params):
    response = client.get(f"/api/v1/projects/{project.id}/insights/{insight}", params)
    assert response.status_code == 200, response.content
    return response.json()


def range_params(tz: ZoneInfo, interval: str, from_offset: int) -> dict:
    """Days around the histories (which span three days from BASE)."""
    return {
        "date_from": (BASE + timedelta(days=from_offset)).astimezone(tz).date().isoformat(),
        "date_to": (BASE + timedelta(days=3)).astimezone(tz).date().isoformat(),
        "interval": interval,
    }


HISTORY = dict(
    events=histories,
    data=st.data(),
    tz_name=st.sampled_from(["America/New_York", "Asia/Kathmandu", "UTC"]),
    interval=st.sampled_from(["day", "week"]),
    from_offset=st.sampled_from([-1, 1]),  # from before the data, or from its second day
)


@FAST
@given(**HISTORY)
def test_stickiness_equals_the_reference(ingest_client, events, data, tz_name, interval, from_offset):
    membership = MembershipFactory(project__timezone=tz_name)
    history_ingest(ingest_client, membership.project, events, data)
    tz = ZoneInfo(tz_name)
    params = range_params(tz, interval, from_offset)
    body = get(client_for(membership), membership.project, "stickiness", events=",".join(NAMES), **params)
    r = date_range_resolve(params=params, tz_name=tz_name)
    annotated = history_annotated(events)
    assert body["lengths"] == list(range(1, len(r.bucket_starts()) + 1))
    for series in body["series"]:
        expected = ref.stickiness(annotated, event=series["event"], buckets=r.bucket_starts(), date_from=r.date_from, date_to=r.date_to, interval=r.interval, tz=tz)
        assert series["data"] == expected, series["event"]


@FAST
@given(**HISTORY, event=st.sampled_from([*NAMES, "$any_event"]))
def test_lifecycle_equals_the_reference(ingest_client, events, data, tz_name, interval, from_offset, event):
    membership = MembershipFactory(project__timezone=tz_name)
    history_ingest(ingest_client, membership.project, events, data)
    tz = ZoneInfo(tz_name)
    params = range_params(tz, interval, from_offset)
    body = get(client_for(membership), membership.project, "lifecycle", event=event, **params)
    r = date_range_resolve(params=params, tz_name=tz_name)
    expected = ref.lifecycle(history_annotated(events), event=event, buckets=r.bucket_starts(), date_to=r.date_to, interval=r.interval, tz=tz)
    assert {kind: body[kind] for kind in expected} == expected


# --- Worked cases ----------------------------------------------------------------------------------

TODAY = datetime.now(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)


def at(days_ago: int) -> str:
    return (TODAY - timedelta(days=days_ago)).isoformat()


@pytest.fixture
def readers(ingest_client, member):
    """Ann reads on days 6, 5 and 4 before today (the middle one on her anonymous id, merged
    at sign-up); Bob on day 20 and then days 5 and 3; Cy only on day 3."""
    project = member.project
    events = [
        {"event": "read", "user_id": "ann", "timestamp": at(6)},
        {"event": "signed_up", "user_id": "ann", "anonymous_id": "ann-phone", "timestamp": at(6)},
        {"event": "read", "anonymous_id": "ann-phone", "timestamp": at(5)},
        {"event": "read", "user_id": "ann", "timestamp": at(4)},
        {"event": "read", "user_id": "bob", "timestamp": at(20)},
        {"event": "read", "user_id": "bob", "timestamp": at(5)},
        {"event": "read", "user_id": "bob", "timestamp": at(3)},
        {"event": "read", "user_id": "cy", "timestamp": at(3)},
    ]
    response = post_events(ingest_client, project.api_key, {"events": [{"event_id": str(uuid.uuid4()), **e} for e in events]})
    assert response.status_code == 202, response.json()
    flush()
    days = {"date_from": at(6)[:10], "date_to": at(3)[:10], "interval": "day"}
    return project, client_for(member), days


def test_stickiness_counts_the_days_of_a_person_across_its_ids(readers):
    project, client, days = readers
    body = get(client, project, "stickiness", events="read", **days)
    # Ann: 3 days (one of them on her phone's id); Bob: 2 days in the range; Cy: 1
    assert body["series"][0]["data"] == [1, 1, 1, 0]
    assert body["labels"] == ["1 day", "2 days", "3 days", "4 days"]


def test_lifecycle_splits_each_day(readers):
    project, client, days = readers
    body = get(client, project, "lifecycle", event="read", **days)
    assert body["new"] == [1, 0, 0, 1]  # Ann on day 6, Cy on day 3
    assert body["returning"] == [0, 1, 1, 0]  # Ann on days 5 and 4
    assert body["resurrecting"] == [0, 1, 0, 1]  # Bob (first seen day 20) on days 5 and 3
    assert body["dormant"] == [0, 0, -1, -1]  # Bob gone on day 4, Ann on day 3


@pytest.mark.parametrize(
    "insight, params, field",
    [
        ("stickiness", {}, "events"),
        ("stickiness", {"events": "read", "interval": "hour"}, "interval"),
        ("lifecycle", {}, "event"),
        ("lifecycle", {"event": "read", "range": "24h"}, "interval"),
        ("lifecycle", {"event": "read", "interval": "month"}, "interval"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(member, insight, params, field):
    response = client_for(member).get(f"/api/v1/projects/{member.project.id}/insights/{insight}", params)
    assert response.status_code == 400 and response.json()["field"] == field


def test_lifecycle_sees_activity_on_the_utc_day_just_before_the_range(ingest_client):
    """In Kathmandu (UTC+5:45) the day before the range starts at 18:15 UTC: a visit at 21:00
    local two days before the range falls on that same UTC day, earlier. Its person is back,
    not new, on the range's first day."""
    tz = ZoneInfo("Asia/Kathmandu")
    membership = MembershipFactory(project__timezone=tz.key)
    project = membership.project
    first = datetime.now(tz).date() - timedelta(days=3)
    local = lambda day, hour: datetime(day.year, day.month, day.day, hour, tzinfo=tz).isoformat()  # noqa: E731
    events = [
        {"event": "read", "user_id": "early", "timestamp": local(first - timedelta(days=2), 21)},
        {"event": "read", "user_id": "early", "timestamp": local(first, 12)},
        {"event": "read", "user_id": "fresh", "timestamp": local(first, 12)},
    ]
    assert post_events(ingest_client, project.api_key, {"events": [{"event_id": str(uuid.uuid4()), **e} for e in events]}).status_code == 202
    flush()
    body = get(client_for(membership), project, "lifecycle", event="read", date_from=first.isoformat(), date_to=first.isoformat(), interval="day")
    assert (body["new"], body["resurrecting"], body["returning"], body["dormant"]) == ([1], [1], [0], [0])


# Across New York's end of summer time (Sunday 2026-11-01, 06:00 UTC), a month's end and a
# week's; the clock pinned after them.
DST_BASE = datetime(2026, 10, 30, 4, tzinfo=timezone.utc)
DST_NOW = datetime(2026, 11, 6, 15, tzinfo=timezone.utc)


@FAST
@given(
    events=histories_from(DST_BASE),
    data=st.data(),
    tz_name=st.sampled_from(["America/New_York", "Asia/Kathmandu"]),
    interval=st.sampled_from(["day", "week"]),
    event=st.sampled_from([*NAMES, "$any_event"]),
)
def test_stickiness_and_lifecycle_across_summer_time(ingest_client, events, data, tz_name, interval, event):
    params = {"date_from": "2026-10-31", "date_to": "2026-11-03", "interval": interval}
    with time_machine.travel(DST_NOW, tick=True):
        membership = MembershipFactory(project__timezone=tz_name)
        history_ingest(ingest_client, membership.project, events, data)
        client = client_for(membership)
        sticky = get(client, membership.project, "stickiness", events=",".join(NAMES), **params)
        cycle = get(client, membership.project, "lifecycle", event=event, **params)
        r = date_range_resolve(params=params, tz_name=tz_name)
    tz = ZoneInfo(tz_name)
    annotated = history_annotated(events)
    for series in sticky["series"]:
        assert series["data"] == ref.stickiness(annotated, event=series["event"], buckets=r.bucket_starts(), date_from=r.date_from, date_to=r.date_to, interval=interval, tz=tz)
    expected = ref.lifecycle(annotated, event=event, buckets=r.bucket_starts(), date_to=r.date_to, interval=interval, tz=tz)
    assert {kind: cycle[kind] for kind in expected} == expected
