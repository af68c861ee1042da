"""Who gets a project's digest, how often, and which digests went out."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.projects.models import Project


class Frequency(models.TextChoices):
    OFF = "off", "Off"
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"


class DigestSubscription(models.Model):
    """A member's choice for one project. No row means off; a member removed from the
    project gets nothing, whatever the row says (the membership is checked at sending)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="digest_subscriptions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="digest_subscriptions")
    frequency = models.CharField(max_length=8, choices=Frequency.choices, default=Frequency.OFF)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="digestsubscription_unique_project_user")]
        indexes = [models.Index(fields=["frequency", "project"], name="digestsub_frequency_project")]

    def __str__(self) -> str:
        return f"{self.user} · {self.project} · {self.frequency}"


class DigestDelivery(models.Model):
    """One scheduled digest sent: at most one per member, project, frequency and period
    (the unique constraint is what makes a repeated or retried run send nothing twice)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="digest_deliveries")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="digest_deliveries")
    frequency = models.CharField(max_length=8, choices=Frequency.choices)
    period_start = models.DateField(help_text="The first local day of the period the digest covers.")
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "user", "frequency", "period_start"], name="digestdelivery_unique_period"
            )
        ]
        ordering = ["-sent_at", "-id"]

    def __str__(self) -> str:
        return f"{self.frequency} digest of {self.period_start} to {self.user}"
