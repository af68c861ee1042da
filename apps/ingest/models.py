from django.db import models

from apps.projects.models import Project


class IngestRequest(models.Model):
    """An ingest request that carried an idempotency key, and the answer it got.

    A replay of the key returns the stored answer and inserts nothing. ``response`` is
    empty while the first request is still being processed.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="ingest_requests")
    idempotency_key = models.CharField(max_length=200)
    response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "idempotency_key"], name="ingestrequest_unique_project_key")
        ]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.idempotency_key}"


class EventDefinition(models.Model):
    """The catalog of event names a project has sent, kept up to date by the flush."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="event_definitions")
    name = models.CharField(max_length=200)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    count = models.BigIntegerField(default=0, help_text="Events stored under this name so far.")

    class Meta:
        ordering = ["-count", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="eventdefinition_unique_project_name")]

    def __str__(self) -> str:
        return self.name
