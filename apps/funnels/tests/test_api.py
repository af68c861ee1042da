"""The funnels API: CRUD, validation, tenancy, and results on events sent through ingest."""

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import time_machine
import yaml
from rest_framework.test import APIClient

from apps.funnels.models import Funnel
from apps.funnels.services import funnel_create
from conftest import MembershipFactory, flush, post_events

pytestmark = pytest.mark.django_db

BODY = {
    "name": "Signup → purchase",
    "description": "New users who buy",
    "steps": [
        {"event": "signed_up", "label": "Signed up"},
        {"event": "created_project", "filters": [{"key": "plan", "operator": "is_set"}]},
        {"event": "purchase", "filters": [{"key": "amount", "operator": "not_equals", "value": 0}]},
    ],
    "window": {"value": 7, "unit": "days"},
    "order_mode": "ordered",
    "breakdown_property": "",
}


def base(project_id):
    return f"/api/v1/projects/{project_id}/funnels"


def ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def journeys(member, ingest_client):
    """Three people two days ago: ann does all three steps, bob drops after step 2, cat
    only signs up. ann is on Chrome, bob and cat on Firefox."""
    t0 = (datetime.now(timezone.utc) - timedelta(days=2)).replace(microsecond=0)
    events = []
    for person, browser, names in [
        ("ann", "Chrome", ["signed_up", "created_project", "purchase"]),
        ("bob", "Firefox", ["signed_up", "created_project"]),
        ("cat", "Firefox", ["signed_up"]),
    ]:
        for i, name in enumerate(names):
            events.append(
                {
                    "event": name,
                    "distinct_id": person,
                    "timestamp": ts(t0 + timedelta(minutes=10 * i)),
                    "properties": {"browser": browser, "plan": "pro"},
                }
            )
    events.append({"event": "$pageview", "distinct_id": "dan", "timestamp": ts(t0)})
    assert post_events(ingest_client, member.project.api_key, {"events": events}).status_code == 202
    flush()
    return t0


# --- CRUD ------------------------------------------------------------------------------------


