"""The Django admin, and the two rules every app's admin follows.

* A model that belongs to a project uses :class:`ProjectScopedAdmin` (or
  :class:`ProjectScopedInline`): a staff user who is not a superuser sees and edits only the
  objects of the projects they are a member of, and picks only those projects in forms.
  Membership is the permission; Django's model permissions are not needed (and not enough).
* A model that spans projects (users, groups, memberships, personal keys, ingest records)
  uses :class:`SuperuserOnlyAdmin`.

Superusers keep everything.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest

from apps.projects.models import AuditEntry, Membership, PersonalAPIKey, Project
from apps.projects.selectors import Access, project_ids_for_user, projects_for_user
from apps.projects.services import ingest_key_generate, project_rotate_api_key

MEMBER_PERMISSIONS = frozenset({"view", "add", "change", "delete"})


def _is_superuser(request: HttpRequest) -> bool:
    return request.user.is_active and request.user.is_superuser


def _member_project_ids(request: HttpRequest, need: Access = Access.READ) -> frozenset[int]:
    """The projects where the request's user's role allows ``need``, read once per request."""
    cache = request.__dict__.setdefault("_admin_project_ids", {})
    if need not in cache:
        cache[need] = project_ids_for_user(user=request.user, need=need)
    return cache[need]


def _project_id_of(obj, path: str) -> int | None:
    """The id of ``obj``'s project, following ``path`` (``"project"``, ``"funnel__project"``,
    or ``"pk"`` for a project itself)."""
    *links, last = path.split("__")
    for link in links:
        obj = getattr(obj, link)
    return obj.pk if last == "pk" else getattr(obj, f"{last}_id")


class _ProjectScope:
    #: The lookup from this admin's model to its project ("pk" for the Project model).
    project_field = "project"
    #: The same from the object the permission checks get: the model's own object for a
    #: ModelAdmin, the parent object for an inline (None: ``project_field``).
    object_project_field: str | None = None
    #: What a member who is not a superuser may do; superusers may do everything.
    member_permissions = MEMBER_PERMISSIONS

    def _member_may(self, request: HttpRequest, action: str, obj=None) -> bool:
        user = request.user
        if not (user.is_active and user.is_staff) or action not in self.member_permissions:
            return False
        # Viewers see their projects' objects; adding, changing and deleting takes an editor.
        projects = _member_project_ids(request, Access.READ if action == "view" else Access.EDIT)
        if obj is None:
            return bool(projects) if action == "add" else True
        return _project_id_of(obj, self.object_project_field or self.project_field) in projects

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if _is_superuser(request):
            return queryset
        return queryset.filter(**{f"{self.project_field}__in": _member_project_ids(request)})

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.related_model is Project and not _is_superuser(request):
            # A project's objects are only ever put in a project the user may edit.
            kwargs["queryset"] = projects_for_user(user=request.user).filter(id__in=_member_project_ids(request, Access.EDIT))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_view_permission(self, request, obj=None):
        if _is_superuser(request):
            return super().has_view_permission(request, obj)
        return self._member_may(request, "view", obj) or self._member_may(request, "change", obj)

    def has_change_permission(self, request, obj=None):
        if _is_superuser(request):
            return super().has_change_permission(request, obj)
        return self._member_may(request, "change", obj)

    def has_delete_permission(self, request, obj=None):
        if _is_superuser(request):
            return super().has_delete_permission(request, obj)
        return self._member_may(request, "delete", obj)


class ProjectScopedAdmin(_ProjectScope, admin.ModelAdmin):
    """A ModelAdmin of a project's objects; see the module's docstring."""

    def has_module_permission(self, request):
        if _is_superuser(request):
            return super().has_module_permission(request)
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request):
        if _is_superuser(request):
            return super().has_add_permission(request)
        return self._member_may(request, "add")

    def get_list_filter(self, request):
        """A filter on the project lists only the user's projects (the plain one lists them all)."""
        filters = super().get_list_filter(request)
        if _is_superuser(request):
            return filters
        return [(f, admin.RelatedOnlyFieldListFilter) if f == self.project_field else f for f in filters]


class ProjectScopedInline(_ProjectScope):
    """Mixin for an inline of a project's objects (before ``admin.TabularInline``); the
    permission checks get the parent object."""

    object_project_field = "project"

    def has_add_permission(self, request, obj):
        if _is_superuser(request):
            return super().has_add_permission(request, obj)
        return self._member_may(request, "add", obj)


class SuperuserOnlyAdmin:
    """Mixin for a ModelAdmin or inline that only superusers may use, whatever Django
    permissions a staff user was given."""

    def has_module_permission(self, request):
        return _is_superuser(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return _is_superuser(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        return _is_superuser(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return _is_superuser(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return _is_superuser(request) and super().has_delete_permission(request, obj)


# --- Users and groups: superusers only ----------------------------------------------------

if admin.site.is_registered(get_user_model()):
    admin.site.unregister(get_user_model())
if admin.site.is_registered(Group):
    admin.site.unregister(Group)


@admin.register(get_user_model())
class SuperuserOnlyUserAdmin(SuperuserOnlyAdmin, UserAdmin):
    pass


@admin.register(Group)
class SuperuserOnlyGroupAdmin(SuperuserOnlyAdmin, GroupAdmin):
    pass


# --- Projects -----------------------------------------------------------------------------


class MembershipInline(SuperuserOnlyAdmin, admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(ProjectScopedAdmin):
    """Superusers manage every project here. Other staff may view their own projects (their
    owners change them on the project's settings page)."""

    project_field = "pk"
    member_permissions = frozenset({"view"})
    list_display = ["name", "id", "timezone", "created_at"]
    search_fields = ["name"]
    readonly_fields = ["api_key", "created_at", "updated_at"]
    inlines = [MembershipInline]
    actions = ["rotate_api_key"]

    def save_model(self, request, obj, form, change):
        if not obj.api_key:
            obj.api_key = ingest_key_generate()
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None):
        # Deleting a project here would leave its events in ClickHouse: owners delete it on
        # its Data page, which removes every row of every table and stops its key at once.
        return False

    @admin.action(description="Rotate the ingest API key", permissions=["change"])
    def rotate_api_key(self, request, queryset):
        for project in queryset:
            project_rotate_api_key(project=project, actor=request.user)
        self.message_user(request, f"Rotated {queryset.count()} ingest key(s).", messages.SUCCESS)


@admin.register(Membership)
class MembershipAdmin(SuperuserOnlyAdmin, admin.ModelAdmin):
    list_display = ["project", "user", "role", "created_at"]
    list_filter = ["role"]
    autocomplete_fields = ["project", "user"]


@admin.register(PersonalAPIKey)
class PersonalAPIKeyAdmin(SuperuserOnlyAdmin, admin.ModelAdmin):
    list_display = ["label", "user", "prefix", "created_at", "last_used_at"]
    readonly_fields = ["prefix", "secret_hash", "created_at", "last_used_at"]
    search_fields = ["label", "user__username"]

    def has_add_permission(self, request):
        # A key's secret can only be shown when it is issued; issue keys from the project
        # settings page or `manage.py bootstrap`, not here.
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(SuperuserOnlyAdmin, admin.ModelAdmin):
    """The whole audit log, read-only: entries are written by the actions they record."""

    list_display = ["created_at", "project_name", "actor_name", "action", "summary"]
    list_filter = ["action"]
    search_fields = ["project_name", "actor_name", "summary"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
