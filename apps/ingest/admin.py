from django.contrib import admin

from apps.ingest.models import EventDefinition, EventDeletion, IngestRequest, ReconcileRun
from apps.projects.admin import ProjectScopedAdmin, SuperuserOnlyAdmin


@admin.register(EventDefinition)
class EventDefinitionAdmin(ProjectScopedAdmin):
    """Read-only; staff who are not superusers see their own projects' events."""

    member_permissions = frozenset({"view"})
    list_display = ["name", "project", "first_seen", "last_seen", "hidden"]
    list_filter = ["project", "hidden"]
    search_fields = ["name", "description"]
    readonly_fields = ["project", "name", "first_seen", "last_seen", "description", "hidden"]


@admin.register(IngestRequest)
class IngestRequestAdmin(SuperuserOnlyAdmin, admin.ModelAdmin):
    list_display = ["idempotency_key", "project", "created_at"]
    list_filter = ["project"]
    search_fields = ["idempotency_key"]
    readonly_fields = ["project", "idempotency_key", "response", "created_at"]


@admin.register(ReconcileRun)
class ReconcileRunAdmin(SuperuserOnlyAdmin, admin.ModelAdmin):
    """Runs of the rollup reconciler (``manage.py reconcile``, nightly by beat); read-only."""

    list_display = ["id", "status", "project", "created_at", "finished_at", "buckets", "drift", "repaired"]
    list_filter = ["status"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(EventDeletion)
class EventDeletionAdmin(SuperuserOnlyAdmin, admin.ModelAdmin):
    """Deletions of events asked on the Data page: who, what, when, rows removed; read-only."""

    list_display = ["requested_at", "project", "event", "date_from", "date_to", "status", "requested_by_name", "rows_matched"]
    list_filter = ["status"]
    search_fields = ["event", "requested_by_name"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
