"""What the analytics area keeps in Postgres: annotations, the dated notes of a project.

An annotation marks a moment (``at``, UTC) with a short text: "pricing page redesign
shipped", "outage 14:00-14:40". Every time-series chart shows a marker on the bucket
holding it (:mod:`apps.analytics.annotations`).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.projects.models import Project

ANNOTATION_TEXT_MAX = 400


class Annotation(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="annotations")
    at = models.DateTimeField(help_text="The moment it marks (stored in UTC; shown in the project's timezone).")
    text = models.CharField(max_length=ANNOTATION_TEXT_MAX)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="annotations_created"
    )
    # The author's username when it was written: still shown after the account is deleted.
    created_by_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["project", "at"], name="annotation_project_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.text[:40]}"

    @property
    def author(self) -> str:
        """Who wrote it, as shown: the current username, else the one it was written under."""
        return self.created_by.get_username() if self.created_by_id and self.created_by else self.created_by_name
