"""The digest page, "send me one now", and the unsubscribe link of the emails."""

import re
from datetime import datetime, timezone

import pytest
import time_machine
from django.core import mail
from django.test import Client
from django.urls import reverse

from apps.digests.models import DigestSubscription
from apps.digests.selectors import subscription_frequency, unsubscribe_token
from apps.digests.services import subscription_set
from apps.digests.views import SEND_NOW_PER_HOUR
from apps.projects.models import Membership
from conftest import MembershipFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def viewer(member):
    return MembershipFactory(project=member.project, role=Membership.Role.VIEWER)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def url(project, name="digests-settings"):
    return reverse(name, kwargs={"project_id": project.id})


def test_the_page_shows_the_choice_and_a_preview(member):
    response = client_for(member.user).get(url(member.project))
    assert response.status_code == 200
    body = response.content.decode()
    assert re.search(r'<input type="radio" name="frequency" value="off"[^>]* checked', body)  # off by default
    assert "data-digest-preview" in body and "srcdoc=" in body
    assert "No events were received this day." in body  # the empty project's preview, escaped into srcdoc
    assert "Mon 23 Nov 2026" in body
    assert "Digest" in body and f'href="{url(member.project)}"' in body  # in the sidebar


def test_the_weekly_preview(member):
    body = client_for(member.user).get(url(member.project) + "?preview=weekly").content.decode()
    assert "16 – 22 Nov 2026" in body


def test_a_viewer_picks_a_frequency(member, viewer):
    client = client_for(viewer.user)
    response = client.post(url(member.project), {"frequency": "weekly"})
    assert response.status_code == 302 and response["Location"] == url(member.project)
    assert subscription_frequency(project=member.project, user=viewer.user) == "weekly"
    body = client.get(url(member.project)).content.decode()
    assert "You will get the weekly digest" in body
    assert "16 – 22 Nov 2026" in body  # the preview follows the choice
    client.post(url(member.project), {"frequency": "off"})
    assert subscription_frequency(project=member.project, user=viewer.user) == "off"


@pytest.mark.parametrize("data", [{}, {"frequency": "hourly"}])
def test_a_bad_choice_is_a_400_naming_it(member, data):
    response = client_for(member.user).post(url(member.project), data)
    assert response.status_code == 400
    assert "Pick off, daily or weekly." in response.content.decode()
    assert not DigestSubscription.objects.exists()


def test_send_me_one_now(member):
    client = client_for(member.user)
    response = client.post(url(member.project, "digests-send-now"), {"frequency": "weekly"}, follow=True)
    assert f"Sent the weekly digest to {member.user.email}." in response.content.decode()
    [message] = mail.outbox
    assert message.to == [member.user.email] and "weekly digest for 16 – 22 Nov 2026" in message.subject


def test_send_now_without_an_address_says_so(member):
    member.user.email = ""
    member.user.save()
    response = client_for(member.user).post(url(member.project, "digests-send-now"), {"frequency": "daily"}, follow=True)
    assert "Not sent: your account has no email address" in response.content.decode()
    assert mail.outbox == []


def test_send_now_is_limited_per_hour(member):
    client = client_for(member.user)
    for _ in range(SEND_NOW_PER_HOUR):
        client.post(url(member.project, "digests-send-now"), {"frequency": "daily"})
    response = client.post(url(member.project, "digests-send-now"), {"frequency": "daily"}, follow=True)
    assert "try again later" in response.content.decode()
    assert len(mail.outbox) == SEND_NOW_PER_HOUR


def test_another_projects_user_gets_404(member):
    outsider = MembershipFactory()
    client = client_for(outsider.user)
    assert client.get(url(member.project)).status_code == 404
    assert client.post(url(member.project), {"frequency": "daily"}).status_code == 404
    assert client.post(url(member.project, "digests-send-now"), {"frequency": "daily"}).status_code == 404
    assert not DigestSubscription.objects.exists() and mail.outbox == []


def test_logged_out_is_sent_to_login(member):
    response = Client().get(url(member.project))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_unsubscribe_link_asks_then_turns_the_digest_off(member):
    subscription_set(project=member.project, user=member.user, frequency="daily")
    link = reverse("digests-unsubscribe", kwargs={"token": unsubscribe_token(project_id=member.project.id, user_id=member.user.id)})
    anonymous = Client(enforce_csrf_checks=True)
    page = anonymous.get(link)
    assert page.status_code == 200 and "Stop this digest?" in page.content.decode()
    assert subscription_frequency(project=member.project, user=member.user) == "daily"  # a GET changes nothing
    # Mail clients' one-click unsubscribe: a POST with no session and no CSRF token.
    done = anonymous.post(link, {"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "Unsubscribed" in done.content.decode()
    assert subscription_frequency(project=member.project, user=member.user) == "off"


def test_a_forged_unsubscribe_link_changes_nothing(member):
    subscription_set(project=member.project, user=member.user, frequency="daily")
    token = unsubscribe_token(project_id=member.project.id, user_id=member.user.id)
    for bad in (token[:-3] + "abc", f"{member.project.id}:{member.user.id}"):
        response = Client().post(reverse("digests-unsubscribe", kwargs={"token": bad}))
        assert response.status_code == 404 and "This link does not work" in response.content.decode()
    assert subscription_frequency(project=member.project, user=member.user) == "daily"


def test_an_htmx_request_gets_the_body_only(member):
    response = client_for(member.user).get(url(member.project), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and "data-digest-preview" in body and "<html" not in body
    assert "HX-Request" in response["Vary"]


def test_the_page_says_when_the_next_digest_goes(member, settings):
    settings.DIGEST_SEND_HOUR = 8
    subscription_set(project=member.project, user=member.user, frequency="weekly")
    body = client_for(member.user).get(url(member.project)).content.decode()
    assert "Next weekly digest:</strong> Mon 30 Nov, 08:00 (UTC)" in body


def test_the_page_lists_the_digests_sent(member):
    from apps.digests.models import DigestDelivery

    DigestDelivery.objects.create(project=member.project, user=member.user, frequency="daily", period_start="2026-11-23")
    other = MembershipFactory(project=member.project)
    DigestDelivery.objects.create(project=member.project, user=other.user, frequency="weekly", period_start="2026-11-16")
    body = client_for(member.user).get(url(member.project)).content.decode()
    assert "Daily digest of Mon 23 Nov 2026" in body
    assert "Weekly digest of the week from" not in body  # another member's
