"""What alerts keep in Postgres: the alert, its history of state changes and notices, and
each notice's deliveries.

An alert judges one figure of the trends insight (a series, or the ratio of two series)
on the last complete bucket (hour or day, in the project's timezone) every
``every_minutes``. Its state is ``ok``, ``firing`` or ``resolved``; a notice goes out only
when the state changes to ``firing`` or to ``resolved`` (:mod:`apps.alerts.services`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.projects.models import Project

NAME_MAX = 200
URL_MAX = 2000


class Alert(models.Model):
    class Math(models.TextChoices):
        TOTAL = "total", "Total count"
        UNIQUE = "unique", "Unique persons"

    class Condition(models.TextChoices):
        ABOVE = "above", "is above"
        BELOW = "below", "is below"
        CHANGE = "change", "changes by more than (%)"

    class Interval(models.TextChoices):
        HOUR = "hour", "Hour"
        DAY = "day", "Day"

    class State(models.TextChoices):
        OK = "ok", "OK"
        FIRING = "firing", "Firing"
        RESOLVED = "resolved", "Resolved"

    class WebhookFormat(models.TextChoices):
        JSON = "json", "JSON"
        SLACK = "slack", "Slack-compatible"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alerts")
    name = models.CharField(max_length=NAME_MAX)
    # The figure: a series of the trends insight, or the ratio of two (denominator_event set).
    event = models.CharField(max_length=200)
    math = models.CharField(max_length=16, choices=Math.choices, default=Math.TOTAL)
    filters = models.JSONField(default=list, blank=True)
    denominator_event = models.CharField(max_length=200, blank=True, default="")
    denominator_math = models.CharField(max_length=16, choices=Math.choices, default=Math.TOTAL)
    denominator_filters = models.JSONField(default=list, blank=True)
    # The rule.
    condition = models.CharField(max_length=16, choices=Condition.choices, default=Condition.ABOVE)
    threshold = models.FloatField(help_text="The limit; with the change condition, a percentage.")
    interval = models.CharField(max_length=8, choices=Interval.choices, default=Interval.HOUR)
    every_minutes = models.PositiveIntegerField(default=5)
    enabled = models.BooleanField(default=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # Channels.
    recipients = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="alerts_received")
    webhook_url = models.URLField(max_length=URL_MAX, blank=True, default="")
    webhook_format = models.CharField(max_length=8, choices=WebhookFormat.choices, default=WebhookFormat.JSON)
    # The signing secret is derived from SECRET_KEY, the alert's id and this nonce: nothing secret is stored.
    webhook_nonce = models.CharField(max_length=64, blank=True, default="")
    # State.
    state = models.CharField(max_length=16, choices=State.choices, default=State.OK)
    last_value = models.FloatField(null=True, blank=True)
    last_previous_value = models.FloatField(null=True, blank=True)
    last_bucket = models.DateTimeField(null=True, blank=True, help_text="Start of the bucket last judged (UTC).")
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    next_evaluation_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts_created")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["project", "name"], name="alert_project_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_ratio(self) -> bool:
        return bool(self.denominator_event)


class AlertEvent(models.Model):
    """One line of an alert's history: a change of state, or a test notification."""

    class Kind(models.TextChoices):
        FIRING = "firing", "Firing"
        RESOLVED = "resolved", "Resolved"
        TEST = "test", "Test notification"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="history")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    state_from = models.CharField(max_length=16, blank=True, default="")
    state_to = models.CharField(max_length=16, blank=True, default="")
    value = models.FloatField(null=True, blank=True)
    previous_value = models.FloatField(null=True, blank=True)
    bucket = models.DateTimeField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True, default="")
    notified = models.BooleanField(default=False, help_text="False when the alert was snoozed: recorded, nobody told.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["alert", "-created_at"], name="alertevent_alert_created")]


class AlertDelivery(models.Model):
    """One notice on one channel: its attempts and outcome."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    event = models.ForeignKey(AlertEvent, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    target = models.CharField(max_length=URL_MAX, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
