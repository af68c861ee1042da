"""Writes of the digests area: a member's choice, and sending digests.

The hourly beat task calls :func:`digests_send_due`. For each project with subscribers and
each frequency whose period is due (see :func:`apps.digests.selectors.digest_period_due`),
the digest is built once and sent to every member who has not had it: the delivery row is
written in the same transaction as the email is sent, under a unique constraint on
(project, member, frequency, period), so a repeated or concurrent run sends nothing twice
and an email that fails is not recorded and goes out on the next run.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse

from apps.digests.models import DigestDelivery, DigestSubscription, Frequency
from apps.digests.selectors import (
    Period,
    absolute_url,
    digest_build,
    digest_period_due,
    digest_period_last,
    projects_with_subscribers,
    recipients_pending,
    unsubscribe_token,
)
from apps.projects.models import Project
from pulseboard.errors import ParamError

logger = logging.getLogger(__name__)

# What can go wrong talking to a mail server: the next run tries again.
MAIL_ERRORS = (smtplib.SMTPException, OSError)


def subscription_set(*, project: Project, user, frequency: str) -> DigestSubscription:
    """Set the member's digest of ``project`` to off, daily or weekly."""
    if frequency not in Frequency.values:
        raise ParamError("frequency", f"must be one of {', '.join(Frequency.values)}")
    subscription, _ = DigestSubscription.objects.update_or_create(project=project, user=user, defaults={"frequency": frequency})
    return subscription


def subscription_unsubscribe(*, project: Project, user) -> None:
    """Turn the member's digest of ``project`` off (nothing to do when there is none)."""
    DigestSubscription.objects.filter(project=project, user=user).update(frequency=Frequency.OFF)


def digest_message(*, digest: dict, user, preview: bool = False) -> EmailMultiAlternatives:
    """The digest as an email to ``user``: a plain-text body with an HTML alternative, and
    an unsubscribe link (also in ``List-Unsubscribe``, one click)."""
    project_id = digest["project"]["id"]
    unsubscribe_url = absolute_url(reverse("digests-unsubscribe", kwargs={"token": unsubscribe_token(project_id=project_id, user_id=user.id)}))
    context = {"digest": digest, "user": user, "unsubscribe_url": unsubscribe_url, "preview": preview}
    subject = render_to_string("digests/email/digest_subject.txt", context).strip()
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("digests/email/digest.txt", context),
        to=[user.email],
        headers={"List-Unsubscribe": f"<{unsubscribe_url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )
    message.attach_alternative(render_to_string("digests/email/digest.html", context), "text/html")
    return message


def digest_deliver(*, project: Project, user, period: Period, digest: dict) -> bool:
    """Send ``digest`` of ``period`` to ``user`` unless it was sent already. True if sent.

    The delivery row and the email share one transaction: a second run waits for the
    first's row and then skips, and an email that raises leaves no row behind."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                DigestDelivery.objects.create(project=project, user=user, frequency=period.frequency, period_start=period.first)
        except IntegrityError:
            return False
        digest_message(digest=digest, user=user).send()
    return True


@dataclass
class SendStats:
    projects: int = 0
    sent: int = 0
    failed: int = 0


def digests_send_due(*, now: datetime | None = None) -> SendStats:
    """Send every digest that is due at ``now`` and has not gone out. One project's or
    one member's failure is logged and never stops the others; it is tried again on
    the next run."""
    now = now or datetime.now(timezone.utc)
    stats = SendStats()
    for project in projects_with_subscribers():
        stats.projects += 1
        tz = ZoneInfo(project.timezone)
        for frequency in (Frequency.DAILY, Frequency.WEEKLY):
            period = digest_period_due(frequency=frequency, tz=tz, now=now)
            if period is None:
                continue
            pending = list(recipients_pending(project=project, period=period))
            if not pending:
                continue
            try:
                digest = digest_build(project=project, period=period)
            except Exception:
                logger.exception("digest of project %s for %s could not be built", project.id, period.first)
                stats.failed += len(pending)
                continue
            for subscription in pending:
                try:
                    stats.sent += digest_deliver(project=project, user=subscription.user, period=period, digest=digest)
                except MAIL_ERRORS as exc:
                    logger.warning("digest of project %s to user %s not sent: %s", project.id, subscription.user_id, exc)
                    stats.failed += 1
    return stats


def digest_send_now(*, project: Project, user, frequency: str, now: datetime | None = None) -> str:
    """Send ``user`` the digest of the last complete period, as a one-off (not recorded:
    the scheduled digest still goes out). The address it went to."""
    if not user.email:
        raise ParamError("email", "your account has no email address to send it to")
    if frequency not in (Frequency.DAILY, Frequency.WEEKLY):
        raise ParamError("frequency", "a digest is daily or weekly")
    period = digest_period_last(frequency=frequency, tz=ZoneInfo(project.timezone), now=now or datetime.now(timezone.utc))
    digest_message(digest=digest_build(project=project, period=period), user=user).send()
    return user.email


def digest_preview_html(*, project: Project, user, frequency: str, now: datetime | None = None) -> tuple[Period, str]:
    """The HTML of the digest ``user`` would get now for the last complete period."""
    period = digest_period_last(frequency=frequency, tz=ZoneInfo(project.timezone), now=now or datetime.now(timezone.utc))
    digest = digest_build(project=project, period=period)
    message = digest_message(digest=digest, user=user, preview=True)
    return period, message.alternatives[0][0]
