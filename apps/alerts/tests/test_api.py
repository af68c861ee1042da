"""The alerts JSON API: create, list, read, change, delete; every bad input a 400 naming its
field; roles; tenancy (another project's alert is a 404); the OpenAPI schema."""

from __future__ import annotations

from datetime import datetime

import pytest
from rest_framework.test import APIClient

from apps.alerts.models import Alert
from apps.alerts.selectors import webhook_secret
from apps.alerts.tests.helpers import UTC
from apps.ingest.models import EventDefinition
from apps.projects.services import personal_api_key_create
from conftest import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 11, 22, tzinfo=UTC)
BODY = {
    "name": "Checkout error rate",
    "series": {"event": "error", "filters": [{"key": "path", "operator": "equals", "value": "/checkout"}]},
    "denominator": {"event": "request", "math": "total"},
    "condition": "above",
    "threshold": 0.05,
    "interval": "hour",
    "every_minutes": 5,
    "webhook_url": "https://hooks.example.com/pulseboard",
}


@pytest.fixture
def team(member):
    known(member.project, "error", "request", "signup")
    clients = {}
    for role in ("owner", "member", "viewer"):
        user = member.user if role == "owner" else UserFactory(email=f"{role}@example.org")
        if role != "owner":
            MembershipFactory(project=member.project, user=user, role=role)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {personal_api_key_create(user=user, label='alerts').secret}")
        clients[role] = client
    member.clients = clients
    return member


def known(project, *names):
    """The project has sent these events (the catalog the flush keeps; no ClickHouse needed here)."""
    for name in names:
        EventDefinition.objects.create(project=project, name=name, first_seen=DAY, last_seen=DAY)


def url(project_id, alert_id=None):
    return f"/api/v1/projects/{project_id}/alerts" + (f"/{alert_id}" if alert_id else "")


