import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone as django_timezone

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


EVENT_DESCRIPTION_MAX = 400


class EventDefinition(models.Model):
    """The catalog of event names a project has sent, with when each was first and last
    seen, kept up to date by the flush. How many events a name has is ClickHouse's to
    say (:func:`apps.ingest.selectors.event_names_by_volume`).

    The team documents each name (``description``) and can keep noise out of the event
    pickers (``hidden``): a hidden event is still stored, counted and listed on the Events
    page."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="event_definitions")
    name = models.CharField(max_length=200)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    description = models.CharField(max_length=EVENT_DESCRIPTION_MAX, blank=True, default="")
    hidden = models.BooleanField(default=False, help_text="Left out of the event pickers of insights and funnels.")

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


class DeletionRecord(models.Model):
    """What every deletion keeps for audit: who asked and when, its progress, and the rows
    removed per ClickHouse table. The deletions of events and of persons extend it."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    requested_by_name = models.CharField(max_length=150, blank=True, help_text="Kept if the user is deleted.")
    requested_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    rows_removed = models.JSONField(default=dict, blank=True, help_text="Rows removed per ClickHouse table.")
    error = models.TextField(blank=True)

    class Meta:
        abstract = True

    def running(self, **fields) -> None:
        self.status = self.Status.RUNNING
        for name, value in fields.items():
            setattr(self, name, value)
        self.save(update_fields=["status", *fields])

    def ended(self, removed: dict[str, int], error: BaseException | None = None) -> None:
        """Record the end: done, or failed with ``error``; ``removed`` is what was removed either way."""
        self.status = self.Status.FAILED if error is not None else self.Status.DONE
        if error is not None:
            self.error = f"{type(error).__name__}: {error}"[:2000]
        self.rows_removed = removed
        self.finished_at = django_timezone.now()
        self.save()


class EventDeletion(DeletionRecord):
    """The deletion of a project's events by name and/or date range, kept for audit: who
    asked, what, when, and the rows removed from each ClickHouse table."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="event_deletions")
    event = models.CharField(max_length=200, blank=True, help_text="Only events of this name; empty: every name.")
    date_from = models.DateField(null=True, blank=True, help_text="First day, in the project's timezone (as asked).")
    date_to = models.DateField(null=True, blank=True, help_text="Last day, included, in the project's timezone (as asked).")
    timezone = models.CharField(max_length=64, help_text="The project's timezone when it was asked.")
    since = models.DateTimeField(null=True, blank=True, help_text="Start of the range, in UTC.")
    until = models.DateTimeField(null=True, blank=True, help_text="End of the range (excluded), in UTC.")
    rows_matched = models.PositiveBigIntegerField(default=0, help_text="Events that matched when it was confirmed.")
    started_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"deletion of {self.describe()} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def events_removed(self) -> int:
        return int(self.rows_removed.get("events", 0))

    @property
    def tables_changed(self) -> list[tuple[str, int]]:
        """(table, rows removed) of the tables that lost rows, events first."""
        return sorted(((t, n) for t, n in self.rows_removed.items() if n), key=lambda item: (item[0] != "events", item[0]))

    @property
    def tables_unchanged(self) -> list[str]:
        return sorted(t for t, n in self.rows_removed.items() if not n)

    def describe(self) -> str:
        """What it deletes, in words: ``signup events from 2026-01-01 to 2026-01-31``."""
        what = f"“{self.event}” events" if self.event else "all events"
        if self.date_from and self.date_to:
            return f"{what} from {self.date_from:%Y-%m-%d} to {self.date_to:%Y-%m-%d}" if self.date_from != self.date_to else f"{what} of {self.date_from:%Y-%m-%d}"
        if self.date_from:
            return f"{what} from {self.date_from:%Y-%m-%d} on"
        if self.date_to:
            return f"{what} up to {self.date_to:%Y-%m-%d}"
        return what


class TrackingPlan(models.Model):
    """A project's tracking plan: the event names it accepts, each with the properties it
    must carry and their types. Ingest checks every event against it (:mod:`apps.ingest.plan`).

    ``events`` is a list of ``{"name": str, "properties": [{"name": str, "type": str}]}``,
    the types being ``string``, ``number`` or ``boolean``; it is written whole, through
    :func:`apps.ingest.plan.tracking_plan_update`, which validates it."""

    class Mode(models.TextChoices):
        OFF = "off", "Off"
        OBSERVE = "observe", "Observe"
        ENFORCE = "enforce", "Enforce"

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="tracking_plan")
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.OFF)
    allow_dollar_events = models.BooleanField(
        default=True, help_text="Accept every $-prefixed event of the client libraries ($pageview, $identify, $autocapture...)."
    )
    events = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    def __str__(self) -> str:
        return f"tracking plan of project {self.project_id} ({self.mode})"


class PlanViolation(models.Model):
    """How many accepted events broke the tracking plan in ``observe`` mode, per event name,
    property and kind, and when it last happened. Ingest counts in Redis; the counts are
    folded in here when read (:func:`apps.ingest.plan.plan_violations_merge`)."""

    class Kind(models.TextChoices):
        UNKNOWN_EVENT = "unknown_event", "Unknown event"
        MISSING_PROPERTY = "missing_property", "Missing property"
        WRONG_TYPE = "wrong_type", "Wrong type"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="plan_violations")
    event = models.CharField(max_length=200)
    property = models.CharField(max_length=200, blank=True, help_text="Empty for an unknown event.")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    count = models.PositiveBigIntegerField(default=0)
    last_seen = models.DateTimeField()

    class Meta:
        ordering = ["event", "property", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["project", "event", "property", "kind"], name="planviolation_unique_project_event_property_kind")
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.property} {self.kind}: {self.count}"


class IpSalt(models.Model):
    """The salt of the IP hash for one UTC day, random, shared by every process. Deleted
    48 hours after its day began (:mod:`apps.ingest.salt`): from then on no stored hash of
    that day can be linked to an address."""

    day = models.DateField(unique=True)
    salt = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"IP salt of {self.day:%Y-%m-%d}"
