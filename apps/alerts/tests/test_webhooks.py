"""Notices on their channels: webhooks to a real HTTP server on 127.0.0.1 that checks the
signature, a Slack-compatible body, retries with backoff then `failed` in the history (other
alerts still notified), secret rotation, email through locmem, and the test notification."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

import pytest
from celery import current_app as celery_app
from django.core import mail
from django.test import Client

from apps.alerts import tasks
from apps.alerts.models import AlertDelivery, AlertEvent
from apps.alerts.selectors import webhook_secret
from apps.alerts.services import alert_create, alert_secret_rotate, delivery_backoff
from apps.alerts.tests.helpers import UTC, evaluate, store, webhook_receiver
from conftest import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 11, 22, tzinfo=UTC)
FIRES_AT = DAY + timedelta(hours=10, minutes=5)


@pytest.fixture(autouse=True)
def eager(settings):
    settings.ALERTS_DELIVERY_ATTEMPTS = 3
    settings.ALERTS_DELIVERY_BACKOFF_SECONDS = 7
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def errors(member):
    store(member.project, [{"event": "error", "distinct_id": f"u{i}", "timestamp": DAY + timedelta(hours=9, minutes=i)} for i in range(12)], at=DAY + timedelta(hours=23))
    return member


def make(member, **extra):
    data = {"name": "Errors", "series": {"event": "error"}, "condition": "above", "threshold": 10, "interval": "hour", "every_minutes": 1}
    return alert_create(project=member.project, user=member.user, data={**data, **extra})


def test_a_webhook_is_a_signed_json_post(errors, django_capture_on_commit_callbacks):
    with webhook_receiver() as receiver:
        alert = make(errors, webhook_url=receiver.url)
        receiver.secret = webhook_secret(alert=alert)
        evaluate(FIRES_AT, django_capture_on_commit_callbacks)
    assert len(receiver.hits) == 1
    hit = receiver.hits[0]
    assert hit.signature_ok
    assert hit.headers["content-type"] == "application/json"
    assert int(hit.headers["x-pulseboard-timestamp"]) == int(FIRES_AT.timestamp())
    body = hit.json
    assert body["kind"] == "firing" and body["state"] == "firing" and body["previous_state"] == "ok"
    assert body["value"] == 12 and body["alert"]["id"] == alert.id and body["alert"]["threshold"] == 10
    assert body["bucket_start"] == (DAY + timedelta(hours=9)).isoformat()
    assert body["alert"]["url"].endswith(f"/projects/{alert.project_id}/alerts/{alert.id}/")
    delivery = AlertDelivery.objects.get(event__alert=alert)
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("sent", 1, 200)


def test_the_signature_fails_under_any_other_secret_and_rotation_changes_it(errors, django_capture_on_commit_callbacks):
    other = make(errors, name="Other")
    with webhook_receiver() as receiver:
        alert = make(errors, webhook_url=receiver.url)
        old = webhook_secret(alert=alert)
        assert old != webhook_secret(alert=other)  # one secret per alert
        new = alert_secret_rotate(alert=alert)
        assert new != old and new == webhook_secret(alert=alert)
        receiver.secret = old
        evaluate(FIRES_AT, django_capture_on_commit_callbacks)
        assert not receiver.hits[0].signature_ok
        expected = "sha256=" + hmac.new(new.encode(), receiver.hits[0].body, hashlib.sha256).hexdigest()
        assert receiver.hits[0].headers["x-pulseboard-signature"] == expected


def test_a_slack_compatible_body(errors, django_capture_on_commit_callbacks):
    with webhook_receiver() as receiver:
        alert = make(errors, webhook_url=receiver.url, webhook_format="slack")
        receiver.secret = webhook_secret(alert=alert)
        evaluate(FIRES_AT, django_capture_on_commit_callbacks)
    body = receiver.hits[0].json
    assert list(body) == ["text"]
    assert body["text"].startswith("Errors is firing: error (count) = 12") and f"/alerts/{alert.id}/" in body["text"]
    assert receiver.hits[0].signature_ok


def test_a_failing_webhook_is_retried_with_backoff_then_failed_and_blocks_no_other_alert(errors, django_capture_on_commit_callbacks, monkeypatch):
    countdowns = []
    original = tasks.deliver.apply_async

    def spy(args=None, kwargs=None, **options):
        countdowns.append(options.get("countdown"))
        return original(args, kwargs, **options)

    monkeypatch.setattr(tasks.deliver, "apply_async", spy)
    with webhook_receiver(status=500) as broken, webhook_receiver() as working:
        bad = make(errors, name="Broken hook", webhook_url=broken.url)
        good = make(errors, name="Good hook", webhook_url=working.url, recipients=[errors.user.email])
        broken.secret, working.secret = webhook_secret(alert=bad), webhook_secret(alert=good)
        stats = evaluate(FIRES_AT, django_capture_on_commit_callbacks)
    assert stats["changed"] == 2
    assert len(broken.hits) == 3 and all(hit.signature_ok for hit in broken.hits)
    # Three deliveries queued at once (delay), and the broken one queued again twice, waiting
    # a doubling countdown.
    assert sorted(c for c in countdowns if c is not None) == [7, 14] and countdowns.count(None) == 3
    assert [delivery_backoff(n) for n in (1, 2, 3)] == [7, 14, 28]
    failed = AlertDelivery.objects.get(event__alert=bad)
    assert (failed.status, failed.attempts, failed.response_status) == ("failed", 3, 500)
    assert "HTTP 500" in failed.error
    assert len(working.hits) == 1
    assert set(AlertDelivery.objects.filter(event__alert=good).values_list("channel", "status")) == {("webhook", "sent"), ("email", "sent")}
    assert len(mail.outbox) == 1
    # The page's history shows the failure.
    client = Client()
    client.force_login(errors.user)
    page = client.get(f"/projects/{errors.project.id}/alerts/{bad.id}/").content.decode()
    assert 'data-status="failed"' in page and "after 3 attempts" in page


def test_an_unreachable_webhook_fails_after_its_attempts(errors, django_capture_on_commit_callbacks):
    with webhook_receiver() as receiver:
        url = receiver.url  # the server is gone once the block ends: nothing listens there
    alert = make(errors, webhook_url=url)
    evaluate(FIRES_AT, django_capture_on_commit_callbacks)
    delivery = AlertDelivery.objects.get(event__alert=alert)
    assert (delivery.status, delivery.attempts, delivery.response_status) == ("failed", 3, None)
    assert "refused" in delivery.error.lower() or "error" in delivery.error.lower()


# --- Public addresses only -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/hook",
        "http://[::1]:8000/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fd00::1]/",
        "http://0.0.0.0:5432/",
        "http://localhost:8000/admin/",
        "http://api.localhost/",
    ],
)
def test_a_webhook_to_a_private_or_local_address_is_refused_when_saved(errors, settings, url):
    settings.ALERTS_WEBHOOK_ALLOW_PRIVATE = False
    client = Client()
    client.force_login(errors.user)
    body = {"name": "Errors", "series": {"event": "error"}, "condition": "above", "threshold": 10, "webhook_url": url}
    response = client.post(f"/api/v1/projects/{errors.project.id}/alerts", body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["field"] == "webhook_url"
    assert "not a public address" in response.json()["message"] and "ALERTS_WEBHOOK_ALLOW_PRIVATE" in response.json()["message"]


def test_public_addresses_and_names_are_accepted_when_saved(errors, settings):
    settings.ALERTS_WEBHOOK_ALLOW_PRIVATE = False
    for url in ("https://hooks.example.com/pulseboard", "http://93.184.216.34/hook", "https://[2606:4700::1111]/hook"):
        assert make(errors, webhook_url=url).webhook_url == url


def test_a_notice_is_not_sent_to_a_private_address_even_if_it_was_saved(errors, settings, django_capture_on_commit_callbacks):
    """The rule holds where the connection is made: a URL saved while private addresses were
    allowed (or a name that resolves to one later) gets no POST, and the history says why."""
    with webhook_receiver() as receiver:
        alert = make(errors, webhook_url=receiver.url)
        settings.ALERTS_WEBHOOK_ALLOW_PRIVATE = False
        evaluate(FIRES_AT, django_capture_on_commit_callbacks)
    assert receiver.hits == []
    delivery = AlertDelivery.objects.get(event__alert=alert)
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert "127.0.0.1 is not a public address" in delivery.error


def test_email_goes_to_chosen_members_only_html_and_text(errors, django_capture_on_commit_callbacks):
    colleague = MembershipFactory(project=errors.project, user=UserFactory(email="colleague@example.org"), role="viewer")
    MembershipFactory(project=errors.project, user=UserFactory(email="not-chosen@example.org"))
    alert = make(errors, recipients=[errors.user.email, colleague.user.pk])
    # A recipient who leaves the project is not emailed any more.
    colleague_user = colleague.user
    colleague.delete()
    evaluate(FIRES_AT, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [errors.user.email] and colleague_user.email not in message.to
    assert message.subject == f"[Firing] Errors · {errors.project.name}"
    assert "error (count) = 12" in message.body and f"/alerts/{alert.id}/" in message.body
    html, mime = message.alternatives[0]
    assert mime == "text/html" and "Open the alert" in html


def test_the_test_notification_button_sends_to_every_channel_and_records_it(errors, django_capture_on_commit_callbacks):
    client = Client()
    client.force_login(errors.user)
    with webhook_receiver() as receiver:
        alert = make(errors, webhook_url=receiver.url, recipients=[errors.user.pk])
        receiver.secret = webhook_secret(alert=alert)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(f"/projects/{errors.project.id}/alerts/{alert.id}/test/")
    assert response.status_code == 302
    assert len(receiver.hits) == 1 and receiver.hits[0].signature_ok and receiver.hits[0].json["kind"] == "test"
    assert len(mail.outbox) == 1 and mail.outbox[0].subject.startswith("[Test]")
    event = AlertEvent.objects.get(alert=alert)
    assert event.kind == "test"
    assert sorted(event.deliveries.values_list("channel", "status")) == [("email", "sent"), ("webhook", "sent")]
    alert.refresh_from_db()
    assert alert.state == "ok"  # a test changes no state
    page = client.get(f"/projects/{errors.project.id}/alerts/{alert.id}/").content.decode()
    assert 'data-kind="test"' in page
