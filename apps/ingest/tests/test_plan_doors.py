"""The tracking plan on every ingest door (native, PostHog, Segment): enforce refuses the
events outside it, naming the field, and stores the rest; observe stores everything and
counts the violations; the $ group; typed properties."""

from __future__ import annotations

import base64

import orjson
import pytest
from rest_framework.test import APIClient

from apps.ingest.models import PlanViolation, TrackingPlan
from apps.ingest.plan import plan_violations_for_project, tracking_plan_update
from conftest import MembershipFactory, flush
from pulseboard import clickhouse

pytestmark = pytest.mark.django_db

PLAN = [
    {"name": "signup", "properties": [{"name": "plan", "type": "string"}]},
    {"name": "purchase", "properties": [{"name": "amount", "type": "number"}, {"name": "trial", "type": "boolean"}]},
]


def stored(project_id: int) -> list[tuple[str, dict]]:
    rows = clickhouse.query(
        "SELECT event, properties FROM events WHERE project_id = {p:UInt64} ORDER BY event, properties", {"p": project_id}
    ).rows
    return [(event, orjson.loads(properties)) for event, properties in rows]


def with_plan(mode: str, *, allow_dollar: bool = True):
    member = MembershipFactory()
    tracking_plan_update(project=member.project, user=member.user, mode=mode, allow_dollar_events=allow_dollar, events=PLAN)
    return member.project


# --- One batch per door: (event, properties) of each event, in the door's own shape -----------

BATCH = [
    ("signup", {"plan": "pro"}),  # ok
    ("signup", {}),  # plan missing
    ("purchase", {"amount": "42", "trial": False}),  # a number sent as a string
    ("purchase", {"amount": 42.5, "trial": True}),  # ok
    ("purchase", {"amount": True, "trial": False}),  # a boolean is not a number
    ("mystery", {"x": 1}),  # not in the plan
    ("$pageview", {"path": "/"}),  # the $ group
]
OK = [("$pageview", {"path": "/"}), ("purchase", {"amount": 42.5, "trial": True}), ("signup", {"plan": "pro"})]


def native(client: APIClient, key: str):
    body = {"events": [{"event": e, "distinct_id": "u", "properties": p} for e, p in BATCH]}
    response = client.post("/api/v1/events", body, format="json", HTTP_X_API_KEY=key)
    return response, response.json().get("errors", [])


def posthog(path: str):
    def send(client: APIClient, key: str):
        body = {"api_key": key, "batch": [{"event": e, "distinct_id": "u", "properties": p} for e, p in BATCH]}
        response = client.generic("POST", path, orjson.dumps(body), content_type="application/json")
        return response, response.json().get("errors", [])

    return send


def segment(client: APIClient, key: str):
    batch = [
        {"type": "page", "anonymousId": "a", "name": "Home", "properties": p} if e == "$pageview" else {"type": "track", "userId": "u", "event": e, "properties": p}
        for e, p in BATCH
    ]
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    response = client.generic("POST", "/v1/batch", orjson.dumps({"batch": batch}), content_type="application/json", HTTP_AUTHORIZATION=auth)
    return response, response.json().get("errors", [])


DOORS = {
    "native": native,
    "posthog /batch": posthog("/batch/"),
    "posthog /e": posthog("/e/"),
    "posthog /capture": posthog("/capture/"),
    "posthog /i/v0/e": posthog("/i/v0/e/"),
    "segment /v1/batch": segment,
}
ENFORCED_ERRORS = [
    (1, "properties.plan"),
    (2, "properties.amount"),
    (4, "properties.amount"),
    (5, "event"),
]


