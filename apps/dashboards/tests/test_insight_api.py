"""The saved insights API: create, list, read, change, delete and results; the query checked
by its kind's parse (a 400 naming ``query``); roles and tenancy; the OpenAPI schema."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.dashboards import registry
from apps.dashboards.models import SavedInsight
from apps.dashboards.tests.test_registry import clock, events  # noqa: F401  (fixtures)
from apps.funnels.services import funnel_create
from apps.projects.services import personal_api_key_create
from conftest import MembershipFactory

pytestmark = pytest.mark.django_db

BODY = {
    "kind": "trends",
    "name": "Signups by plan",
    "description": "weekly review",
    "query": {"events": ["signed_up"], "breakdown": ["plan"], "date_from": ["2026-03-09"], "date_to": ["2026-03-18"]},
}


def api_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {personal_api_key_create(user=user, label='t').secret}")
    return client


def list_url(project) -> str:
    return reverse("api-saved-insights", kwargs={"project_id": project.id})


def detail_url(project, insight_id) -> str:
    return reverse("api-saved-insight", kwargs={"project_id": project.id, "insight_id": insight_id})


def results_url(project, insight_id) -> str:
    return reverse("api-saved-insight-results", kwargs={"project_id": project.id, "insight_id": insight_id})


@pytest.fixture
def api(member):
    return api_for(member.user)


def test_create_read_list_change_delete(api, member):
    created = api.post(list_url(member.project), BODY, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert {k: body[k] for k in ("kind", "name", "description", "query", "created_by", "last_viewed_at")} == {
        **{k: BODY[k] for k in ("kind", "name", "description", "query")},
        "created_by": member.user.username,
        "last_viewed_at": None,
    }
    assert set(body) >= {"id", "created_at", "updated_at", "url"}
    assert body["url"].startswith(f"/projects/{member.project.id}/trends/?")
    insight_id = body["id"]
    assert api.get(detail_url(member.project, insight_id)).json()["name"] == "Signups by plan"
    listed = api.get(list_url(member.project)).json()
    assert insight_id in [row["id"] for row in listed]
    assert [row["id"] for row in api.get(list_url(member.project), {"search": "by plan"}).json()] == [insight_id]
    assert api.get(list_url(member.project), {"kind": "retention", "search": "by plan"}).json() == []

    changed = api.patch(detail_url(member.project, insight_id), {"name": "Renamed", "query": {"events": "signed_up", "range": "7d"}}, format="json")
    assert changed.status_code == 200, changed.json()
    assert changed.json()["name"] == "Renamed" and changed.json()["description"] == "weekly review"
    assert changed.json()["query"] == {"events": ["signed_up"], "range": ["7d"]}  # single values become lists

    assert api.delete(detail_url(member.project, insight_id)).status_code == 204
    assert api.get(detail_url(member.project, insight_id)).status_code == 404


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({**BODY, "kind": "heatmap"}, "kind", "is not a valid choice"),
        ({**BODY, "name": ""}, "name", "may not be blank"),
        ({**BODY, "name": "a\x00b"}, "name", "Null characters"),
        ({**BODY, "description": "\x00"}, "description", "Null characters"),
        ({**BODY, "query": {"events": ["signed_up"], "range": ["13d"]}}, "query", "range: must be one of 24h, 7d, 30d, 90d"),
        ({**BODY, "query": {"events": ["a"], "math": ["median"]}}, "query", "math: 'median' is not one of"),
        ({**BODY, "query": ["events=a"]}, "query", "must be an object"),
        ({**BODY, "kind": "funnel", "query": {"range": ["7d"]}}, "query", "funnel_id: name a saved funnel"),
        ({**BODY, "kind": "retention", "query": {"start_event": ["a"], "period": ["year"]}}, "query", "period: must be one of"),
    ],
)
def test_create_checks_the_kind_and_runs_the_query_through_its_parse(api, member, body, field, message):
    answer = api.post(list_url(member.project), body, format="json")
    assert answer.status_code == 400
    error = answer.json()
    assert error["field"] == field and message in error["message"], error
    assert not SavedInsight.objects.filter(project=member.project, name=BODY["name"]).exists()


def test_patch_checks_the_query_too(api, member):
    insight_id = api.post(list_url(member.project), BODY, format="json").json()["id"]
    answer = api.patch(detail_url(member.project, insight_id), {"query": {"events": ["a"], "interval": "minute"}}, format="json")
    assert answer.status_code == 400 and answer.json()["field"] == "query" and "interval" in answer.json()["message"]
    assert api.patch(detail_url(member.project, insight_id), {"kind": "retention"}, format="json").json()["field"] == "query"
    assert SavedInsight.objects.get(pk=insight_id).query == BODY["query"]


def test_results_are_the_insights_table(events, member, api):
    insight_id = api.post(list_url(events), BODY, format="json").json()["id"]
    answer = api.get(results_url(events, insight_id))
    assert answer.status_code == 200
    data = answer.json()
    insight = SavedInsight.objects.get(pk=insight_id)
    header, rows = registry.insight_table(events, insight)
    assert data == {"id": insight_id, "kind": "trends", "header": header, "rows": [list(r) for r in rows]}
    # Signups by plan over the 9th-18th: ann (pro) on the 16th, bob on the 17th and dan on the 18th (free).
    assert data["header"][0] == "bucket" and len(data["rows"]) == 10
    by_plan = {label: sum(row[i + 1] for row in data["rows"]) for i, label in enumerate(data["header"][1:])}
    assert sorted(by_plan.values()) == [1, 2]
    # A range given with the request replaces the saved one.
    day = api.get(results_url(events, insight_id), {"range": "24h"}).json()
    assert len(day["rows"]) == 24
    assert api.get(results_url(events, insight_id), {"range": "13d"}).json()["field"] == "range"


def test_results_of_a_funnel_insight(events, member, api):
    funnel = funnel_create(project=events, name="F", steps=[{"event": "signed_up"}, {"event": "purchase"}], created_by=member.user)
    body = {"kind": "funnel", "name": "F", "query": {"funnel_id": [str(funnel.id)], "range": ["7d"]}}
    insight_id = api.post(list_url(events), body, format="json").json()["id"]
    data = api.get(results_url(events, insight_id)).json()
    assert [row[3] for row in data["rows"]] == [3, 1]


def test_results_of_a_query_that_no_longer_works_are_a_400_naming_query(api, member):
    insight = SavedInsight.objects.create(project=member.project, kind="trends", name="Old", query={"events": ["a"], "range": ["13d"]})
    answer = api.get(results_url(member.project, insight.id))
    assert answer.status_code == 400
    assert answer.json()["field"] == "query" and "range" in answer.json()["message"]


def test_a_viewer_reads_but_cannot_write(member):
    viewer = MembershipFactory(project=member.project, role="viewer").user
    insight = SavedInsight.objects.create(project=member.project, kind="trends", name="Shared", query={"events": ["a"]})
    api = api_for(viewer)
    assert api.get(list_url(member.project)).status_code == 200
    assert api.get(detail_url(member.project, insight.id)).status_code == 200
    assert api.get(results_url(member.project, insight.id)).status_code == 200
    refused = api.post(list_url(member.project), BODY, format="json")
    assert refused.status_code == 403 and "viewer" in refused.json()["message"].lower()
    assert api.patch(detail_url(member.project, insight.id), {"name": "x"}, format="json").status_code == 403
    assert api.delete(detail_url(member.project, insight.id)).status_code == 403
    assert SavedInsight.objects.get(pk=insight.id).name == "Shared"


def test_another_project_is_404(api, member):
    other = MembershipFactory()
    theirs = SavedInsight.objects.create(project=other.project, kind="trends", name="Theirs", query={"events": ["a"]})
    assert api.get(list_url(other.project)).status_code == 404
    assert api.post(list_url(other.project), BODY, format="json").status_code == 404
    for project in (other.project, member.project):  # their insight under either project
        assert api.get(detail_url(project, theirs.id)).status_code == 404
        assert api.get(results_url(project, theirs.id)).status_code == 404
        assert api.patch(detail_url(project, theirs.id), {"name": "x"}, format="json").status_code == 404
        assert api.delete(detail_url(project, theirs.id)).status_code == 404
    assert SavedInsight.objects.get(pk=theirs.id).name == "Theirs"


def test_the_api_needs_authentication(member):
    assert APIClient().get(list_url(member.project)).status_code in (401, 403)


def test_the_schema_describes_the_api(api):
    schema = api.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    base = "/api/v1/projects/{project_id}/insights"
    assert set(paths[base]) >= {"get", "post"}
    assert set(paths[base + "/{insight_id}"]) >= {"get", "patch", "delete"}
    assert "get" in paths[base + "/{insight_id}/results"]
    fields = schema["components"]["schemas"]["SavedInsight"]["properties"]
    assert set(fields) >= {"id", "kind", "name", "description", "query", "created_by", "created_at", "updated_at", "last_viewed_at"}
