import uuid

from django.db import models

from apps.ingest.models import DeletionRecord
from apps.projects.models import Project


class IngestionWarning(models.Model):
    """Something ingest stored but could not do as asked, for the project's owners to see
    (its settings page lists them). A repeat of the same warning is recorded once."""

    class Kind(models.TextChoices):
        MERGE_REFUSED = "merge_refused", "Merge refused"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="ingestion_warnings")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    key = models.CharField(max_length=200, help_text="What makes two warnings the same one.")
    message = models.TextField()
    details = models.JSONField(default=dict, blank=True)
    event_time = models.DateTimeField(help_text="The time of the event that caused it.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["project", "kind", "key"], name="ingestionwarning_unique_key")]

    def __str__(self) -> str:
        return self.message


class PersonDeletion(DeletionRecord):
    """The deletion of a person and every event of its ids, kept for audit: who asked,
    when, and the rows removed from each ClickHouse table."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="person_deletions")
    person_id = models.UUIDField(help_text="The person's id.")
    person_key = models.DecimalField(max_digits=20, decimal_places=0, help_text="The person's key in ClickHouse.")
    distinct_ids = models.JSONField(default=list, help_text="The person's ids when it was deleted.")

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"deletion of person {self.person_id} ({self.status})"
