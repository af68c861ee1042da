"""Pages for logging in, the project list and a project's settings.

Every page renders whole on a normal request and only its partial on an HTMX one. Each
settings form posts to its own URL; with HTMX the answer is that section's partial, without
JavaScript it is a redirect back to the page with a message. A new personal key is the
exception: its secret is shown in the answer to the request that creates it (the whole page
without JavaScript), and is never kept anywhere, the session included.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST

from apps.projects import services
from apps.projects.forms import (
    IngestGuardsForm,
    InviteForm,
    MemberAddForm,
    PersonalKeyForm,
    ProjectForm,
    ProjectSettingsForm,
    RoleForm,
    ServerKeyForm,
)
from apps.projects.models import Membership, Project
from apps.projects.navigation import project_home_url
from apps.projects.selectors import (
    membership_get,
    membership_get_in_project,
    memberships_for_project,
    memberships_for_user,
    personal_api_keys_for_user,
    Access,
    audit_entries_for_project,
    invites_pending_for_project,
    project_get_for_user,
    projects_for_user,
    role_allows,
    server_key_get_in_project,
    server_keys_for_project,
)
from pulseboard.htmx import go, page, vary_on_htmx
from pulseboard.sdk import sdk_script


# --- Auth ---------------------------------------------------------------------------------


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


def login_locked_out(request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None) -> HttpResponse:
    """The answer to a login refused by the lockout (``AXES_LOCKOUT_CALLABLE``), on the login
    page and the admin's: 429, why, and when to try again."""
    minutes = settings.LOGIN_COOLOFF_MINUTES
    context = {"failure_limit": settings.LOGIN_FAILURE_LIMIT, "cooloff_minutes": minutes}
    response = render(request, "registration/locked_out.html", context, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response


class LogoutView(auth_views.LogoutView):
    next_page = settings.LOGIN_URL

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        messages.info(request, "You are logged out.")
        return response


def home(request: HttpRequest) -> HttpResponse:
    """``/``: the first project's home page, the project list when there is none, or login."""
    if not request.user.is_authenticated:
        return redirect(settings.LOGIN_URL)
    first = projects_for_user(user=request.user).first()
    if first is None:
        return redirect("project-list")
    return redirect(project_home_url(project_id=first.id))


# --- Project list -------------------------------------------------------------------------


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None) if request.method == "POST" else ProjectForm()
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(
                name=form.cleaned_data["name"], timezone=form.cleaned_data["timezone"], owner=request.user
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"Project “{project.name}” created. Send it a first event with the ingest key below.")
            return go(request, reverse("project-settings", kwargs={"project_id": project.id}) + "#ingest-key")
    memberships = list(memberships_for_user(user=request.user))
    for m in memberships:
        m.home_url = project_home_url(project_id=m.project_id)
    context = {"memberships": memberships, "form": form}
    if request.method == "POST" and request.htmx:
        return vary_on_htmx(render(request, "projects/partials/project_create_form.html", context))
    return page(request, "projects/list.html", "projects/partials/project_list_body.html", context)


# --- Settings -----------------------------------------------------------------------------


def _project_and_role(request: HttpRequest, project_id: int, need: Access = Access.READ) -> tuple[Project, Membership]:
    project = project_get_for_user(user=request.user, project_id=project_id, need=need)
    membership = membership_get(project=project, user=request.user)
    if membership is None:  # left the project between the two reads
        raise Http404("No such project.")
    return project, membership


def _settings_context(request: HttpRequest, project: Project, membership: Membership, **overrides) -> dict:
    try:
        read_url = request.build_absolute_uri(reverse("api-events", kwargs={"project_id": project.id}))
    except NoReverseMatch:
        read_url = None
    context = {
        "project": project,
        "membership": membership,
        "is_owner": role_allows(membership.role, Access.OWN),
        "role_choices": Membership.Role.choices,
        "ingest_url": request.build_absolute_uri(reverse("ingest-events")),
        "sdk": sdk_script(request=request),
        "demo_url": f"{reverse('sdk-demo')}?project={project.id}",
        "read_url": read_url,
        "personal_keys": list(personal_api_keys_for_user(user=request.user)),
        "new_key": None,
        "key_form": PersonalKeyForm(),
        "project_form": _settings_form(project),
        "members": list(memberships_for_project(project=project)),
        "member_form": MemberAddForm(),
        "invite_form": InviteForm(),
        "invites": invites_pending_for_project(project=project),  # lazy: read when an owner's page shows them
        "notice": None,
        "ingest_max_events": settings.INGEST_MAX_EVENTS,
        "guards_form": _guards_form(project),
        "server_keys": list(server_keys_for_project(project=project)),
        "server_key_form": ServerKeyForm(),
        "new_server_key": None,
    }
    context["owner_count"] = sum(m.role == Membership.Role.OWNER for m in context["members"])
    context["audit_entries"] = list(audit_entries_for_project(project=project)) if context["is_owner"] else []
    context.update(overrides)
    return context


