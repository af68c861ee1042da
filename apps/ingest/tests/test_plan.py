"""The tracking plan: its checks, its API (GET/PUT, 400s naming the field), its page (who
edits, errors, suggestions, empty state), the violations on the Events page, and the
violation counts when Redis or Postgres fail."""

from __future__ import annotations

import re
import time

import pytest
import redis
from django.test import Client
from rest_framework.test import APIClient

from apps.ingest import plan as plan_module
from apps.ingest import stream
from apps.ingest.models import PlanViolation, TrackingPlan
from apps.ingest.plan import (
    CompiledPlan,
    plan_violations_count,
    plan_violations_flush,
    plan_violations_for_project,
    plan_violations_merge,
    tracking_plan_update,
)
from apps.ingest.validation import PlanViolation as Breach
from apps.projects.services import personal_api_key_create
from conftest import MembershipFactory, UserFactory, flush, post_events

pytestmark = pytest.mark.django_db

PLAN_BODY = {
    "mode": "enforce",
    "allow_dollar_events": False,
    "events": [
        {"name": "signup", "description": "A new account", "properties": [{"name": "plan", "type": "string"}]},
        {"name": "purchase", "properties": [{"name": "amount", "type": "number"}, {"name": "trial", "type": "boolean"}]},
    ],
}


# --- The check ------------------------------------------------------------------------------


PLAN = CompiledPlan(enforce=True, allow_dollar=True, events={"buy": (("amount", "number"), ("trial", "boolean"), ("sku", "string")), "ping": ()})


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ({"amount": 1, "trial": False, "sku": "a"}, []),
        ({"amount": 1.5, "trial": True, "sku": ""}, []),
        ({"amount": "1", "trial": False, "sku": "a"}, [("amount", "wrong_type")]),  # a number as a string
        ({"amount": True, "trial": False, "sku": "a"}, [("amount", "wrong_type")]),  # booleans are not numbers
        ({"amount": 1, "trial": "true", "sku": "a"}, [("trial", "wrong_type")]),
        ({"amount": 1, "trial": 0, "sku": "a"}, [("trial", "wrong_type")]),
        ({"amount": 1, "trial": False, "sku": 5}, [("sku", "wrong_type")]),
        ({"amount": 1, "trial": False, "sku": ["a"]}, [("sku", "wrong_type")]),
        ({"amount": None, "trial": False, "sku": "a"}, [("amount", "missing_property")]),  # null is missing
        ({}, [("amount", "missing_property"), ("trial", "missing_property"), ("sku", "missing_property")]),
    ],
)
def test_typed_properties(properties, expected):
    breaches = PLAN.check({"event": "buy", "properties": properties})
    assert [(b.property, b.kind) for b in breaches] == expected


def test_names_and_the_dollar_group():
    assert PLAN.check({"event": "ping"}) == []
    assert [(b.event, b.property, b.kind) for b in PLAN.check({"event": "pong"})] == [("pong", "", "unknown_event")]
    assert PLAN.check({"event": "$pageview"}) == []
    strict = CompiledPlan(enforce=True, allow_dollar=False, events=PLAN.events)
    assert [b.kind for b in strict.check({"event": "$pageview"})] == ["unknown_event"]
    assert [b.kind for b in PLAN.check({"event": "buy", "properties": "junk"})] == ["missing_property"] * 3


# --- The API --------------------------------------------------------------------------------


def api_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {personal_api_key_create(user=user, label='t').secret}")
    return client


def url(project) -> str:
    return f"/api/v1/projects/{project.id}/tracking-plan"


def test_api_get_without_a_plan(member):
    response = api_client(member.user).get(url(member.project))
    assert response.status_code == 200
    assert response.json() == {"mode": "off", "allow_dollar_events": True, "events": [], "updated_at": None, "updated_by": None, "violations": []}


def test_api_put_then_get(member, ingest_client):
    client = api_client(member.user)
    response = client.put(url(member.project), PLAN_BODY, format="json")
    assert response.status_code == 200, response.json()
    body = client.get(url(member.project)).json()
    assert body["mode"] == "enforce" and body["allow_dollar_events"] is False
    assert body["events"][0] == {"name": "signup", "description": "A new account", "properties": [{"name": "plan", "type": "string"}]}
    assert body["events"][1]["description"] == ""
    assert body["updated_by"] == member.user.username and body["updated_at"]
    # It applies to ingest at once.
    refused = post_events(ingest_client, member.project.api_key, {"event": "$pageview", "distinct_id": "u"})
    assert refused.status_code == 400


