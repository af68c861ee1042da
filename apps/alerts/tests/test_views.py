"""The alerts pages: the empty state, the list, the form (its errors on their fields, the
same checks as the API), the alert's page (history, secret, snooze, rotate, delete), roles
and tenancy, HTMX partials."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.alerts.models import Alert
from apps.alerts.selectors import webhook_secret
from apps.alerts.services import alert_create
from apps.alerts.tests.helpers import UTC
from apps.ingest.models import EventDefinition
from conftest import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 11, 22, tzinfo=UTC)

FORM = {
    "name": "Error rate",
    "event": "error",
    "math": "total",
    "ratio": "on",
    "denominator_event": "request",
    "denominator_math": "total",
    # The denominator's filter rows (prefix "d"), and its empty row for a new filter.
    "dftype": ["event", "event"],
    "dfkey": ["path", ""],
    "dfop": ["contains", "equals"],
    "dfvalue": ["/api", ""],
    "condition": "above",
    "threshold": "0.05",
    "interval": "hour",
    "every_minutes": "5",
    "webhook_url": "https://hooks.example.com/x",
    "webhook_format": "json",
    "enabled": "on",
}


@pytest.fixture
def team(member):
    for name in ("error", "request"):
        EventDefinition.objects.create(project=member.project, name=name, first_seen=DAY, last_seen=DAY)
    member.viewer = UserFactory()
    MembershipFactory(project=member.project, user=member.viewer, role="viewer")
    member.client = Client()
    member.client.force_login(member.user)
    return member


def base(project) -> str:
    return f"/projects/{project.id}/alerts/"


def test_the_empty_list_explains_alerts_and_the_nav_links_them(team):
    page = team.client.get(base(team.project)).content.decode()
    assert "No alerts yet" in page and "Create an alert" in page and "webhook" in page
    assert f'href="{base(team.project)}"' in page  # the sidebar's Alerts item


def test_create_with_the_form_then_see_it_in_the_list(team):
    response = team.client.post(base(team.project) + "new/", {**FORM, "recipients": [str(team.user.pk)]})
    assert response.status_code == 302
    alert = Alert.objects.get()
    assert response["Location"] == f"{base(team.project)}{alert.id}/"
    assert (alert.event, alert.denominator_event, alert.threshold, alert.every_minutes) == ("error", "request", 0.05, 5)
    assert alert.denominator_filters == [{"key": "path", "operator": "contains", "value": "/api"}]
    assert list(alert.recipients.all()) == [team.user]
    listing = team.client.get(base(team.project)).content.decode()
    assert "Error rate" in listing and 'data-state="ok"' in listing and "not yet" in listing


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"threshold": "lots"}, "threshold", "Must be a number"),
        ({"every_minutes": "0"}, "every_minutes", "1 or more"),
        ({"webhook_url": "ftp://x.example.com/"}, "webhook_url", "http://"),
        ({"event": "nope"}, "event", "no event named"),
        ({"denominator_event": ""}, "denominator_event", "needs a denominator"),
        ({"ftype": "event", "fkey": "plan", "fop": "equals", "fvalue": ""}, "filters", "needs a value"),
        ({"ftype": "person", "fkey": "plan", "fop": "equals", "fvalue": "x" * 1001}, "filters", "longer than"),
        ({"dftype": "event", "dfkey": "a", "dfop": "like", "dfvalue": "b"}, "denominator_filters", "operator"),
    ],
)
def test_form_errors_show_on_their_field(team, change, field, message):
    response = team.client.post(base(team.project) + "new/", {**FORM, **change})
    assert response.status_code == 400
    form = response.context["form"]
    assert field in form.errors and message.lower() in " ".join(form.errors[field]).lower(), form.errors
    assert message.lower() in response.content.decode().lower()
    assert not Alert.objects.exists()


def test_the_edit_form_shows_the_saved_filters_as_rows_and_saves_them_back(team):
    alert = make(team, series={"event": "error", "filters": [{"key": "plan", "operator": "equals", "value": "pro", "type": "person"}]})
    url = f"{base(team.project)}{alert.id}/edit/"
    page = team.client.get(url).content.decode()
    assert 'name="fkey" value="plan"' in page and 'name="fvalue" value="pro"' in page
    assert '<option value="person" selected>' in page
    assert 'name="dfkey" value=""' in page  # the denominator's empty row
    rows = {"ftype": ["person", "event"], "fkey": ["plan", "path"], "fop": ["equals", "is_set"], "fvalue": ["team", ""]}
    assert team.client.post(url, {**FORM, **rows}).status_code == 302
    alert.refresh_from_db()
    assert alert.filters == [{"key": "plan", "operator": "equals", "value": "team", "type": "person"}, {"key": "path", "operator": "is_set", "value": ""}]


def test_an_unknown_recipient_is_refused(team):
    response = team.client.post(base(team.project) + "new/", {**FORM, "recipients": ["424242"]})
    assert response.status_code == 400 and "recipients" in response.context["form"].errors


def make(team, **extra) -> Alert:
    data = {"name": "Errors", "series": {"event": "error"}, "threshold": 10, "webhook_url": "https://hooks.example.com/x", **extra}
    return alert_create(project=team.project, user=team.user, data=data)


def test_edit_snooze_rotate_delete(team):
    alert = make(team)
    url = f"{base(team.project)}{alert.id}/"
    page = team.client.get(url + "edit/").content.decode()
    assert 'value="Errors"' in page
    assert team.client.post(url + "edit/", {**FORM, "name": "Renamed", "ratio": ""}).status_code == 302
    alert.refresh_from_db()
    assert alert.name == "Renamed" and not alert.is_ratio

    assert team.client.post(url + "snooze/", {"hours": "4"}).status_code == 302
    alert.refresh_from_db()
    assert timedelta(hours=3, minutes=59) < alert.snoozed_until - timezone.now() <= timedelta(hours=4)
    assert "Snoozed until" in team.client.get(url).content.decode()
    team.client.post(url + "snooze/", {"unsnooze": "1"})
    alert.refresh_from_db()
    assert alert.snoozed_until is None

    old = webhook_secret(alert=alert)
    assert old in team.client.get(url).content.decode()  # shown to its author, an owner
    assert team.client.post(url + "rotate-secret/").status_code == 302
    alert.refresh_from_db()
    assert webhook_secret(alert=alert) != old and webhook_secret(alert=alert) in team.client.get(url).content.decode()

    assert team.client.post(url + "delete/").status_code == 302
    assert not Alert.objects.filter(pk=alert.pk).exists()


def test_viewers_see_no_secret_and_no_edit_buttons_and_cannot_change(team):
    alert = make(team)
    viewer = Client()
    viewer.force_login(team.viewer)
    url = f"{base(team.project)}{alert.id}/"
    page = viewer.get(url).content.decode()
    assert "Errors" in page and webhook_secret(alert=alert) not in page
    assert "Send test notification" not in page and "Snooze" not in page
    assert viewer.post(url + "test/").status_code == 403
    assert viewer.post(url + "edit/", FORM).status_code == 403
    assert viewer.post(url + "rotate-secret/").status_code == 403


def test_a_member_who_is_not_the_author_cannot_see_or_rotate_the_secret(team):
    alert = make(team)
    colleague = UserFactory()
    MembershipFactory(project=team.project, user=colleague, role="member")
    client = Client()
    client.force_login(colleague)
    url = f"{base(team.project)}{alert.id}/"
    assert webhook_secret(alert=alert) not in client.get(url).content.decode()
    assert client.post(url + "rotate-secret/").status_code == 403


def test_another_projects_alert_is_404(team):
    alert = make(team)
    stranger = MembershipFactory()
    client = Client()
    client.force_login(stranger.user)
    for path in (f"{base(stranger.project)}{alert.id}/", f"{base(stranger.project)}{alert.id}/edit/", f"{base(team.project)}{alert.id}/"):
        assert client.get(path).status_code == 404
    assert client.post(f"{base(stranger.project)}{alert.id}/delete/").status_code == 404
    assert Alert.objects.filter(pk=alert.pk).exists()


def test_htmx_gets_the_partial(team):
    make(team)
    full = team.client.get(base(team.project))
    partial = team.client.get(base(team.project), HTTP_HX_REQUEST="true")
    assert b"<html" in full.content and b"<html" not in partial.content
    assert b"alerts-table" in partial.content