def test_create_then_read_back(member, reader):
    response = reader.post(base(member.project.id), BODY, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == BODY["name"] and body["description"] == BODY["description"]
    assert body["steps"] == [
        {"event": "signed_up", "label": "Signed up", "filters": []},
        {"event": "created_project", "label": "", "filters": [{"key": "plan", "operator": "is_set", "value": ""}]},
        {"event": "purchase", "label": "", "filters": [{"key": "amount", "operator": "not_equals", "value": "0"}]},
    ]
    assert body["window"] == {"value": 7, "unit": "days"}
    assert body["order_mode"] == "ordered" and body["breakdown_property"] == ""
    assert body["created_by"] == member.user.username
    assert body["created_at"] and body["updated_at"]
    assert reader.get(f"{base(member.project.id)}/{body['id']}").json() == body
    assert reader.get(base(member.project.id)).json() == [body]


def test_defaults(member, reader):
    body = reader.post(base(member.project.id), {"name": "f", "steps": [{"event": "a"}, {"event": "b"}]}, format="json").json()
    assert body["window"] == {"value": 14, "unit": "days"}
    assert body["order_mode"] == "ordered" and body["description"] == "" and body["breakdown_property"] == ""


def test_put_replaces_the_whole_definition(member, reader):
    funnel_id = reader.post(base(member.project.id), BODY, format="json").json()["id"]
    new = {"name": "Renamed", "steps": [{"event": "x"}, {"event": "y"}], "order_mode": "strict", "window": {"value": 30, "unit": "minutes"}}
    response = reader.put(f"{base(member.project.id)}/{funnel_id}", new, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["name"] == "Renamed" and body["description"] == ""
    assert [s["event"] for s in body["steps"]] == ["x", "y"]
    assert body["order_mode"] == "strict" and body["window"] == {"value": 30, "unit": "minutes"}
    assert Funnel.objects.get(id=funnel_id).steps.count() == 2


def test_delete(member, reader):
    funnel_id = reader.post(base(member.project.id), BODY, format="json").json()["id"]
    assert reader.delete(f"{base(member.project.id)}/{funnel_id}").status_code == 204
    assert reader.get(f"{base(member.project.id)}/{funnel_id}").status_code == 404
    assert not Funnel.objects.exists()


def test_session_login_works_too(member, client):
    client.force_login(member.user)
    assert client.get(base(member.project.id)).status_code == 200


def test_reading_needs_a_login(member):
    assert APIClient().get(base(member.project.id)).status_code in (401, 403)


# --- Validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"order_mode": "sideways"}, "order_mode"),
        ({"steps": [{"event": "a"}]}, "steps"),
        ({"steps": [{"event": f"e{i}"} for i in range(21)]}, "steps"),
        ({"steps": []}, "steps"),
        ({"steps": [{"event": "a"}, {"event": ""}]}, "steps"),
        ({"steps": [{"event": "a"}, {"event": "   "}]}, "steps"),
        ({"window": {"value": 7, "unit": "weeks"}}, "window"),
        ({"window": {"value": 0, "unit": "days"}}, "window"),
        ({"window": {"value": 400, "unit": "days"}}, "window"),
        ({"steps": [{"event": "a"}, {"event": "b", "filters": [{"key": "plan", "operator": "like", "value": "x"}]}]}, "steps"),
        ({"steps": [{"event": "a"}, {"event": "b", "filters": [{"key": "plan", "operator": "equals"}]}]}, "steps"),
        ({"steps": [{"event": "a"}, {"event": "b", "filters": [{"key": "", "operator": "equals", "value": "x"}]}]}, "steps"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_definitions_get_field_errors(member, reader, change, field):
    for response in [
        reader.post(base(member.project.id), {**BODY, **change}, format="json"),
        reader.post(f"{base(member.project.id)}/query", {**BODY, **change}, format="json") if field != "name" else None,
    ]:
        if response is None:
            continue
        assert response.status_code == 400
        body = response.json()
        assert body["error"] == "invalid_input" and body["field"].split(".")[0] == field, body
        assert body["errors"][0] == {"field": body["field"], "message": body["message"]}
    assert not Funnel.objects.exists()


def test_step_count_error_is_readable(member, reader):
    response = reader.post(base(member.project.id), {**BODY, "steps": [{"event": "a"}]}, format="json")
    message = "A funnel needs between 2 and 20 steps."
    assert response.json() == {"error": "invalid_input", "message": message, "field": "steps", "errors": [{"field": "steps", "message": message}]}


def test_bad_put_changes_nothing(member, reader):
    funnel_id = reader.post(base(member.project.id), BODY, format="json").json()["id"]
    response = reader.put(f"{base(member.project.id)}/{funnel_id}", {**BODY, "name": "x", "steps": [{"event": "a"}]}, format="json")
    assert response.status_code == 400
    assert Funnel.objects.get(id=funnel_id).name == BODY["name"]


# --- Tenancy ----------------------------------------------------------------------------------


def test_other_projects_are_404(member, reader):
    other = MembershipFactory()
    theirs = funnel_create(project=other.project, name="theirs", steps=[{"event": "a"}, {"event": "b"}])
    p = other.project.id
    assert reader.get(base(p)).status_code == 404
    assert reader.post(base(p), BODY, format="json").status_code == 404
    assert reader.get(f"{base(p)}/{theirs.id}").status_code == 404
    assert reader.put(f"{base(p)}/{theirs.id}", BODY, format="json").status_code == 404
    assert reader.delete(f"{base(p)}/{theirs.id}").status_code == 404
    assert reader.get(f"{base(p)}/{theirs.id}/results").status_code == 404
    assert reader.post(f"{base(p)}/query", BODY, format="json").status_code == 404
    # Their funnel's id under my project is no better.
    mine = base(member.project.id)
    assert reader.get(f"{mine}/{theirs.id}").status_code == 404
    assert reader.get(f"{mine}/{theirs.id}/results").status_code == 404
    assert reader.delete(f"{mine}/{theirs.id}").status_code == 404
    assert Funnel.objects.filter(id=theirs.id).exists()
    assert reader.get(mine).json() == []


# --- Results ----------------------------------------------------------------------------------


def test_results_are_the_engine_numbers(member, reader, journeys):
    funnel = funnel_create(project=member.project, name="f", steps=[{"event": "signed_up"}, {"event": "created_project"}, {"event": "purchase"}])
    # The clock stands still while the server resolves "the last 7 days" and the test says
    # which days those are: a run across midnight cannot see two different todays.
    with time_machine.travel(datetime.now(timezone.utc), tick=False):
        response = reader.get(f"{base(member.project.id)}/{funnel.id}/results?range=7d")
        today = datetime.now(timezone.utc).date()
    assert response.status_code == 200
    body = response.json()
    assert [s["count"] for s in body["steps"]] == [3, 2, 1]
    assert [s["conversion_from_start"] for s in body["steps"]] == [100.0, 66.67, 33.33]
    assert [s["conversion_from_previous"] for s in body["steps"]] == [100.0, 66.67, 50.0]
    assert [s["drop_off"] for s in body["steps"]] == [0, 1, 1]
    assert [s["avg_time_to_convert"] for s in body["steps"]] == [None, 600.0, 600.0]
    assert [s["median_time_to_convert"] for s in body["steps"]] == [None, 600.0, 600.0]
    assert body["mode"] == "ordered" and body["window_seconds"] == 14 * 86400
    assert body["breakdown"] is None and body["breakdown_values"] == []
    assert body["timezone"] == "UTC"
    assert body["date_from"].startswith((today - timedelta(days=6)).isoformat())
    assert body["date_to"].startswith((today + timedelta(days=1)).isoformat())


def test_results_follow_the_range_and_the_timezone(member, reader, journeys):
    member.project.timezone = "Asia/Tokyo"
    member.project.save()
    funnel = funnel_create(project=member.project, name="f", steps=[{"event": "signed_up"}, {"event": "purchase"}])
    url = f"{base(member.project.id)}/{funnel.id}/results"
    day = journeys.astimezone(ZoneInfo("Asia/Tokyo")).date()
    body = reader.get(f"{url}?date_from={day}&date_to={day}").json()
    assert [s["count"] for s in body["steps"]] == [3, 1]
    assert body["timezone"] == "Asia/Tokyo"
    before = day - timedelta(days=3)
    assert [s["count"] for s in reader.get(f"{url}?date_from={before}&date_to={before}").json()["steps"]] == [0, 0]
    bad = reader.get(f"{url}?date_from=yesterday&date_to=today")
    assert bad.status_code == 400 and bad.json()["field"] == "date_from"


def test_breakdown_parameter_overrides_the_saved_one(member, reader, journeys):
    funnel = funnel_create(
        project=member.project, name="f", steps=[{"event": "signed_up"}, {"event": "created_project"}], breakdown_property="plan"
    )
    url = f"{base(member.project.id)}/{funnel.id}/results?range=7d"
    saved = reader.get(url).json()
    assert saved["breakdown"] == "plan"
    assert [(v["value"], [s["count"] for s in v["steps"]]) for v in saved["breakdown_values"]] == [("pro", [3, 2])]
    by_browser = reader.get(url + "&breakdown=browser").json()
    assert by_browser["breakdown"] == "browser"
    values = {v["value"]: [s["count"] for s in v["steps"]] for v in by_browser["breakdown_values"]}
    assert values == {"Firefox": [2, 1], "Chrome": [1, 1]}
    assert [s["count"] for s in by_browser["steps"]] == [3, 2]
    none = reader.get(url + "&breakdown=").json()
    assert none["breakdown"] is None and none["breakdown_values"] == []


def test_filters_and_modes_reach_the_engine(member, reader, journeys):
    steps = [{"event": "signed_up", "filters": [{"key": "browser", "operator": "equals", "value": "Firefox"}]}, {"event": "created_project"}]
    body = reader.post(f"{base(member.project.id)}/query", {"steps": steps, "range": "7d"}, format="json").json()
    assert [s["count"] for s in body["steps"]] == [2, 1]
    strict = reader.post(
        f"{base(member.project.id)}/query",
        {"steps": [{"event": "signed_up"}, {"event": "purchase"}], "order_mode": "strict", "range": "7d"},
        format="json",
    ).json()
    assert [s["count"] for s in strict["steps"]] == [3, 0]  # ann created a project in between
    short = reader.post(
        f"{base(member.project.id)}/query",
        {"steps": [{"event": "signed_up"}, {"event": "purchase"}], "window": {"value": 5, "unit": "minutes"}, "range": "7d"},
        format="json",
    ).json()
    assert [s["count"] for s in short["steps"]] == [3, 0]  # ann bought after 20 minutes


def test_query_runs_without_saving_and_matches_saved_results(member, reader, journeys):
    response = reader.post(f"{base(member.project.id)}/query", {**BODY, "steps": [{"event": "signed_up"}, {"event": "created_project"}, {"event": "purchase"}]}, format="json")
    assert response.status_code == 200, response.json()
    adhoc = response.json()
    assert [s["count"] for s in adhoc["steps"]] == [3, 2, 1]
    assert not Funnel.objects.exists()
    saved_id = reader.post(base(member.project.id), {**BODY, "steps": [{"event": "signed_up"}, {"event": "created_project"}, {"event": "purchase"}]}, format="json").json()["id"]
    saved = reader.get(f"{base(member.project.id)}/{saved_id}/results?range=30d").json()
    assert saved["steps"] == adhoc["steps"]
    dated = reader.post(
        f"{base(member.project.id)}/query",
        {"steps": [{"event": "signed_up"}, {"event": "purchase"}], "date_from": "2020-01-01", "date_to": "2020-01-31"},
        format="json",
    ).json()
    assert [s["count"] for s in dated["steps"]] == [0, 0] and dated["date_from"].startswith("2020-01-01")
    bad = reader.post(f"{base(member.project.id)}/query", {"steps": [{"event": "a"}, {"event": "b"}], "date_from": "2020-01-01"}, format="json")
    assert bad.status_code == 400 and bad.json()["field"] == "date_to"


def test_the_schema_documents_the_endpoints(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    for path in [
        "/api/v1/projects/{project_id}/funnels",
        "/api/v1/projects/{project_id}/funnels/{funnel_id}",
        "/api/v1/projects/{project_id}/funnels/{funnel_id}/results",
        "/api/v1/projects/{project_id}/funnels/query",
    ]:
        assert path in schema["paths"]
    operations = schema["paths"]["/api/v1/projects/{project_id}/funnels/{funnel_id}"]
    assert {"get", "put", "delete"} <= set(operations)
    results = schema["components"]["schemas"]["FunnelResults"]["properties"]
    assert {"steps", "breakdown_values", "date_from", "date_to", "timezone"} <= set(results)
    funnel = schema["components"]["schemas"]["Funnel"]["properties"]
    assert {"id", "name", "steps", "window", "order_mode", "breakdown_property", "created_by"} <= set(funnel)


def test_person_filters_and_breakdowns_across_merged_ids(member, reader, ingest_client):
    """eve browses anonymously, signs up (which merges her anonymous id), then buys; her
    person properties say she is on the pro tier. Steps filter and break down by them."""
    t0 = (datetime.now(timezone.utc) - timedelta(days=1)).replace(microsecond=0)
    events = [
        {"event": "$pageview", "anonymous_id": "eve-anon", "timestamp": ts(t0)},
        {"event": "signed_up", "user_id": "eve", "anonymous_id": "eve-anon", "timestamp": ts(t0 + timedelta(minutes=1)),
         "properties": {"$set": {"tier": "pro"}}},
        {"event": "purchase", "user_id": "eve", "timestamp": ts(t0 + timedelta(minutes=2))},
        {"event": "$pageview", "anonymous_id": "fay-anon", "timestamp": ts(t0)},
        {"event": "signed_up", "user_id": "fay", "anonymous_id": "fay-anon", "timestamp": ts(t0 + timedelta(minutes=1)),
         "properties": {"$set": {"tier": "free"}}},
    ]
    assert post_events(ingest_client, member.project.api_key, {"events": events}).status_code == 202
    flush()
    steps = [{"event": "$pageview"}, {"event": "signed_up"}, {"event": "purchase"}]
    body = {"steps": steps, "range": "7d", "breakdown_property": "tier", "breakdown_type": "person"}
    result = reader.post(f"{base(member.project.id)}/query", body, format="json").json()
    assert [s["count"] for s in result["steps"]] == [2, 2, 1]
    assert result["breakdown_type"] == "person"
    assert {v["value"]: [s["count"] for s in v["steps"]] for v in result["breakdown_values"]} == {"pro": [1, 1, 1], "free": [1, 1, 0]}
    only_pro = [{"event": "$pageview", "filters": [{"key": "tier", "operator": "equals", "value": "pro", "type": "person"}]}, *steps[1:]]
    filtered = reader.post(f"{base(member.project.id)}/query", {"steps": only_pro, "range": "7d"}, format="json").json()
    assert [s["count"] for s in filtered["steps"]] == [1, 1, 1]
    saved = reader.post(base(member.project.id), {**BODY, "steps": only_pro, "breakdown_property": "tier", "breakdown_type": "person"}, format="json").json()
    assert saved["steps"][0]["filters"] == [{"key": "tier", "operator": "equals", "value": "pro", "type": "person"}]
    assert saved["breakdown_type"] == "person"