def test_api_violations_are_in_the_answer(member, ingest_client):
    client = api_client(member.user)
    client.put(url(member.project), {**PLAN_BODY, "mode": "observe"}, format="json")
    post_events(ingest_client, member.project.api_key, {"events": [{"event": "signup", "distinct_id": "u", "properties": {"plan": 1}}] * 2})
    (violation,) = client.get(url(member.project)).json()["violations"]
    assert {k: violation[k] for k in ("event", "property", "kind", "count")} == {"event": "signup", "property": "plan", "kind": "wrong_type", "count": 2}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**PLAN_BODY, "mode": "strict"}, "mode"),
        ({"events": []}, "mode"),
        ({**PLAN_BODY, "allow_dollar_events": "yes"}, "allow_dollar_events"),
        ({**PLAN_BODY, "events": "signup"}, "events"),
        ({**PLAN_BODY, "events": [{"name": ""}]}, "events.0.name"),
        ({**PLAN_BODY, "events": [{"name": "  "}]}, "events.0.name"),
        ({**PLAN_BODY, "events": [{"name": 7}]}, "events.0.name"),
        ({**PLAN_BODY, "events": [{"name": "a"}, {"name": "b"}, {"name": "a"}]}, "events.2.name"),
        ({**PLAN_BODY, "events": [{"name": "a", "properties": [{"name": "x", "type": "integer"}]}]}, "events.0.properties.0.type"),
        ({**PLAN_BODY, "events": [{"name": "a", "properties": [{"name": "x"}]}]}, "events.0.properties.0.type"),
        ({**PLAN_BODY, "events": [{"name": "a", "properties": [{"name": "", "type": "string"}]}]}, "events.0.properties.0.name"),
        ({**PLAN_BODY, "events": [{"name": "a", "properties": [{"name": "x", "type": "string"}, {"name": "x", "type": "number"}]}]}, "events.0.properties.1.name"),
        ({**PLAN_BODY, "events": [{"name": "a", "color": "red"}]}, "events.0.color"),
        ({**PLAN_BODY, "events": [{"name": "a" * 201}]}, "events.0.name"),
        ({**PLAN_BODY, "events": ["a"]}, "events.0"),
        ({**PLAN_BODY, "extra": 1}, "extra"),
    ],
)
def test_api_bad_input_is_400_naming_the_field(member, body, field):
    client = api_client(member.user)
    response = client.put(url(member.project), body, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == field and response.json()["error"] == "invalid_parameter"
    assert not TrackingPlan.objects.filter(project=member.project).exists()


def test_api_body_that_is_not_an_object(member):
    response = api_client(member.user).put(url(member.project), [1, 2], format="json")
    assert response.status_code == 400 and response.json()["field"] == "body"


def test_api_roles(member):
    viewer = MembershipFactory(project=member.project, user=UserFactory(), role="viewer").user
    client = api_client(viewer)
    assert client.get(url(member.project)).status_code == 200
    assert client.put(url(member.project), PLAN_BODY, format="json").status_code == 403
    stranger = api_client(UserFactory())
    assert stranger.get(url(member.project)).status_code == 404
    assert APIClient().get(url(member.project)).status_code in (401, 403)


def test_api_is_in_the_openapi_schema(client, member):
    client.force_login(member.user)
    schema = client.get("/api/schema/?format=json").json()
    path = schema["paths"]["/api/v1/projects/{project_id}/tracking-plan"]
    assert set(path) >= {"get", "put"}


# --- The page -------------------------------------------------------------------------------


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_url(project) -> str:
    return f"/projects/{project.id}/tracking-plan/"


def test_page_empty_state_and_suggestions_from_the_catalog(member, ingest_client):
    post_events(ingest_client, member.project.api_key, {"events": [{"event": "checkout_done", "distinct_id": "u"}]})
    flush()
    html = logged_in(member.user).get(page_url(member.project)).content.decode()
    assert "Save tracking plan" in html and 'value="off" checked' in html
    assert '<option value="checkout_done">' in html  # suggested in the datalist
    assert "<code>checkout_done</code>" in html
    assert "No violations counted" in html


def test_page_saves_the_plan(member, ingest_client):
    form = {
        "mode": "enforce",
        "allow_dollar_events": "on",
        "events-0-name": "signup",
        "events-0-properties": "plan:string, seats : number,trial:Boolean",
        "events-0-description": "A new account",
        "events-1-name": "",
        "events-1-properties": "",
        "events-2-name": "purchase",
    }
    response = logged_in(member.user).post(page_url(member.project), form)
    assert response.status_code == 302
    plan = TrackingPlan.objects.get(project=member.project)
    assert plan.mode == "enforce" and plan.allow_dollar_events is True
    assert plan.events == [
        {"name": "signup", "description": "A new account", "properties": [{"name": "plan", "type": "string"}, {"name": "seats", "type": "number"}, {"name": "trial", "type": "boolean"}]},
        {"name": "purchase", "description": "", "properties": []},
    ]
    html = logged_in(member.user).get(page_url(member.project)).content.decode()
    assert 'value="plan:string, seats:number, trial:boolean"' in html
    assert post_events(ingest_client, member.project.api_key, {"event": "signup", "distinct_id": "u"}).status_code == 400


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"mode": "observe", "events-0-name": "a", "events-0-properties": "plan:text"}, "the type must be one of string, number, boolean"),
        ({"mode": "observe", "events-0-name": "a", "events-0-properties": "plan"}, "the type must be one of"),
        ({"mode": "observe", "events-0-name": "", "events-0-properties": "plan:string"}, "must not be empty"),
        ({"mode": "observe", "events-0-name": "a", "events-1-name": "a"}, "listed twice"),
        ({"mode": "loud", "events-0-name": "a"}, "must be one of off, observe, enforce"),
    ],
)
def test_page_bad_input_is_400_with_the_form_as_typed(member, form, message):
    response = logged_in(member.user).post(page_url(member.project), form)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Not saved." in html and message in html
    assert not TrackingPlan.objects.filter(project=member.project).exists()
    if form.get("events-0-properties"):
        assert f'value="{form["events-0-properties"]}"' in html