SECTION_TEMPLATES = {
    "ingest-key": "projects/partials/ingest_key.html",
    "personal-keys": "projects/partials/personal_keys.html",
    "project": "projects/partials/project_form.html",
    "members": "projects/partials/members.html",
    "limits": "projects/partials/ingest_guards.html",
    "server-keys": "projects/partials/server_keys.html",
}


def _section_done(request, project, membership, section: str, level: int, text: str, **overrides) -> HttpResponse:
    """After a settings POST: the section with a notice (HTMX), or back to the page with a message."""
    if request.htmx:
        notice = {"level": messages.DEFAULT_TAGS[level], "text": text}
        context = _settings_context(request, project, membership, notice=notice, **overrides)
        return vary_on_htmx(render(request, SECTION_TEMPLATES[section], context))
    messages.add_message(request, level, text)
    return vary_on_htmx(redirect(reverse("project-settings", kwargs={"project_id": project.id}) + f"#{section}"))


def _section_invalid(request, project, membership, section: str, **overrides) -> HttpResponse:
    """A form with errors: its section (HTMX) or the whole page, the form filled in."""
    context = _settings_context(request, project, membership, **overrides)
    template = SECTION_TEMPLATES[section] if request.htmx else "projects/settings.html"
    return vary_on_htmx(render(request, template, context))


@login_required
def project_settings(request: HttpRequest, project_id: int) -> HttpResponse:
    project, membership = _project_and_role(request, project_id)
    context = _settings_context(request, project, membership)
    return page(request, "projects/settings.html", "projects/partials/settings_body.html", context)


@login_required
@require_POST
def ingest_key_rotate(request: HttpRequest, project_id: int) -> HttpResponse:
    project, membership = _project_and_role(request, project_id, Access.OWN)
    services.project_rotate_api_key(project=project, actor=request.user)
    text = "New ingest key issued. The old key no longer works: update your apps and scripts."
    return _section_done(request, project, membership, "ingest-key", messages.SUCCESS, text)


def _settings_form(project) -> ProjectSettingsForm:
    return ProjectSettingsForm(
        initial={"name": project.name, "timezone": project.timezone, "session_gap_minutes": project.session_gap_minutes}
    )


