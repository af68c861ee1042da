"""Sending digests: who gets one, when, exactly once per period, and what the email holds."""

from datetime import date, datetime, timezone

import pytest
import time_machine
from django.core import mail
from rest_framework.test import APIClient

from apps.digests.models import DigestDelivery
from apps.digests.services import digest_send_now, digests_send_due, subscription_set
from apps.funnels.services import funnel_create
from apps.projects.models import Membership
from conftest import MembershipFactory, UserFactory, flush, free_port, post_events
from pulseboard.errors import ParamError

pytestmark = pytest.mark.django_db

# Tuesday 24 Nov 2026, 09:30 in UTC: Monday's daily digest is due in a UTC project.
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)
MONDAY = datetime(2026, 11, 30, 8, 15, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def project(member):
    """A UTC project with events on Sunday 22 and Monday 23 November, and one funnel."""
    events = [
        {"event": "pageview", "distinct_id": "ann", "timestamp": "2026-11-22T10:00:00Z"},
        {"event": "pageview", "distinct_id": "ann", "timestamp": "2026-11-23T10:00:00Z"},
        {"event": "pageview", "distinct_id": "bob", "timestamp": "2026-11-23T11:00:00Z"},
        {"event": "signed_up", "distinct_id": "bob", "timestamp": "2026-11-23T11:05:00Z"},
        {"event": "purchase", "distinct_id": "bob", "timestamp": "2026-11-23T11:10:00Z"},
    ]
    assert post_events(APIClient(), member.project.api_key, {"events": events}).status_code == 202
    flush()
    steps = [{"event": "signed_up", "filters": []}, {"event": "purchase", "filters": []}]
    funnel_create(project=member.project, name="Checkout", steps=steps, created_by=member.user)
    return member.project


def subscribe(project, frequency, **user):
    membership = MembershipFactory(project=project, user=UserFactory(**user), role=Membership.Role.VIEWER)
    subscription_set(project=project, user=membership.user, frequency=frequency)
    return membership.user


def recipients():
    return sorted(address for message in mail.outbox for address in message.to)


def test_a_due_daily_digest_goes_to_daily_subscribers_only(project, member):
    daily = subscribe(project, "daily")
    subscribe(project, "weekly")
    subscribe(project, "off")
    MembershipFactory(project=project)  # never chose: off by default
    stats = digests_send_due(now=NOW)
    assert stats.sent == 1 and recipients() == [daily.email]
    assert DigestDelivery.objects.get().period_start == date(2026, 11, 23)


def test_the_email_has_html_and_text_and_the_figures(project, member):
    daily = subscribe(project, "daily")
    digests_send_due(now=NOW)
    [message] = mail.outbox
    assert message.subject == f"{project.name}: your daily digest for Mon 23 Nov 2026"
    text = message.body
    assert "Events: 4 (+300.0% vs. 1 the day before)" in text
    assert "Unique users: 2 (+100.0% vs. 1 the day before)" in text
    assert "- pageview: 2 events, 2 persons" in text and "- purchase: 1 event, 1 person" in text
    assert "- Checkout: 100.0% (signed_up 1 > purchase 1)" in text
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert 'data-card="events">4</strong>' in html and 'data-top-event="pageview"' in html and ">100.0%</span>" in html
    # Links back to the app are absolute, and so is the unsubscribe link (also one-click).
    assert f"http://testserver.example/projects/{project.id}/?date_from=2026-11-23&amp;date_to=2026-11-23&amp;interval=day" in html
    assert f"http://testserver.example/projects/{project.id}/digest/" in text
    unsubscribe = message.extra_headers["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith("http://testserver.example/digest/unsubscribe/") and unsubscribe in text
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.to == [daily.email]


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.PULSEBOARD_URL = "http://testserver.example"
    settings.DIGEST_SEND_HOUR = 8


def test_running_twice_sends_once(project):
    subscribe(project, "daily")
    assert digests_send_due(now=NOW).sent == 1
    assert digests_send_due(now=NOW).sent == 0
    later = datetime(2026, 11, 24, 23, 0, tzinfo=timezone.utc)
    assert digests_send_due(now=later).sent == 0
    assert len(mail.outbox) == 1 and DigestDelivery.objects.count() == 1


def test_weekly_digests_go_out_on_monday_for_the_week_before(project):
    user = subscribe(project, "weekly")
    assert digests_send_due(now=NOW).sent == 0  # a Tuesday
    assert digests_send_due(now=MONDAY).sent == 1
    assert digests_send_due(now=MONDAY).sent == 0
    delivery = DigestDelivery.objects.get(user=user)
    assert (delivery.frequency, delivery.period_start) == ("weekly", date(2026, 11, 23))
    assert mail.outbox[0].subject.endswith("weekly digest for 23 – 29 Nov 2026")


def test_the_project_timezone_decides_when_a_digest_is_due(project):
    project.timezone = "Asia/Tokyo"  # UTC+9: 09:30 UTC is 18:30 on Tuesday
    project.save()
    subscribe(project, "daily")
    early = datetime(2026, 11, 23, 22, 30, tzinfo=timezone.utc)  # Tuesday 07:30 in Tokyo
    assert digests_send_due(now=early).sent == 0
    assert digests_send_due(now=NOW).sent == 1
    assert DigestDelivery.objects.get().period_start == date(2026, 11, 23)


def test_a_member_removed_from_the_project_gets_nothing(project):
    staying = subscribe(project, "daily")
    leaving = subscribe(project, "daily")
    Membership.objects.filter(project=project, user=leaving).delete()
    assert digests_send_due(now=NOW).sent == 1
    assert recipients() == [staying.email]


def test_inactive_users_and_users_without_email_get_nothing(project):
    subscribe(project, "daily", is_active=False)
    subscribe(project, "daily", email="")
    assert digests_send_due(now=NOW).sent == 0 and mail.outbox == []


def test_an_opt_out_stops_the_next_digest(project):
    user = subscribe(project, "daily")
    subscription_set(project=project, user=user, frequency="off")
    assert digests_send_due(now=NOW).sent == 0 and mail.outbox == []


def test_a_failing_mail_server_records_nothing_and_the_next_run_sends(project, settings):
    subscribe(project, "daily")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2  # nothing listens
    stats = digests_send_due(now=NOW)
    assert (stats.sent, stats.failed) == (0, 1) and DigestDelivery.objects.count() == 0
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert digests_send_due(now=NOW).sent == 1 and len(mail.outbox) == 1


def test_an_empty_project_sends_a_no_events_digest(member):
    subscription_set(project=member.project, user=member.user, frequency="daily")
    assert digests_send_due(now=NOW).sent == 1
    [message] = mail.outbox
    assert "No events were received this day." in message.body
    assert "No saved funnels yet." in message.body
    assert "data-digest-empty" in message.alternatives[0][0]


def test_send_now_is_not_recorded_and_needs_an_address(project, member):
    assert digest_send_now(project=project, user=member.user, frequency="weekly") == member.user.email
    assert len(mail.outbox) == 1 and "weekly digest for 16 – 22 Nov 2026" in mail.outbox[0].subject
    assert DigestDelivery.objects.count() == 0
    member.user.email = ""
    with pytest.raises(ParamError) as error:
        digest_send_now(project=project, user=member.user, frequency="daily")
    assert error.value.field == "email"


def test_a_frequency_outside_the_choices_is_refused(member):
    with pytest.raises(ParamError) as error:
        subscription_set(project=member.project, user=member.user, frequency="hourly")
    assert error.value.field == "frequency"


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_send_once(member):
    """Two workers running the task at the same moment: the unique delivery row lets one send."""
    import threading

    from django.db import connection

    subscription_set(project=member.project, user=member.user, frequency="daily")
    start = threading.Barrier(2)
    results = []

    def run():
        try:
            start.wait()
            results.append(digests_send_due(now=NOW).sent)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [0, 1]
    assert len(mail.outbox) == 1 and DigestDelivery.objects.count() == 1
