from django.contrib import admin

from apps.ingest.models import EventDefinition, IngestRequest, ReconcileRun
from apps.projects.admin import ProjectScopedAdmin, SuperuserOnlyAdmin


@admin.register(EventDefinition)
class EventDefinitionAdmin(ProjectScopedAdmin):
    """Read-only; staff who are not superusers see their own projects' events."""

    member_permissions = frozenset({"view"})
    list_display = ["name", "project", "first_seen", "last_seen"]
    list_filter = ["project"]
    search_fields = ["name"]
    readonly_fields = ["project", "name", "first_seen", "last_seen"]


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
