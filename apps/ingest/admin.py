from django.contrib import admin

from apps.ingest.models import EventDefinition, IngestRequest
from apps.projects.admin import ProjectScopedAdmin, SuperuserOnlyAdmin


@admin.register(EventDefinition)
class EventDefinitionAdmin(ProjectScopedAdmin):
    """Read-only; staff who are not superusers see their own projects' events."""

    member_permissions = frozenset({"view"})
    list_display = ["name", "project", "count", "first_seen", "last_seen"]
    list_filter = ["project"]
    search_fields = ["name"]
    readonly_fields = ["project", "name", "count", "first_seen", "last_seen"]


@admin.register(IngestRequest)
class IngestRequestAdmin(SuperuserOnlyAdmin, admin.ModelAdmin):
    list_display = ["idempotency_key", "project", "created_at"]
    list_filter = ["project"]
    search_fields = ["idempotency_key"]
    readonly_fields = ["project", "idempotency_key", "response", "created_at"]
