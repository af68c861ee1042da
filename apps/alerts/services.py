"""Writes of alerts: create, change, delete, snooze and rotate; the evaluation that moves an
alert's state; and the notices it sends.

* **Input** (:func:`alert_input_clean`) is the one check of the page's form and the API: a
  bad value is a ``ValidationError`` naming its field (``threshold``, ``every_minutes``,
  ``webhook_url``, ``series.event``, ``recipients.1``...).
* **Evaluation** (:func:`alerts_evaluate`) judges the figure of the last complete bucket
  (:func:`apps.alerts.selectors.figures_compute`). Any state goes to ``firing`` when the
  condition holds; ``firing`` goes to ``resolved`` when it no longer does; ``ok`` and
  ``resolved`` stay as they are while it does not. A figure with no value (a ratio over 0)
  leaves the state as it is.
* **Notices** go out on a change of state only (``ok``/``resolved`` -> ``firing``,
  ``firing`` -> ``resolved``), so an alert never flaps. Each change is a line of the history;
  while the alert is snoozed the line is written and nobody is told.
* **Deliveries**: one per channel and notice, each a Celery task of its own
  (:func:`delivery_attempt`), retried with backoff and then marked failed, so that a dead
  webhook never holds up another alert.
"""

from __future__ import annotations

import logging
import math
import secrets
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any, Callable

import orjson
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import URLValidator
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from apps.alerts.models import NAME_MAX, URL_MAX, Alert, AlertDelivery, AlertEvent
from apps.alerts.webhooks import webhook_host_problem, webhook_open
from apps.alerts.selectors import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Figure,
    alerts_due,
    change_percent,
    figures_compute,
    webhook_secret,
    webhook_signature,
)
from apps.ingest.models import EventDefinition
from apps.projects.models import Membership, Project
from apps.query.filters import FilterError, property_filters_clean
from pulseboard.errors import ParamError, text_clean

logger = logging.getLogger(__name__)

EVERY_MINUTES_MAX = 7 * 24 * 60
FIELDS = (
    "name", "series", "denominator", "condition", "threshold", "interval", "every_minutes",
    "recipients", "webhook_url", "webhook_format", "enabled", "snoozed_until",
)  # fmt: skip


# --- Input ------------------------------------------------------------------------------------


def _error(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})


def _choice(value: Any, *, field: str, choices) -> str:
    allowed = [c for c, _ in choices]
    if value not in allowed:
        raise _error(field, f"Must be one of {', '.join(allowed)}.")
    return value


def _series_clean(value: Any, *, field: str, project: Project) -> dict:
    """``{"event", "math", "filters"}``: an event the project has sent, total or unique, and
    property filters in the insights' vocabulary."""
    if not isinstance(value, dict):
        raise _error(field, 'Must be an object like {"event": "$pageview", "math": "total", "filters": []}.')
    unknown = set(value) - {"event", "math", "filters"}
    if unknown:
        raise _error(f"{field}.{sorted(unknown)[0]}", "Unknown field: a series takes event, math and filters.")
    event = value.get("event")
    if not isinstance(event, str) or not event.strip():
        raise _error(f"{field}.event", "Name the event to count.")
    event = event.strip()
    if not EventDefinition.objects.filter(project=project, name=event).exists():
        raise _error(f"{field}.event", f"This project has no event named “{event[:200]}”.")
    math_value = _choice(value.get("math") or Alert.Math.TOTAL, field=f"{field}.math", choices=Alert.Math.choices)
    try:
        filters = property_filters_clean(value.get("filters") or [])
    except FilterError as error:
        path = f"{field}.filters" if error.index is None else f"{field}.filters.{error.index}" + (f".{error.field}" if error.field else "")
        raise _error(path, str(error)) from None
    return {"event": event, "math": math_value, "filters": [f.as_json() for f in filters]}


def _threshold_clean(value: Any) -> float:
    if isinstance(value, bool) or value is None or value == "":
        raise _error("threshold", "Must be a number, e.g. 100 or 0.05.")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _error("threshold", "Must be a number, e.g. 100 or 0.05.") from None
    if not isinstance(value, (int, float)):
        raise _error("threshold", "Must be a number, e.g. 100 or 0.05.")
    value = float(value)
    if not math.isfinite(value) or abs(value) > 1e15:
        raise _error("threshold", "Must be a finite number.")
    return value


