"""Figures that count people count persons: ids merged into one person count once.

Random identity histories (apps/persons/tests/histories.py) go through the real ingest path
in random batches and order; every figure of the API then equals the reference computed on
the persons the persons reference says each event belongs to.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from apps.analytics.tests import reference as ref
from apps.persons.tests.histories import BASE, NAMES, history_annotated, history_ingest, histories
from apps.projects.services import personal_api_key_create
from apps.query.dates import date_range_resolve
from conftest import MembershipFactory, flush, post_events

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")
DAYS = {"date_from": (BASE - timedelta(days=1)).date().isoformat(), "date_to": (BASE + timedelta(days=3)).date().isoformat(), "interval": "day"}
HOURS = {"date_from": BASE.isoformat(), "date_to": (BASE + timedelta(hours=30)).isoformat(), "interval": "hour"}
PERSON_FILTERS = [
    [{"key": "tier", "operator": "equals", "value": "pro", "type": "person"}],
    [{"key": "tier", "operator": "not_equals", "value": "pro", "type": "person"}],
    [{"key": "source", "operator": "is_set", "type": "person"}, {"key": "plan", "operator": "not_equals", "value": "team"}],
]
FAST = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def api(client, project, insight, **params):
    response = client.get(f"/api/v1/projects/{project.id}/insights/{insight}", params)
    assert response.status_code == 200, response.content
    return response.json()


def setup_history(ingest_client, events, data):
    membership = MembershipFactory()
    history_ingest(ingest_client, membership.project, events, data)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {personal_api_key_create(user=membership.user, label='t').secret}")
    return membership.project, client, history_annotated(events)


def expected_trend(annotated, params, **kwargs):
    r = date_range_resolve(params=params, tz_name="UTC")
    return ref.trend(annotated, buckets=r.bucket_starts(), date_from=r.date_from, date_to=r.date_to, interval=r.interval, tz=UTC, **kwargs)


@FAST
@given(events=histories, data=st.data())
def test_active_users_count_persons(ingest_client, events, data):
    project, client, annotated = setup_history(ingest_client, events, data)
    body = api(client, project, "active-users", **DAYS)
    r = date_range_resolve(params=DAYS, tz_name="UTC")
    buckets = r.bucket_starts()
    assert body["dau"] == ref.count_by_bucket(ref.in_range(annotated, r.date_from, r.date_to), buckets, "day", UTC, unique=True)
    days = ref.last_days(buckets, r.date_to, UTC)
    assert body["wau"] == ref.trailing_actives(annotated, days, 7, UTC)
    assert body["mau"] == ref.trailing_actives(annotated, days, 30, UTC)


@FAST
@given(events=histories, data=st.data())
def test_unique_trends_count_persons(ingest_client, events, data):
    project, client, annotated = setup_history(ingest_client, events, data)
    for params in (DAYS, HOURS):
        for math in ("unique", "wau", "mau") if params is DAYS else ("unique",):
            body = api(client, project, "trends", events=",".join(NAMES), math=math, **params)
            for line in body["series"]:
                assert line["data"] == expected_trend(annotated, params, event=line["event"], math=math)[0]["data"], (math, line["event"])


@FAST
@given(events=histories, data=st.data(), filters=st.sampled_from(PERSON_FILTERS), math=st.sampled_from(["total", "unique", "wau"]))
def test_person_property_filters(ingest_client, events, data, filters, math):
    project, client, annotated = setup_history(ingest_client, events, data)
    body = api(client, project, "trends", events="view", math=math, filters=orjson.dumps(filters).decode(), **DAYS)
    assert body["series"][0]["data"] == expected_trend(annotated, DAYS, event="view", math=math, filters=filters)[0]["data"]


@FAST
@given(
    events=histories, data=st.data(), math=st.sampled_from(["total", "unique"]), params=st.sampled_from([DAYS, HOURS]),
    # none, on the event (read from events) or on the person (the narrow copy of events serves)
    filters=st.sampled_from([[], [{"key": "plan", "operator": "not_equals", "value": "team"}], PERSON_FILTERS[0]]),
)
def test_person_property_breakdown(ingest_client, events, data, math, params, filters):
    project, client, annotated = setup_history(ingest_client, events, data)
    body = api(client, project, "trends", events="view", math=math, breakdown="tier", breakdown_type="person", filters=orjson.dumps(filters).decode(), **params)
    assert body["breakdown_type"] == "person"
    expected = expected_trend(annotated, params, event="view", math=math, breakdown="tier", breakdown_type="person", filters=filters)
    got = [(s["breakdown_value"], s["data"]) for s in body["series"] if sum(s["data"])]
    assert got == [(e["breakdown_value"], e["data"]) for e in expected if sum(e["data"])]


@FAST
@given(events=histories, data=st.data())
def test_top_events_and_overview_count_persons(ingest_client, events, data):
    project, client, annotated = setup_history(ingest_client, events, data)
    r = date_range_resolve(params=DAYS, tz_name="UTC")
    chosen = ref.in_range(annotated, r.date_from, r.date_to)
    assert api(client, project, "top-events", limit=5, **DAYS)["results"] == ref.top_events(chosen, 5)
    cards = api(client, project, "overview", **DAYS)["cards"]
    assert cards["users"]["value"] == len({ref.person(e) for e in chosen})


@pytest.mark.parametrize("math", ["total", "unique"])
def test_person_breakdown_folds_all_but_ten_values_into_other(ingest_client, math):
    """Thirteen tiers and persons without one: the ten values with the most events keep a
    line, the rest are one "$other" line, whose persons never overlap (a person has one
    current value)."""
    membership = MembershipFactory()
    project = membership.project
    events = []
    for i in range(13):
        user, anon = f"user-{i}", f"anon-{i}"
        events.append({"event": "signup", "event_id": str(uuid.uuid4()), "user_id": user, "anonymous_id": anon, "timestamp": (BASE + timedelta(hours=i)).isoformat(),
                       "properties": {"$set": {"tier": f"tier-{i:02}"}}})
        for k in range(i + 1):  # tier-12 has the most views; each person views under both ids
            events.append({"event": "view", "event_id": str(uuid.uuid4()), "anonymous_id" if k % 2 else "user_id": anon if k % 2 else user,
                           "timestamp": (BASE + timedelta(hours=k, minutes=i)).isoformat()})
    events.append({"event": "view", "event_id": str(uuid.uuid4()), "anonymous_id": "never-set", "timestamp": BASE.isoformat()})
    response = post_events(ingest_client, project.api_key, {"events": events})
    assert response.status_code == 202, response.json()
    flush()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {personal_api_key_create(user=membership.user, label='t').secret}")
    body = api(client, project, "trends", events="view", math=math, breakdown="tier", breakdown_type="person", **DAYS)
    expected = expected_trend(history_annotated(events), DAYS, event="view", math=math, breakdown="tier", breakdown_type="person")
    got = [(s["breakdown_value"], s["data"]) for s in body["series"]]
    assert got == [(e["breakdown_value"], e["data"]) for e in expected]
    values = [s["breakdown_value"] for s in body["series"]]
    assert values[-1] == "$other" and len(values) == 11 and "tier-12" in values and "" not in values
    if math == "total":  # tier-00..02 (1, 2 and 3 views) and the person without a tier (1)
        assert sum(body["series"][-1]["data"]) == 7