def test_create_read_list_change_delete(team):
    owner = team.clients["owner"]
    response = owner.post(url(team.project.id), {**BODY, "recipients": ["member@example.org", team.user.pk]}, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["subject"] == "ratio" and created["state"] == "ok" and created["last_value"] is None
    assert created["series"] == {"event": "error", "math": "total", "filters": [{"key": "path", "operator": "equals", "value": "/checkout"}]}
    assert created["denominator"]["event"] == "request"
    assert sorted(r["email"] for r in created["recipients"]) == sorted(["member@example.org", team.user.email])
    alert = Alert.objects.get(pk=created["id"])
    assert created["webhook_secret"] == webhook_secret(alert=alert)
    assert created["history"] == []

    listed = team.clients["viewer"].get(url(team.project.id)).json()
    assert [a["name"] for a in listed] == ["Checkout error rate"]
    assert listed[0]["webhook_secret"] is None  # viewers never see it

    detail = team.clients["member"].get(url(team.project.id, alert.id)).json()
    assert detail["id"] == alert.id and detail["webhook_secret"] is None  # only owners and the author

    changed = owner.patch(url(team.project.id, alert.id), {"threshold": 0.1, "subject": "series"}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["threshold"] == 0.1 and changed.json()["denominator"] is None and changed.json()["subject"] == "series"
    assert changed.json()["name"] == "Checkout error rate"  # untouched fields stay

    assert team.clients["member"].delete(url(team.project.id, alert.id)).status_code == 204
    assert not Alert.objects.filter(pk=alert.id).exists()


BAD = [
    ({"threshold": "lots"}, "threshold"),
    ({"threshold": None}, "threshold"),
    ({"threshold": True}, "threshold"),
    ({"every_minutes": 0}, "every_minutes"),
    ({"every_minutes": 0.5}, "every_minutes"),
    ({"every_minutes": "soon"}, "every_minutes"),
    ({"webhook_url": "ftp://files.example.com/x"}, "webhook_url"),
    ({"webhook_url": "javascript:alert(1)"}, "webhook_url"),
    ({"webhook_url": "not a url"}, "webhook_url"),
    ({"series": {"event": "no_such_event"}}, "series.event"),
    ({"series": {"event": ""}}, "series.event"),
    ({"series": {"event": "error", "math": "p95"}}, "series.math"),
    ({"series": {"event": "error", "filters": [{"key": "plan", "operator": "like", "value": "x"}]}}, "series.filters.0.operator"),
    ({"series": "error"}, "series"),
    ({"recipients": ["stranger@example.org"]}, "recipients.0"),
    ({"recipients": [999999]}, "recipients.0"),
    ({"recipients": "member@example.org"}, "recipients"),
    ({"subject": "ratio", "denominator": None}, "denominator"),
    ({"denominator": {"event": "nope"}}, "denominator.event"),
    ({"condition": "sideways"}, "condition"),
    ({"interval": "week"}, "interval"),
    ({"name": "   "}, "name"),
    ({"webhook_format": "xml"}, "webhook_format"),
    ({"snoozed_until": "tomorrow"}, "snoozed_until"),
    ({"colour": "red"}, "colour"),
    ({"condition": "change", "threshold": -5}, "threshold"),
]


@pytest.mark.parametrize(("change", "field"), BAD)
def test_bad_input_is_a_400_naming_the_field(team, change, field):
    response = team.clients["owner"].post(url(team.project.id), {**BODY, **change}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field, response.json()
    assert not Alert.objects.exists()


def test_bad_input_on_patch_changes_nothing(team):
    alert_id = team.clients["owner"].post(url(team.project.id), BODY, format="json").json()["id"]
    response = team.clients["owner"].patch(url(team.project.id, alert_id), {"every_minutes": 0, "threshold": "x"}, format="json")
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"every_minutes", "threshold"}
    alert = Alert.objects.get(pk=alert_id)
    assert (alert.every_minutes, alert.threshold) == (5, 0.05)


def test_a_body_that_is_not_an_object_is_a_400(team):
    response = team.clients["owner"].post(url(team.project.id), [1, 2], format="json")
    assert response.status_code == 400


def test_viewers_read_and_members_write(team):
    assert team.clients["viewer"].post(url(team.project.id), BODY, format="json").status_code == 403
    assert team.clients["member"].post(url(team.project.id), BODY, format="json").status_code == 201


def test_another_projects_alert_is_404(team):
    alert_id = team.clients["owner"].post(url(team.project.id), BODY, format="json").json()["id"]
    stranger = MembershipFactory()
    known(stranger.project, "error", "only_theirs")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {personal_api_key_create(user=stranger.user, label='x').secret}")
    # Through the other project's URL, and through this project's (not a member).
    for path in (url(stranger.project.id, alert_id), url(team.project.id, alert_id), url(team.project.id)):
        assert client.get(path).status_code == 404
    assert client.patch(url(stranger.project.id, alert_id), {"threshold": 1}, format="json").status_code == 404
    assert client.delete(url(stranger.project.id, alert_id)).status_code == 404
    assert Alert.objects.filter(pk=alert_id).exists()
    # An event of another project is not an event of this one.
    response = team.clients["owner"].post(url(team.project.id), {**BODY, "series": {"event": "only_theirs"}}, format="json")
    assert response.status_code == 400


def test_unauthenticated_is_refused(team):
    assert APIClient().get(url(team.project.id)).status_code in (401, 403)


def test_the_api_is_in_the_openapi_schema(team):
    paths = team.clients["viewer"].get("/api/schema/?format=json").json()["paths"]
    assert set(paths["/api/v1/projects/{project_id}/alerts"]) >= {"get", "post"}
    assert set(paths["/api/v1/projects/{project_id}/alerts/{alert_id}"]) >= {"get", "patch", "delete"}
    assert "post" in paths["/api/v1/projects/{project_id}/alerts/{alert_id}/test"]


def test_changing_the_rule_starts_the_alert_afresh_and_a_rename_does_not(team):
    owner = team.clients["owner"]
    alert_id = owner.post(url(team.project.id), BODY, format="json").json()["id"]
    Alert.objects.filter(pk=alert_id).update(state="firing", last_value=0.2)
    assert owner.patch(url(team.project.id, alert_id), {"name": "Renamed"}, format="json").json()["state"] == "firing"
    answer = owner.patch(url(team.project.id, alert_id), {"threshold": 0.5}, format="json").json()
    assert (answer["state"], answer["last_value"]) == ("ok", None)


def test_snooze_and_unsnooze_through_the_api(team):
    owner = team.clients["owner"]
    alert_id = owner.post(url(team.project.id), BODY, format="json").json()["id"]
    answer = owner.patch(url(team.project.id, alert_id), {"snoozed_until": "2026-11-23T08:00:00+01:00"}, format="json").json()
    assert answer["snoozed_until"] == "2026-11-23T07:00:00Z"
    assert owner.patch(url(team.project.id, alert_id), {"snoozed_until": None}, format="json").json()["snoozed_until"] is None
    assert owner.patch(url(team.project.id, alert_id), {"snoozed_until": "2026-11-23T08:00:00"}, format="json").json()["field"] == "snoozed_until"
