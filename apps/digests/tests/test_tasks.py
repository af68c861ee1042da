"""The hourly beat task: it sends what is due at the clock's time, once."""

from datetime import date, datetime, timezone

import pytest
import time_machine
from django.core import mail

from apps.digests import tasks
from apps.digests.models import DigestDelivery
from apps.digests.services import subscription_set

pytestmark = pytest.mark.django_db


def test_the_beat_task_sends_once_and_follows_the_clock(member, settings):
    settings.DIGEST_SEND_HOUR = 8
    user = member.user
    subscription_set(project=member.project, user=user, frequency="daily")
    with time_machine.travel(datetime(2026, 11, 24, 7, 59, tzinfo=timezone.utc), tick=False):
        tasks.send_due()  # before 08:00: not due
    assert mail.outbox == []
    with time_machine.travel(datetime(2026, 11, 24, 8, 7, tzinfo=timezone.utc), tick=False):
        assert tasks.send_due()["sent"] == 1
        assert tasks.send_due()["sent"] == 0  # a repeated run
    with time_machine.travel(datetime(2026, 11, 25, 8, 7, tzinfo=timezone.utc), tick=False):
        assert tasks.send_due()["sent"] == 1  # the next day's
    assert [m.to for m in mail.outbox] == [[user.email], [user.email]]
    assert [d.period_start for d in DigestDelivery.objects.order_by("sent_at", "id")] == [date(2026, 11, 23), date(2026, 11, 24)]
