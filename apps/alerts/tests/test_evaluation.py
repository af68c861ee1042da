"""Alert evaluation against the pure-Python reference (tests/reference.py), the clock frozen:
thresholds above and below, percent changes (from 0 too), ratios, filters, unique persons,
complete buckets only, timezones, the states ok -> firing -> resolved -> firing with one
notice per change, and snoozing."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from celery import current_app as celery_app
from django.core import mail

from apps.alerts.models import Alert, AlertEvent
from apps.alerts.services import alert_create, alert_snooze
from apps.alerts.tests import reference
from apps.alerts.tests.helpers import UTC, evaluate, webhook_receiver
from apps.alerts.tests.helpers import store as ingest
from apps.alerts.selectors import webhook_secret
from conftest import MembershipFactory

pytestmark = pytest.mark.django_db

DAY = datetime(2026, 11, 22, tzinfo=UTC)
STORED_AT = DAY + timedelta(hours=23, minutes=50)


@pytest.fixture(autouse=True)
def eager():
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


# What each project's tests stored, as the reference reads it.
_EVENTS: dict[int, list[dict]] = {}


def store(project, events: list[dict], *, at: datetime) -> None:
    _EVENTS.setdefault(project.id, []).extend({**e, "properties": e.get("properties", {})} for e in events)
    ingest(project, events, at=at)


def reference_events(member) -> list[dict]:
    return _EVENTS.get(member.project.id, [])


def at(hour: int, minute: int = 0, day: datetime = DAY) -> datetime:
    return day + timedelta(hours=hour, minutes=minute)


def errors_in(hour: int, count: int, **props) -> list[dict]:
    return [{"event": "error", "distinct_id": f"u{i % 4}", "timestamp": at(hour, 1 + i % 50), "properties": props} for i in range(count)]


def make(member, **spec) -> Alert:
    data = {"name": "Errors", "series": {"event": "error"}, "condition": "above", "threshold": 10, "interval": "hour", "every_minutes": 5}
    data.update(spec)
    return alert_create(project=member.project, user=member.user, data=data)


def kinds(alert: Alert) -> list[tuple[str, bool]]:
    return [(e.kind, e.notified) for e in AlertEvent.objects.filter(alert=alert).order_by("id")]


def test_states_change_once_each_and_only_changes_are_notified(member, django_capture_on_commit_callbacks):
    """ok -> firing -> (firing) -> resolved -> firing, against hours of 3, 15, 2, 20 errors;
    the hour in progress (50 errors at 12:xx) is never judged."""
    store(member.project, errors_in(8, 3) + errors_in(9, 15) + errors_in(10, 2) + errors_in(11, 20) + errors_in(12, 50), at=STORED_AT)
    alert = make(member, recipients=[member.user.email])
    steps = [
        (at(9, 30), "ok", 3),  # judges 08:00
        (at(10, 5), "firing", 15),  # judges 09:00: fires
        (at(10, 30), "firing", 15),  # same hour again: still firing, no new notice
        (at(11, 10), "resolved", 2),  # 10:00 resolves, though 11:00 (in progress) already has 20
        (at(11, 40), "resolved", 2),
        (at(12, 30), "firing", 20),  # 11:00 fires again; 12:00 (50, in progress) is not judged
    ]
    state = "ok"
    for moment, expected_state, expected_value in steps:
        stats = evaluate(moment, django_capture_on_commit_callbacks)
        alert.refresh_from_db()
        value, previous = reference.figure(reference_events(member), {"series": {"event": "error"}, "interval": "hour"}, moment, ZoneInfo("UTC"))
        state = reference.next_state(state, reference.breach({"condition": "above", "threshold": 10}, value, previous))
        assert stats["evaluated"] == 1
        assert (alert.state, alert.last_value) == (expected_state, expected_value) == (state, value)
        assert alert.last_bucket == reference.buckets_at(moment, "hour", ZoneInfo("UTC"))[1]
    assert kinds(alert) == [("firing", True), ("resolved", True), ("firing", True)]
    assert [m.subject.split(" ")[0] for m in mail.outbox] == ["[Firing]", "[Resolved]", "[Firing]"]
    assert mail.outbox[0].to == [member.user.email]
    html = mail.outbox[0].alternatives[0][0]
    assert "Errors" in html and "15" in html and mail.outbox[0].body.count("15") >= 1


def test_an_alert_is_evaluated_every_n_minutes_only(member, django_capture_on_commit_callbacks):
    store(member.project, errors_in(9, 15), at=STORED_AT)
    alert = make(member, every_minutes=15)
    assert evaluate(at(10, 0), django_capture_on_commit_callbacks)["evaluated"] == 1
    assert evaluate(at(10, 1), django_capture_on_commit_callbacks)["evaluated"] == 0
    assert evaluate(at(10, 14), django_capture_on_commit_callbacks)["evaluated"] == 0
    assert evaluate(at(10, 15), django_capture_on_commit_callbacks)["evaluated"] == 1
    alert.refresh_from_db()
    assert alert.next_evaluation_at == at(10, 30)
    alert.enabled = False
    alert.save()
    assert evaluate(at(11, 0), django_capture_on_commit_callbacks)["evaluated"] == 0


def test_below_threshold(member, django_capture_on_commit_callbacks):
    store(member.project, errors_in(9, 15) + errors_in(10, 2), at=STORED_AT)
    alert = make(member, condition="below", threshold=5)
    evaluate(at(10, 5), django_capture_on_commit_callbacks)
    alert.refresh_from_db()
    assert alert.state == "ok"
    evaluate(at(11, 5), django_capture_on_commit_callbacks)
    alert.refresh_from_db()
    assert (alert.state, alert.last_value) == ("firing", 2)
    # An hour with no event at all is 0: below.
    evaluate(at(12, 5), django_capture_on_commit_callbacks)
    alert.refresh_from_db()
    assert (alert.state, alert.last_value, alert.last_previous_value) == ("firing", 0, 2)


@pytest.mark.parametrize(
    ("counts", "threshold", "fires"),
    [
        ((10, 16), 50, True),  # +60 %
        ((10, 15), 50, False),  # +50 % is not more than 50 %
        ((10, 4), 50, True),  # -60 %
        ((0, 3), 1000, True),  # from 0: an infinite change
        ((0, 0), 0, False),  # 0 to 0: no change
        ((5, 0), 99, True),  # -100 %
    ],
)
def test_percent_change_against_the_previous_bucket(member, django_capture_on_commit_callbacks, counts, threshold, fires):
    # One error hours before, so the project knows the event even when both hours have none.
    store(member.project, errors_in(2, 1) + errors_in(8, counts[0]) + errors_in(9, counts[1]), at=STORED_AT)
    alert = make(member, condition="change", threshold=threshold)
    evaluate(at(10, 5), django_capture_on_commit_callbacks)
    alert.refresh_from_db()
    value, previous = reference.figure(reference_events(member), {"series": {"event": "error"}, "interval": "hour"}, at(10, 5), ZoneInfo("UTC"))
    assert (alert.last_value, alert.last_previous_value) == (value, previous) == (counts[1], counts[0])
    assert reference.breach({"condition": "change", "threshold": threshold}, value, previous) is fires
    assert alert.state == ("firing" if fires else "ok")


def test_a_snoozed_alert_records_its_changes_and_tells_nobody(member, django_capture_on_commit_callbacks):
    store(member.project, errors_in(9, 15) + errors_in(10, 2) + errors_in(11, 30), at=STORED_AT)
    with webhook_receiver() as receiver:
        alert = make(member, recipients=[member.user.pk], webhook_url=receiver.url)
        receiver.secret = webhook_secret(alert=alert)
        alert_snooze(alert=alert, until=at(11, 30))
        evaluate(at(10, 5), django_capture_on_commit_callbacks)  # fires, snoozed
        evaluate(at(11, 5), django_capture_on_commit_callbacks)  # resolves, snoozed
        alert.refresh_from_db()
        assert alert.state == "resolved"
        assert kinds(alert) == [("firing", False), ("resolved", False)]
        assert mail.outbox == [] and receiver.hits == []
        evaluate(at(12, 5), django_capture_on_commit_callbacks)  # snooze over: fires and tells
        assert kinds(alert)[-1] == ("firing", True)
        assert len(mail.outbox) == 1 and len(receiver.hits) == 1 and receiver.hits[0].signature_ok


def test_ratio_filters_and_unique_persons_match_the_reference(member, django_capture_on_commit_callbacks):
    rng = random.Random(15)
    events = []
    for i in range(600):
        name = rng.choice(["request", "request", "request", "error"])
        events.append(
            {
                "event": name,
                "distinct_id": f"p{rng.randrange(40)}",
                "timestamp": DAY - timedelta(hours=30) + timedelta(minutes=rng.randrange(60 * 42)),
                "properties": {"status": rng.choice([200, 200, 404, 500]), "path": rng.choice(["/a", "/checkout", "/b"])},
            }
        )
    store(member.project, events, at=STORED_AT)
    specs = [
        {"series": {"event": "error"}, "denominator": {"event": "request"}, "condition": "above", "threshold": 0.3},
        {"series": {"event": "request", "filters": [{"key": "status", "operator": "equals", "value": "500"}]}, "denominator": {"event": "request"}, "condition": "above", "threshold": 0.2},
        {"series": {"event": "request", "math": "unique", "filters": [{"key": "path", "operator": "contains", "value": "check"}]}, "condition": "below", "threshold": 5},
        {"series": {"event": "error", "math": "unique"}, "condition": "change", "threshold": 20, "interval": "day"},
        {"series": {"event": "request", "filters": [{"key": "status", "operator": "not_equals", "value": "200"}]}, "condition": "above", "threshold": 9, "interval": "day"},
    ]
    alerts = [(spec, make(member, name=f"A{i}", **spec)) for i, spec in enumerate(specs)]
    states = {alert.id: "ok" for _, alert in alerts}
    for moment in [at(h, 7) for h in range(0, 12, 1)]:
        evaluate(moment, django_capture_on_commit_callbacks)
        for spec, alert in alerts:
            alert.refresh_from_db()
            value, previous = reference.figure(reference_events(member), spec, moment, ZoneInfo("UTC"))
            states[alert.id] = reference.next_state(states[alert.id], reference.breach(spec, value, previous))
            assert alert.last_value == pytest.approx(value) if value is not None else alert.last_value is None, (spec, moment)
            assert alert.last_previous_value == pytest.approx(previous) if previous is not None else alert.last_previous_value is None
            assert alert.state == states[alert.id], (spec, moment)
    assert any(state == "firing" for state in states.values()) or any(
        AlertEvent.objects.filter(alert=a).exists() for _, a in alerts
    ), "the data should move at least one alert"


@pytest.mark.parametrize("tz_name", ["Asia/Kathmandu", "America/New_York"])
@pytest.mark.parametrize("interval", ["hour", "day"])
def test_buckets_are_the_project_timezones(db, django_capture_on_commit_callbacks, tz_name, interval):
    member = MembershipFactory(project__timezone=tz_name)
    tz = ZoneInfo(tz_name)
    rng = random.Random(7)
    start = DAY - timedelta(days=2)
    events = [
        {"event": "error", "distinct_id": f"p{rng.randrange(9)}", "timestamp": start + timedelta(minutes=rng.randrange(60 * 70))}
        for _ in range(400)
    ]
    store(member.project, events, at=STORED_AT)
    spec = {"series": {"event": "error"}, "condition": "above", "threshold": 7, "interval": interval}
    alert = make(member, **spec)
    state = "ok"
    moments = [start + timedelta(hours=h, minutes=3) for h in range(6, 70, 5)]
    # Just after local midnight: the day that ended a few minutes ago is judged, not today's.
    local_midnight = datetime(2026, 11, 21, tzinfo=tz).astimezone(UTC)
    moments += [local_midnight + timedelta(minutes=2), local_midnight + timedelta(hours=1, minutes=2)]
    for moment in sorted(moments):
        evaluate(moment, django_capture_on_commit_callbacks)
        alert.refresh_from_db()
        value, previous = reference.figure(reference_events(member), spec, moment, tz)
        state = reference.next_state(state, reference.breach(spec, value, previous))
        assert (alert.last_value, alert.last_previous_value, alert.state) == (value, previous, state), moment
        assert alert.last_bucket == reference.buckets_at(moment, interval, tz)[1]


def test_a_failing_alert_holds_no_other_back(member, django_capture_on_commit_callbacks):
    store(member.project, errors_in(9, 15), at=STORED_AT)
    broken = make(member, name="Broken")
    fine = make(member, name="Fine")
    # A rule that cannot be read any more (stored before a change of the filter vocabulary).
    Alert.objects.filter(pk=broken.pk).update(filters=[{"key": "", "operator": "bogus"}])
    stats = evaluate(at(10, 5), django_capture_on_commit_callbacks)
    broken.refresh_from_db()
    fine.refresh_from_db()
    assert stats == {"evaluated": 1, "changed": 1, "failed": 1}
    assert fine.state == "firing" and broken.state == "ok" and broken.last_error


def test_one_beat_entry_runs_the_evaluation_every_minute(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["evaluate-alerts"]
    assert entry["schedule"] == 60.0
    assert celery_app.tasks[entry["task"]].name == "alerts.evaluate_due"
