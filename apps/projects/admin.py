from django.contrib import admin, messages

from apps.projects.models import Membership, PersonalAPIKey, Project
from apps.projects.services import ingest_key_generate, project_rotate_api_key


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "timezone", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["api_key", "created_at", "updated_at"]
    inlines = [MembershipInline]
    actions = ["rotate_api_key"]

    def save_model(self, request, obj, form, change):
        if not obj.api_key:
            obj.api_key = ingest_key_generate()
        super().save_model(request, obj, form, change)

    @admin.action(description="Rotate the ingest API key")
    def rotate_api_key(self, request, queryset):
        for project in queryset:
            project_rotate_api_key(project=project)
        self.message_user(request, f"Rotated {queryset.count()} ingest key(s).", messages.SUCCESS)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["project", "user", "role", "created_at"]
    list_filter = ["role"]
    autocomplete_fields = ["project", "user"]


@admin.register(PersonalAPIKey)
class PersonalAPIKeyAdmin(admin.ModelAdmin):
    list_display = ["label", "user", "prefix", "created_at", "last_used_at"]
    readonly_fields = ["prefix", "secret_hash", "created_at", "last_used_at"]
    search_fields = ["label", "user__username"]

    def has_add_permission(self, request):
        # A key's secret can only be shown when it is issued; issue keys from the project
        # settings page or `manage.py bootstrap`, not here.
        return False
