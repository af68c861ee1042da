from django.contrib import admin

from apps.ingest.models import EventDefinition, IngestRequest


@admin.register(EventDefinition)
class EventDefinitionAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "first_seen", "last_seen"]
    list_filter = ["project"]
    search_fields = ["name"]
    readonly_fields = ["project", "name", "first_seen", "last_seen"]


@admin.register(IngestRequest)
class IngestRequestAdmin(admin.ModelAdmin):
    list_display = ["idempotency_key", "project", "created_at"]
    list_filter = ["project"]
    search_fields = ["idempotency_key"]
    readonly_fields = ["project", "idempotency_key", "response", "created_at"]