@login_required
@require_POST
def project_edit(request: HttpRequest, project_id: int) -> HttpResponse:
    project, membership = _project_and_role(request, project_id, Access.OWN)
    form = ProjectSettingsForm(request.POST, current_timezone=project.timezone)
    if form.is_valid():
        try:
            services.project_update(
                project=project,
                name=form.cleaned_data["name"],
                timezone=form.cleaned_data["timezone"],
                session_gap_minutes=form.cleaned_data["session_gap_minutes"] or project.session_gap_minutes,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            return _section_done(request, project, membership, "project", messages.SUCCESS, "Project saved.", project_form=_settings_form(project))
    project.refresh_from_db()
    return _section_invalid(request, project, membership, "project", project_form=form)


@login_required
@require_POST
def personal_key_create(request: HttpRequest, project_id: int) -> HttpResponse:
    project, membership = _project_and_role(request, project_id)
    form = PersonalKeyForm(request.POST)
    if not form.is_valid():
        return _section_invalid(request, project, membership, "personal-keys", key_form=form)
    issued = services.personal_api_key_create(user=request.user, label=form.cleaned_data["label"])
    return _secret_shown(request, project, membership, "personal-keys", issued, new_key=f"Key “{issued.key.label}” created.")


def _secret_shown(request: HttpRequest, project, membership, section: str, issued, **new: str) -> HttpResponse:
    """The answer to a key's creation, the one answer that shows its secret: the section
    (HTMX) or the whole page, with the new key in the context under the name of ``new``'s
    one keyword, whose value is the notice."""
    (name, text), = new.items()
    issued.key.secret = issued.secret  # for the template; the secret is shown in this answer only
    if request.htmx:
        notice = {"level": messages.DEFAULT_TAGS[messages.SUCCESS], "text": text}
        context = _settings_context(request, project, membership, notice=notice, **{name: issued.key})
        response = render(request, SECTION_TEMPLATES[section], context)
    else:
        # Without JavaScript: the whole page, answered to this POST, rather than a redirect
        # that would have to carry the secret to the next request.
        context = _settings_context(request, project, membership, **{name: issued.key})
        response = render(request, "projects/settings.html", context, status=201)
    add_never_cache_headers(response)  # no copy of the secret in a browser or proxy cache
    return vary_on_htmx(response)


@login_required
@require_POST
def personal_key_revoke(request: HttpRequest, project_id: int, key_id: int) -> HttpResponse:
    project, membership = _project_and_role(request, project_id)
    if not services.personal_api_key_revoke(user=request.user, key_id=key_id):
        raise Http404("No such key.")
    return _section_done(request, project, membership, "personal-keys", messages.SUCCESS, "Key revoked. It no longer works.")


@login_required
@require_POST
def member_add(request: HttpRequest, project_id: int) -> HttpResponse:
    project, membership = _project_and_role(request, project_id, Access.OWN)
    form = MemberAddForm(request.POST)
    if form.is_valid():
        user = form.cleaned_data["user"]
        try:
            added = services.membership_add(project=project, user=user, role=form.cleaned_data["role"], actor=request.user)
        except ValidationError as exc:
            form.add_error("login", exc)
        else:
            text = f"{user.get_username()} added as {added.get_role_display().lower()}."
            return _section_done(request, project, membership, "members", messages.SUCCESS, text)
    return _section_invalid(request, project, membership, "members", member_form=form)


@login_required
@require_POST
def member_role(request: HttpRequest, project_id: int, membership_id: int) -> HttpResponse:
    project, membership = _project_and_role(request, project_id, Access.OWN)
    target = membership_get_in_project(project=project, membership_id=membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        return _section_done(request, project, membership, "members", messages.ERROR, "Choose a role: owner, member or viewer.")
    try:
        services.membership_set_role(membership=target, role=form.cleaned_data["role"], actor=request.user)
    except ValidationError as exc:
        return _section_done(request, project, membership, "members", messages.ERROR, " ".join(exc.messages))
    if target.id == membership.id:
        membership.refresh_from_db()
    text = f"{target.user.get_username()} is now {target.get_role_display().lower()}."
    return _section_done(request, project, membership, "members", messages.SUCCESS, text)


@login_required
@require_POST
def member_remove(request: HttpRequest, project_id: int, membership_id: int) -> HttpResponse:
    project, membership = _project_and_role(request, project_id, Access.OWN)
    target = membership_get_in_project(project=project, membership_id=membership_id)
    try:
        services.membership_remove(membership=target, actor=request.user)
    except ValidationError as exc:
        return _section_done(request, project, membership, "members", messages.ERROR, " ".join(exc.messages))
    if target.user_id == request.user.id:
        messages.success(request, f"You left {project.name}.")
        return go(request, reverse("project-list"))
    text = f"{target.user.get_username()} removed from {project.name}."
    return _section_done(request, project, membership, "members", messages.SUCCESS, text)


# --- Limits, origins and server keys (owners) ------------------------------------------------


def _guards_form(project: Project) -> IngestGuardsForm:
    return IngestGuardsForm(
        initial={
            "ingest_rate_per_second": project.ingest_rate_per_second,
            "ingest_burst": project.ingest_burst,
            "ingest_daily_quota": project.ingest_daily_quota,
            "allowed_origins": "\n".join(project.allowed_origins or []),
            "require_server_key": project.require_server_key,
        }
    )


@login_required
@require_POST
def ingest_guards_save(request: HttpRequest, project_id: int) -> HttpResponse:
    project, membership = _project_and_role(request, project_id, Access.OWN)
    form = IngestGuardsForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.project_ingest_guards_update(
                project=project,
                rate_per_second=data["ingest_rate_per_second"],
                burst=data["ingest_burst"],
                daily_quota=data["ingest_daily_quota"],
                allowed_origins=data["allowed_origins"],
                require_server_key=data["require_server_key"],
                actor=request.user,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            text = "Limits and origins saved. Every ingest key follows them within seconds."
            return _section_done(request, project, membership, "limits", messages.SUCCESS, text, guards_form=_guards_form(project))
    project.refresh_from_db()
    response = _section_invalid(request, project, membership, "limits", guards_form=form)
    if not request.htmx:
        response.status_code = 400
    return response


@login_required
@require_POST
def server_key_create(request: HttpRequest, project_id: int) -> HttpResponse:
    project, membership = _project_and_role(request, project_id, Access.OWN)
    form = ServerKeyForm(request.POST)
    if not form.is_valid():
        return _section_invalid(request, project, membership, "server-keys", server_key_form=form)
    issued = services.server_key_create(project=project, label=form.cleaned_data["label"], actor=request.user)
    return _secret_shown(request, project, membership, "server-keys", issued, new_server_key=f"Server key “{issued.key.label}” created.")


@login_required
@require_POST
def server_key_revoke(request: HttpRequest, project_id: int, key_id: int) -> HttpResponse:
    project, membership = _project_and_role(request, project_id, Access.OWN)
    key = server_key_get_in_project(project=project, key_id=key_id)
    if services.server_key_revoke(key=key, actor=request.user):
        text = f"Server key “{key.label}” revoked. It no longer works."
    else:
        text = f"Server key “{key.label}” was already revoked."
    return _section_done(request, project, membership, "server-keys", messages.SUCCESS, text)