def _every_minutes_clean(value: Any) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise _error("every_minutes", "Must be a whole number of minutes, 1 or more.")
    if value < 1:
        raise _error("every_minutes", "Alerts are evaluated at most once a minute: give 1 or more.")
    if value > EVERY_MINUTES_MAX:
        raise _error("every_minutes", f"At most {EVERY_MINUTES_MAX} minutes (a week).")
    return value


def webhook_url_clean(value: Any) -> str:
    """"" (no webhook) or an http(s) URL."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _error("webhook_url", "Must be an http:// or https:// URL.")
    value = value.strip()
    if not value:
        return ""
    if len(value) > URL_MAX:
        raise _error("webhook_url", f"At most {URL_MAX} characters.")
    try:
        URLValidator(schemes=["http", "https"])(value)
    except ValidationError:
        raise _error("webhook_url", "Must be an http:// or https:// URL, e.g. https://hooks.example.com/pulseboard.") from None
    problem = webhook_host_problem(value)
    if problem:
        raise _error("webhook_url", problem[0].upper() + problem[1:] + ".")
    return value


def _recipients_clean(value: Any, *, project: Project) -> list[int]:
    """Members of the project, each by user id or by email (or username): their user ids."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise _error("recipients", "Must be a list of project members, by user id or email.")
    members = {m.user_id: m.user for m in Membership.objects.filter(project=project).select_related("user")}
    ids: list[int] = []
    for index, item in enumerate(value):
        found = None
        if isinstance(item, int) and not isinstance(item, bool):
            found = item if item in members else None
        elif isinstance(item, str) and item.strip():
            text = item.strip().lower()
            found = next(
                (uid for uid, user in members.items() if (user.email or "").lower() == text or user.get_username().lower() == text), None
            )
        if found is None:
            raise _error(f"recipients.{index}", f"{str(item)[:200]!r} is not a member of this project.")
        if found not in ids:
            ids.append(found)
    return ids


