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
    """The catalog of event names a project has sent, with when each was first and last
    seen, kept up to date by the flush. How many events a name has is ClickHouse's to
    say (:func:`apps.ingest.selectors.event_names_by_volume`)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="event_definitions")
    name = models.CharField(max_length=200)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="eventdefinition_unique_project_name")]

    def __str__(self) -> str:
        return self.name


class ReconcileRun(models.Model):
    """One run of the rollup reconciler (``manage.py reconcile``, or nightly by beat)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.SET_NULL, null=True, blank=True, help_text="Empty: every project.")
    repair = models.BooleanField(default=True, help_text="Rebuild the buckets that drifted (otherwise only report them).")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    projects = models.PositiveIntegerField(default=0)
    buckets = models.PositiveBigIntegerField(default=0, help_text="Buckets (hours or days of a rollup) compared.")
    drift = models.PositiveIntegerField(default=0, help_text="Buckets whose rollup differed from events.")
    repaired = models.PositiveIntegerField(default=0)
    details = models.JSONField(default=list, blank=True, help_text="The first drifting buckets: table, project, bucket, counts.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"reconcile #{self.pk} ({self.status})"