@pytest.mark.parametrize("door", DOORS)
def test_enforce_refuses_what_is_outside_the_plan_and_stores_the_rest(door, ingest_client):
    project = with_plan(TrackingPlan.Mode.ENFORCE)
    response, errors = DOORS[door](ingest_client, project.api_key)
    assert response.status_code in (200, 202)
    assert [(e["index"], e["field"]) for e in errors] == ENFORCED_ERRORS
    messages = {(e["index"], e["field"]): e["message"] for e in errors}
    assert "required by the tracking plan" in messages[(1, "properties.plan")]
    assert messages[(2, "properties.amount")].startswith("must be a number") and "got a string" in messages[(2, "properties.amount")]
    assert "got a boolean" in messages[(4, "properties.amount")]
    assert "'mystery' is not in the project's tracking plan" == messages[(5, "event")]
    flush()
    rows = stored(project.id)
    if door.startswith("segment"):
        rows = [(event, {k: v for k, v in props.items() if k in ("path", "amount", "trial", "plan")}) for event, props in rows]
    else:
        rows = [(event, {k: v for k, v in props.items() if not k.startswith("$") and k != "distinct_id"}) for event, props in rows]
    assert rows == OK
    assert not PlanViolation.objects.filter(project=project).exists()  # refused, not counted


@pytest.mark.parametrize("door", DOORS)
def test_observe_stores_everything_and_counts_the_violations(door, ingest_client):
    project = with_plan(TrackingPlan.Mode.OBSERVE)
    response, errors = DOORS[door](ingest_client, project.api_key)
    assert response.status_code in (200, 202) and errors == []
    flush()
    assert sorted(event for event, _ in stored(project.id)) == sorted(e for e, _ in BATCH)
    counted = {(v.event, v.property, v.kind): v.count for v in plan_violations_for_project(project_id=project.id)}
    assert counted == {
        ("signup", "plan", "missing_property"): 1,
        ("purchase", "amount", "wrong_type"): 2,
        ("mystery", "", "unknown_event"): 1,
    }


def test_segment_track_route_enforced(ingest_client):
    project = with_plan(TrackingPlan.Mode.ENFORCE)
    auth = "Basic " + base64.b64encode(f"{project.api_key}:".encode()).decode()
    refused = ingest_client.generic(
        "POST", "/v1/track", orjson.dumps({"userId": "u", "event": "signup", "properties": {"plan": 3}}), content_type="application/json", HTTP_AUTHORIZATION=auth
    )
    assert refused.status_code == 400
    assert refused.json()["errors"] == [{"index": 0, "field": "properties.plan", "message": "must be a string (tracking plan of 'signup'), got a number"}]
    accepted = ingest_client.generic(
        "POST", "/v1/track", orjson.dumps({"userId": "u", "event": "signup", "properties": {"plan": "pro"}}), content_type="application/json", HTTP_AUTHORIZATION=auth
    )
    assert (accepted.status_code, accepted.json()) == (200, {"success": True})
    flush()
    assert [event for event, _ in stored(project.id)] == ["signup"]


def test_segment_identify_is_a_dollar_event_and_its_traits_are_its_properties(ingest_client):
    member = MembershipFactory()
    events = [{"name": "$identify", "properties": [{"name": "email", "type": "string"}]}]
    tracking_plan_update(project=member.project, user=member.user, mode="enforce", allow_dollar_events=True, events=events)
    auth = "Basic " + base64.b64encode(f"{member.project.api_key}:".encode()).decode()
    response = ingest_client.generic("POST", "/v1/identify", orjson.dumps({"userId": "u", "traits": {"plan": "pro"}}), content_type="application/json", HTTP_AUTHORIZATION=auth)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "traits.email"  # named as the client sent it


def test_nothing_valid_is_400_on_the_native_door(ingest_client):
    project = with_plan(TrackingPlan.Mode.ENFORCE)
    response = ingest_client.post("/api/v1/events", {"event": "mystery", "distinct_id": "u"}, format="json", HTTP_X_API_KEY=project.api_key)
    assert response.status_code == 400
    assert response.json()["errors"] == [{"index": 0, "field": "event", "message": "'mystery' is not in the project's tracking plan"}]
    flush()
    assert stored(project.id) == []