def _instant_clean(value: Any, *, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise _error(field, "Must be an ISO 8601 date-time with an offset, e.g. 2026-11-22T18:00:00Z.") from None
    else:
        raise _error(field, "Must be an ISO 8601 date-time, or null.")
    if moment.tzinfo is None:
        raise _error(field, "Give the offset too, e.g. 2026-11-22T18:00:00Z.")
    return moment


def _bool_clean(value: Any, *, field: str) -> bool:
    if not isinstance(value, bool):
        raise _error(field, "Must be true or false.")
    return value


def alert_as_input(alert: Alert) -> dict:
    """The alert as the input it was made from (what a partial change starts from)."""

    def series(event: str, math_value: str, filters) -> dict:
        return {"event": event, "math": math_value, "filters": list(filters or [])}

    return {
        "name": alert.name,
        "series": series(alert.event, alert.math, alert.filters),
        "denominator": series(alert.denominator_event, alert.denominator_math, alert.denominator_filters) if alert.is_ratio else None,
        "condition": alert.condition,
        "threshold": alert.threshold,
        "interval": alert.interval,
        "every_minutes": alert.every_minutes,
        "recipients": [u.pk for u in alert.recipients.all()],
        "webhook_url": alert.webhook_url,
        "webhook_format": alert.webhook_format,
        "enabled": alert.enabled,
        "snoozed_until": alert.snoozed_until,
    }


def alert_input_clean(*, project: Project, data: Any, alert: Alert | None = None) -> dict:
    """Check an alert's input (the API's shape; with ``alert``, a partial change of it) and
    return it cleaned. A ``ValidationError`` names each field at fault."""
    if not isinstance(data, dict):
        raise _error("non_field_errors", "Send a JSON object.")
    unknown = sorted(set(data) - set(FIELDS) - {"subject"})
    if unknown:
        raise _error(unknown[0], f"Unknown field. An alert takes {', '.join(FIELDS)}.")
    merged = {**(alert_as_input(alert) if alert else {}), **data}
    if "subject" in data and data["subject"] == "series" and "denominator" not in data:
        merged["denominator"] = None
    errors: dict[str, list[str]] = {}

    def check(field: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except ValidationError as error:
            for key, messages in error.message_dict.items():
                errors.setdefault(key, []).extend(messages)
            return None
        except ParamError as error:
            errors.setdefault(error.field, []).append(error.message[:1].upper() + error.message[1:] + ".")
            return None

    clean: dict[str, Any] = {}
    clean["name"] = check("name", lambda: text_clean(merged.get("name"), field="name", limit=NAME_MAX, required="Give the alert a name."))
    clean["series"] = check("series", lambda: _series_clean(merged.get("series"), field="series", project=project))
    subject = merged.get("subject") or ("ratio" if merged.get("denominator") else "series")
    if subject not in ("series", "ratio"):
        errors.setdefault("subject", []).append("Must be series or ratio.")
    clean["denominator"] = None
    if subject == "ratio":
        if not merged.get("denominator"):
            errors.setdefault("denominator", []).append("A ratio needs a denominator series, e.g. the requests under the errors.")
        else:
            clean["denominator"] = check("denominator", lambda: _series_clean(merged["denominator"], field="denominator", project=project))
    clean["condition"] = check("condition", lambda: _choice(merged.get("condition") or "above", field="condition", choices=Alert.Condition.choices))
    clean["threshold"] = check("threshold", lambda: _threshold_clean(merged.get("threshold")))
    if clean["condition"] == Alert.Condition.CHANGE and clean["threshold"] is not None and clean["threshold"] < 0:
        errors.setdefault("threshold", []).append("A change is a percentage of 0 or more.")
    clean["interval"] = check("interval", lambda: _choice(merged.get("interval") or "hour", field="interval", choices=Alert.Interval.choices))
    clean["every_minutes"] = check("every_minutes", lambda: _every_minutes_clean(merged.get("every_minutes", 5)))
    clean["recipients"] = check("recipients", lambda: _recipients_clean(merged.get("recipients"), project=project))
    clean["webhook_url"] = check("webhook_url", lambda: webhook_url_clean(merged.get("webhook_url")))
    clean["webhook_format"] = check(
        "webhook_format", lambda: _choice(merged.get("webhook_format") or "json", field="webhook_format", choices=Alert.WebhookFormat.choices)
    )
    clean["enabled"] = check("enabled", lambda: _bool_clean(merged.get("enabled", True), field="enabled"))
    clean["snoozed_until"] = check("snoozed_until", lambda: _instant_clean(merged.get("snoozed_until"), field="snoozed_until"))
    if errors:
        raise ValidationError(errors)
    return clean


# --- Writes -----------------------------------------------------------------------------------


def _apply(alert: Alert, clean: dict) -> None:
    series, denominator = clean["series"], clean["denominator"]
    alert.name = clean["name"]
    alert.event, alert.math, alert.filters = series["event"], series["math"], series["filters"]
    if denominator:
        alert.denominator_event, alert.denominator_math, alert.denominator_filters = denominator["event"], denominator["math"], denominator["filters"]
    else:
        alert.denominator_event, alert.denominator_math, alert.denominator_filters = "", Alert.Math.TOTAL, []
    for field in ("condition", "threshold", "interval", "every_minutes", "webhook_url", "webhook_format", "enabled", "snoozed_until"):
        setattr(alert, field, clean[field])


def _rule(alert: Alert) -> tuple:
    return (alert.event, alert.math, alert.filters, alert.denominator_event, alert.denominator_math, alert.denominator_filters,
            alert.condition, alert.threshold, alert.interval)  # fmt: skip


@transaction.atomic
def alert_create(*, project: Project, user: AbstractBaseUser | None, data: Any) -> Alert:
    """A new alert from API-shaped input (checked by :func:`alert_input_clean`); it is
    evaluated at the next beat."""
    clean = alert_input_clean(project=project, data=data)
    alert = Alert(project=project, created_by=user if user is not None and user.is_authenticated else None, webhook_nonce=secrets.token_hex(16))
    _apply(alert, clean)
    alert.save()
    alert.recipients.set(clean["recipients"])
    return alert


@transaction.atomic
def alert_update(*, alert: Alert, data: Any) -> Alert:
    """Change some of the alert's fields. A change of its rule (figure, condition, threshold or
    interval) starts it afresh: ``ok``, evaluated at the next beat."""
    clean = alert_input_clean(project=alert.project, data=data, alert=alert)
    before = _rule(alert)
    _apply(alert, clean)
    if _rule(alert) != before:
        alert.state = Alert.State.OK
        alert.last_value = alert.last_previous_value = alert.last_bucket = alert.last_evaluated_at = None
        alert.last_error = ""
        alert.next_evaluation_at = None
    alert.save()
    alert.recipients.set(clean["recipients"])
    return alert


def alert_delete(*, alert: Alert) -> None:
    alert.delete()


def alert_snooze(*, alert: Alert, until: datetime | None) -> Alert:
    """No notices until ``until`` (None: notices again now). Evaluation goes on."""
    alert.snoozed_until = until
    alert.save(update_fields=["snoozed_until", "updated_at"])
    return alert


def alert_secret_rotate(*, alert: Alert) -> str:
    """A new signing secret for the alert's webhook (the old one stops signing); returns it."""
    alert.webhook_nonce = secrets.token_hex(16)
    alert.save(update_fields=["webhook_nonce", "updated_at"])
    return webhook_secret(alert=alert)


# --- Evaluation -------------------------------------------------------------------------------


def _breach(alert: Alert, figure: Figure) -> bool | None:
    """Whether the condition holds; None when the figure has no value to judge."""
    if alert.condition == Alert.Condition.CHANGE:
        change = change_percent(value=figure.value, previous=figure.previous)
        return None if change is None else abs(change) > alert.threshold
    if figure.value is None:
        return None
    return figure.value > alert.threshold if alert.condition == Alert.Condition.ABOVE else figure.value < alert.threshold


def _next_state(state: str, breach: bool | None) -> str:
    if breach is None:
        return state
    if breach:
        return Alert.State.FIRING
    return Alert.State.RESOLVED if state == Alert.State.FIRING else state


def alert_is_snoozed(*, alert: Alert, now: datetime) -> bool:
    return alert.snoozed_until is not None and alert.snoozed_until > now


def _number(value: float | None) -> str:
    if value is None:
        return "no value"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"


def figure_label(alert: Alert) -> str:
    math_label = {"total": "count", "unique": "unique persons"}
    label = f"{alert.event} ({math_label.get(alert.math, alert.math)})"
    if alert.is_ratio:
        label += f" / {alert.denominator_event} ({math_label.get(alert.denominator_math, alert.denominator_math)})"
    return label


def notice_message(*, alert: Alert, kind: str, value: float | None, previous: float | None, bucket: datetime | None) -> str:
    """One line that says what happened, e.g. "Error rate is firing: 0.12, above 0.05 (hour
    of 2026-11-22 10:00, Europe/Berlin)"."""
    if alert.condition == Alert.Condition.CHANGE:
        change = change_percent(value=value, previous=previous)
        if change is None:
            shown = "no value"
        elif math.isinf(change):
            shown = f"{_number(value)}, up from 0"
        else:
            shown = f"{_number(value)}, {change:+.1f}% against {_number(previous)}"
        rule = f"a change of more than {_number(alert.threshold)}%"
    else:
        shown, rule = _number(value), f"{alert.get_condition_display()} {_number(alert.threshold)}"
    when = ""
    if bucket is not None:
        from zoneinfo import ZoneInfo

        local = bucket.astimezone(ZoneInfo(alert.project.timezone))
        when = f" ({alert.interval} of {local:%Y-%m-%d %H:%M}, {alert.project.timezone})"
    state = {"firing": "is firing", "resolved": "is resolved", "test": "test notification"}[kind]
    return f"{alert.name} {state}: {figure_label(alert)} = {shown}; rule: {rule}{when}."[:500]


def _next_due(alert: Alert, now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0) + timedelta(minutes=alert.every_minutes)


def alert_judge(*, alert: Alert, figure: Figure, now: datetime) -> AlertEvent | None:
    """Record one evaluation: the last value, and on a change of state a line of history and
    (unless snoozed) its notices. Returns that line, if any."""
    state = _next_state(alert.state, _breach(alert, figure))
    event = None
    with transaction.atomic():
        if state != alert.state:
            snoozed = alert_is_snoozed(alert=alert, now=now)
            event = AlertEvent.objects.create(
                alert=alert,
                kind=state,
                state_from=alert.state,
                state_to=state,
                value=figure.value,
                previous_value=figure.previous,
                bucket=figure.window.start,
                notified=not snoozed,
                message=notice_message(alert=alert, kind=state, value=figure.value, previous=figure.previous, bucket=figure.window.start),
            )
            if not snoozed:
                deliveries_queue(alert=alert, event=event)
        alert.state = state
        alert.last_value, alert.last_previous_value = figure.value, figure.previous
        alert.last_bucket, alert.last_evaluated_at, alert.last_error = figure.window.start, now, ""
        Alert.objects.filter(pk=alert.pk).update(
            state=state,
            last_value=figure.value,
            last_previous_value=figure.previous,
            last_bucket=figure.window.start,
            last_evaluated_at=now,
            last_error="",
        )
    return event


def _record_error(alert: Alert, error: Exception, now: datetime) -> None:
    message = f"{type(error).__name__}: {error}"[:500]
    logger.warning("alert %s could not be evaluated: %s", alert.pk, message)
    Alert.objects.filter(pk=alert.pk).update(last_error=message, last_evaluated_at=now)


def alerts_evaluate(*, alerts: list[Alert], now: datetime) -> dict[str, int]:
    """Evaluate ``alerts`` at ``now`` (their figures in as few queries as they share). An
    alert that cannot be evaluated records its error and holds no other back."""
    stats = {"evaluated": 0, "changed": 0, "failed": 0}
    try:
        figures = figures_compute(alerts=alerts, now=now)
    except Exception:  # one bad group must not stop the others: compute alert by alert
        figures = {}
        for alert in alerts:
            try:
                figures.update(figures_compute(alerts=[alert], now=now))
            except Exception as error:
                _record_error(alert, error, now)
                stats["failed"] += 1
    for alert in alerts:
        if alert.id not in figures:
            continue
        try:
            event = alert_judge(alert=alert, figure=figures[alert.id], now=now)
        except Exception as error:
            _record_error(alert, error, now)
            stats["failed"] += 1
            continue
        stats["evaluated"] += 1
        stats["changed"] += event is not None
    return stats


def alerts_evaluate_due(*, now: datetime | None = None) -> dict[str, int]:
    """What beat runs every minute: claim the alerts that are due (a racing worker claims
    each at most once), move their next evaluation on, and evaluate them."""
    now = now or timezone.now()
    claimed = []
    for alert in alerts_due(now=now):
        next_due = _next_due(alert, now)
        if Alert.objects.filter(pk=alert.pk, next_evaluation_at=alert.next_evaluation_at).update(next_evaluation_at=next_due):
            alert.next_evaluation_at = next_due
            claimed.append(alert)
    return alerts_evaluate(alerts=claimed, now=now) if claimed else {"evaluated": 0, "changed": 0, "failed": 0}


# --- Notices ----------------------------------------------------------------------------------


def _alert_url(alert: Alert) -> str:
    base = getattr(settings, "PULSEBOARD_URL", "").rstrip("/")
    return base + reverse("alerts-detail", kwargs={"project_id": alert.project_id, "alert_id": alert.id})


def _recipient_emails(alert: Alert) -> list[str]:
    """The chosen recipients that are still members of the project and have an email."""
    members = Membership.objects.filter(project_id=alert.project_id).values_list("user_id", flat=True)
    users = get_user_model().objects.filter(pk__in=alert.recipients.values_list("pk", flat=True)).filter(pk__in=members, is_active=True)
    return sorted({u.email for u in users if u.email})


def deliveries_queue(*, alert: Alert, event: AlertEvent) -> list[AlertDelivery]:
    """One delivery per channel of the alert, each sent by a task of its own once the
    transaction commits."""
    deliveries = []
    emails = _recipient_emails(alert)
    if emails:
        deliveries.append(AlertDelivery.objects.create(event=event, channel=AlertDelivery.Channel.EMAIL, target=", ".join(emails)[:URL_MAX]))
    if alert.webhook_url:
        deliveries.append(AlertDelivery.objects.create(event=event, channel=AlertDelivery.Channel.WEBHOOK, target=alert.webhook_url))
    if deliveries:
        from apps.alerts.tasks import deliver  # the tasks module imports this one

        ids = [d.id for d in deliveries]
        transaction.on_commit(lambda: [deliver.delay(i) for i in ids])
    return deliveries


def alert_test_notify(*, alert: Alert) -> AlertEvent:
    """A "test notification" line in the history, sent to every channel of the alert with its
    current figures."""
    event = AlertEvent.objects.create(
        alert=alert,
        kind=AlertEvent.Kind.TEST,
        state_from=alert.state,
        state_to=alert.state,
        value=alert.last_value,
        previous_value=alert.last_previous_value,
        bucket=alert.last_bucket,
        notified=True,
        message=notice_message(alert=alert, kind="test", value=alert.last_value, previous=alert.last_previous_value, bucket=alert.last_bucket),
    )
    deliveries_queue(alert=alert, event=event)
    return event


def notice_payload(*, alert: Alert, event: AlertEvent, sent_at: datetime) -> dict:
    """The JSON body of a webhook notice."""
    change = change_percent(value=event.value, previous=event.previous_value)
    return {
        "kind": event.kind,
        "state": event.state_to,
        "previous_state": event.state_from,
        "message": event.message,
        "alert": {
            "id": alert.id,
            "name": alert.name,
            "url": _alert_url(alert),
            "figure": figure_label(alert),
            "condition": alert.condition,
            "threshold": alert.threshold,
            "interval": alert.interval,
        },
        "project": {"id": alert.project_id, "name": alert.project.name, "timezone": alert.project.timezone},
        "value": event.value,
        "previous_value": event.previous_value,
        "change_percent": None if change is None or math.isinf(change) else round(change, 4),
        "bucket_start": event.bucket.isoformat() if event.bucket else None,
        "event_id": event.id,
        "sent_at": sent_at.isoformat(),
    }


def _webhook_body(alert: Alert, event: AlertEvent, sent_at: datetime) -> bytes:
    if alert.webhook_format == Alert.WebhookFormat.SLACK:
        return orjson.dumps({"text": f"{event.message} {_alert_url(alert)}"})
    return orjson.dumps(notice_payload(alert=alert, event=event, sent_at=sent_at))


def _webhook_send(alert: Alert, event: AlertEvent, target: str) -> int:
    """POST the notice; the answer's status (2xx), else raises."""
    sent_at = timezone.now()
    body = _webhook_body(alert, event, sent_at)
    request = urllib.request.Request(
        target,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "PulseBoard-Alerts/1",
            TIMESTAMP_HEADER: str(int(sent_at.timestamp())),
            SIGNATURE_HEADER: webhook_signature(secret=webhook_secret(alert=alert), body=body),
        },
    )
    with webhook_open(request, timeout=settings.ALERTS_WEBHOOK_TIMEOUT_SECONDS) as response:
        return response.status


def _email_send(alert: Alert, event: AlertEvent, emails: list[str]) -> None:
    context = {"alert": alert, "event": event, "figure": figure_label(alert), "url": _alert_url(alert), "project_name": alert.project.name}
    subject = " ".join(render_to_string("alerts/emails/notice_subject.txt", context).split())
    message = EmailMultiAlternatives(subject, render_to_string("alerts/emails/notice.txt", context), to=emails)
    message.attach_alternative(render_to_string("alerts/emails/notice.html", context), "text/html")
    message.send()


def delivery_backoff(attempt: int) -> int:
    """Seconds to wait after failed attempt number ``attempt`` (1, 2...): doubling."""
    return settings.ALERTS_DELIVERY_BACKOFF_SECONDS * 2 ** (attempt - 1)


def delivery_attempt(*, delivery_id: int) -> int | None:
    """Try one pending delivery once. Returns the seconds to wait before the next attempt,
    or None when it is done (sent, failed for good, or no longer pending)."""
    delivery = AlertDelivery.objects.select_related("event__alert__project").filter(pk=delivery_id, status=AlertDelivery.Status.PENDING).first()
    if delivery is None:
        return None
    event, alert = delivery.event, delivery.event.alert
    delivery.attempts += 1
    try:
        if delivery.channel == AlertDelivery.Channel.WEBHOOK:
            delivery.response_status = _webhook_send(alert, event, delivery.target)
        else:
            _email_send(alert, event, [e.strip() for e in delivery.target.split(",") if e.strip()])
    except Exception as error:
        if isinstance(error, urllib.error.HTTPError):
            delivery.response_status = error.code
            delivery.error = f"HTTP {error.code} {error.reason}"[:500]
        else:
            delivery.error = f"{type(error).__name__}: {getattr(error, 'reason', None) or error}"[:500]
        if delivery.attempts >= settings.ALERTS_DELIVERY_ATTEMPTS:
            delivery.status = AlertDelivery.Status.FAILED
            delivery.save(update_fields=["attempts", "response_status", "error", "status", "updated_at"])
            logger.warning("alert %s: %s delivery %s failed after %d attempts: %s", alert.pk, delivery.channel, delivery.pk, delivery.attempts, delivery.error)
            return None
        delivery.save(update_fields=["attempts", "response_status", "error", "updated_at"])
        return delivery_backoff(delivery.attempts)
    delivery.status, delivery.error = AlertDelivery.Status.SENT, ""
    delivery.save(update_fields=["attempts", "response_status", "error", "status", "updated_at"])
    return None