def test_viewer_reads_but_cannot_edit(member):
    tracking_plan_update(project=member.project, user=member.user, mode="observe", allow_dollar_events=True, events=PLAN_BODY["events"])
    viewer = logged_in(MembershipFactory(project=member.project, user=UserFactory(), role="viewer").user)
    html = viewer.get(page_url(member.project)).content.decode()
    assert "Mode: Observe" in html and "<code>plan:string</code>" in html
    assert "Save tracking plan" not in html
    assert viewer.post(page_url(member.project), {"mode": "off"}).status_code == 403
    assert TrackingPlan.objects.get(project=member.project).mode == "observe"


def test_viewer_empty_state(member):
    viewer = logged_in(MembershipFactory(project=member.project, user=UserFactory(), role="viewer").user)
    assert "No tracking plan yet" in viewer.get(page_url(member.project)).content.decode()


def test_reset_forgets_the_counts(member, ingest_client):
    tracking_plan_update(project=member.project, user=member.user, mode="observe", allow_dollar_events=True, events=PLAN_BODY["events"])
    post_events(ingest_client, member.project.api_key, {"event": "mystery", "distinct_id": "u"})
    assert plan_violations_for_project(project_id=member.project.id)
    post_events(ingest_client, member.project.api_key, {"event": "mystery", "distinct_id": "u"})  # still in Redis
    assert logged_in(member.user).post(f"/projects/{member.project.id}/tracking-plan/violations/reset/").status_code == 302
    assert plan_violations_for_project(project_id=member.project.id) == []


# --- The Events page ------------------------------------------------------------------------


def test_events_page_shows_violations_by_event_and_property(member, ingest_client):
    tracking_plan_update(project=member.project, user=member.user, mode="observe", allow_dollar_events=True, events=PLAN_BODY["events"])
    body = {
        "events": [
            {"event": "signup", "distinct_id": "u", "properties": {}},
            {"event": "signup", "distinct_id": "u", "properties": {"plan": 3}},
            {"event": "purchase", "distinct_id": "u", "properties": {"amount": "9.99", "trial": False}},
            {"event": "purchase", "distinct_id": "u", "properties": {"amount": 9.99, "trial": False}},
            {"event": "$pageview", "distinct_id": "u"},
        ]
    }
    assert post_events(ingest_client, member.project.api_key, body).status_code == 202
    flush()
    html = logged_in(member.user).get(f"/projects/{member.project.id}/events/").content.decode()
    badges = dict(re.findall(r'<tr data-event="([^"]+)">.*?(?:data-violations="(\d+)"|</tr>)', html, re.S))
    assert badges == {"signup": "2", "purchase": "1", "$pageview": ""}
    violations = set(re.findall(r'data-violation="([^"]+)"', html))
    assert violations == {"signup|plan|missing_property", "signup|plan|wrong_type", "purchase|amount|wrong_type"}
    assert "Tracking plan violations" in html and "Tracking plan · observe" in html