def test_without_the_dollar_group_dollar_events_must_be_listed(ingest_client):
    project = with_plan(TrackingPlan.Mode.ENFORCE, allow_dollar=False)
    body = {"events": [{"event": "$pageview", "distinct_id": "u"}, {"event": "signup", "distinct_id": "u", "properties": {"plan": "pro"}}]}
    response = ingest_client.post("/api/v1/events", body, format="json", HTTP_X_API_KEY=project.api_key)
    assert response.status_code == 202
    assert response.json()["errors"] == [{"index": 0, "field": "event", "message": "'$pageview' is not in the project's tracking plan"}]
    flush()
    assert [event for event, _ in stored(project.id)] == ["signup"]


def test_off_mode_and_no_plan_check_nothing(ingest_client):
    for project in (with_plan(TrackingPlan.Mode.OFF), MembershipFactory().project):
        response = ingest_client.post("/api/v1/events", {"event": "mystery", "distinct_id": "u"}, format="json", HTTP_X_API_KEY=project.api_key)
        assert response.status_code == 202 and response.json()["errors"] == []
        assert plan_violations_for_project(project_id=project.id) == []


def test_a_plan_change_applies_at_once_in_this_process(ingest_client):
    project = with_plan(TrackingPlan.Mode.ENFORCE)
    body = {"event": "mystery", "distinct_id": "u"}
    assert ingest_client.post("/api/v1/events", body, format="json", HTTP_X_API_KEY=project.api_key).status_code == 400
    owner = project.memberships.get().user
    tracking_plan_update(project=project, user=owner, mode="enforce", allow_dollar_events=True, events=[*PLAN, {"name": "mystery"}])
    assert ingest_client.post("/api/v1/events", body, format="json", HTTP_X_API_KEY=project.api_key).status_code == 202


def test_violations_accumulate_and_keep_the_last_time(ingest_client):
    project = with_plan(TrackingPlan.Mode.OBSERVE)
    for _ in range(2):
        ingest_client.post("/api/v1/events", {"event": "mystery", "distinct_id": "u"}, format="json", HTTP_X_API_KEY=project.api_key)
        first = plan_violations_for_project(project_id=project.id)  # folds Redis into Postgres between requests
    ingest_client.post("/api/v1/events", {"events": [{"event": "mystery", "distinct_id": "u"}] * 3}, format="json", HTTP_X_API_KEY=project.api_key)
    (violation,) = plan_violations_for_project(project_id=project.id)
    assert (violation.event, violation.kind, violation.count) == ("mystery", "unknown_event", 5)
    assert violation.last_seen >= first[0].last_seen


def test_violations_of_one_project_are_not_another_s(ingest_client):
    a, b = with_plan(TrackingPlan.Mode.OBSERVE), with_plan(TrackingPlan.Mode.OBSERVE)
    ingest_client.post("/api/v1/events", {"event": "mystery", "distinct_id": "u"}, format="json", HTTP_X_API_KEY=a.api_key)
    assert plan_violations_for_project(project_id=b.id) == []
    assert [v.count for v in plan_violations_for_project(project_id=a.id)] == [1]


def test_a_plan_changed_by_another_process_applies_within_the_cache_time(ingest_client, monkeypatch):
    from apps.ingest import plan as plan_module

    project = with_plan(TrackingPlan.Mode.ENFORCE)
    clock = [1000.0]
    monkeypatch.setattr(plan_module, "monotonic", lambda: clock[0])
    plan_module.tracking_plan_cache_clear()
    body = {"event": "mystery", "distinct_id": "u"}
    assert ingest_client.post("/api/v1/events", body, format="json", HTTP_X_API_KEY=project.api_key).status_code == 400
    # Another process saves the plan: the row changes, this process's memory does not.
    TrackingPlan.objects.filter(project=project).update(mode=TrackingPlan.Mode.OFF)
    clock[0] += plan_module.PLAN_CACHE_SECONDS - 1
    assert ingest_client.post("/api/v1/events", body, format="json", HTTP_X_API_KEY=project.api_key).status_code == 400
    clock[0] += 2
    assert ingest_client.post("/api/v1/events", body, format="json", HTTP_X_API_KEY=project.api_key).status_code == 202