def test_events_page_without_violations_shows_no_table(member, ingest_client):
    post_events(ingest_client, member.project.api_key, {"event": "signup", "distinct_id": "u"})
    flush()
    html = logged_in(member.user).get(f"/projects/{member.project.id}/events/").content.decode()
    assert "data-violations" not in html and "Tracking plan violations" not in html


# --- Failures ---------------------------------------------------------------------------------


def test_redis_down_when_reading_shows_what_postgres_holds(member, monkeypatch):
    plan_violations_count(project_id=member.project.id, violations=[Breach("e", "", "unknown_event", "m")])
    plan_violations_flush()
    plan_violations_merge(project_id=member.project.id)
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(stream, "client", lambda: dead)
    assert [v.count for v in plan_violations_for_project(project_id=member.project.id)] == [1]
    response = logged_in(member.user).get(page_url(member.project))
    assert response.status_code == 200


def test_a_failed_fold_puts_the_counts_back(member, monkeypatch):
    plan_violations_count(project_id=member.project.id, violations=[Breach("e", "p", "wrong_type", "m")] * 3)
    plan_violations_flush()

    def broken(*args, **kwargs):
        raise RuntimeError("postgres is down")

    monkeypatch.setattr(plan_module, "_fold", broken)
    with pytest.raises(RuntimeError):
        plan_violations_merge(project_id=member.project.id)
    monkeypatch.undo()
    assert plan_violations_merge(project_id=member.project.id) == 1
    assert PlanViolation.objects.get(project=member.project).count == 3


def test_counting_costs_no_round_trip_and_a_flush_one(member, monkeypatch):
    calls = []
    real = stream.client()

    class Spy:
        def pipeline(self, **kwargs):
            calls.append("pipeline")
            return real.pipeline(**kwargs)

    monkeypatch.setattr(stream, "client", lambda: Spy())
    plan_violations_flush()  # whatever another test left
    calls.clear()
    plan_violations_count(project_id=member.project.id, violations=[])
    plan_violations_count(project_id=member.project.id, violations=[Breach("e", "p", "wrong_type", "m"), Breach("f", "", "unknown_event", "m")])
    plan_violations_count(project_id=member.project.id, violations=[Breach("e", "p", "wrong_type", "m")])
    plan_violations_flush()  # the process's thread may have pushed them already: one round trip either way
    assert calls == ["pipeline"]
    monkeypatch.undo()
    counted = {(v.event, v.property, v.kind): v.count for v in plan_violations_for_project(project_id=member.project.id)}
    assert counted == {("e", "p", "wrong_type"): 2, ("f", "", "unknown_event"): 1}


def test_counts_wait_for_redis_when_it_is_down(member, monkeypatch):
    plan_violations_count(project_id=member.project.id, violations=[Breach("e", "p", "wrong_type", "m")] * 2)
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(stream, "client", lambda: dead)
    with pytest.raises(redis.ConnectionError):
        plan_violations_flush()
    monkeypatch.undo()
    plan_violations_count(project_id=member.project.id, violations=[Breach("e", "p", "wrong_type", "m")])
    assert [v.count for v in plan_violations_for_project(project_id=member.project.id)] == [3]


def test_the_process_thread_pushes_counts_to_redis(member):
    plan_violations_count(project_id=member.project.id, violations=[Breach("e", "p", "wrong_type", "m")])
    key = f"{plan_module.settings.REDIS_KEY_PREFIX}:plan-violations:{member.project.id}"
    deadline = time.monotonic() + 10
    while not stream.client().hget(key, "e\x1fp\x1fwrong_type") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stream.client().hget(key, "e\x1fp\x1fwrong_type") == b"1"


@pytest.mark.parametrize(("add", "rows"), [("", 3), ("5", 8), ("500", 53), ("²", 3), ("-1", 3), ("x", 3)])
def test_page_more_empty_rows(member, add, rows):
    html = logged_in(member.user).get(page_url(member.project), {"add": add}).content.decode()
    assert html.count("data-plan-row=") == rows
