"""Accounts: sign-up, email invites to a project, password reset and change.

* ``/signup/`` takes new accounts when the install is open (``PULSEBOARD_SIGNUP=open``) or
  has no user yet (the first account becomes the administrator); otherwise it explains that
  an invite is needed.
* An owner invites by email from the Members section of a project's settings. The link,
  ``/invites/<token>/``, carries the only copy of the token (PulseBoard keeps its SHA-256),
  works once, for ``INVITE_DAYS`` days. It opens a page where a visitor creates an account
  (or, logged in, accepts with one button) and joins the project with the invited role.
* Password reset by email and password change are Django's views with our templates.

Sign-ups, reset requests and invites are counted per client address (invites: per user)
and hour in Redis, so the pages cannot be used to send mail in bulk.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
from functools import cache
from urllib.parse import urlencode

import redis
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import password_validation
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.cache import add_never_cache_headers
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from apps.projects import services, views
from apps.projects.forms import InviteForm, InviteSignupForm, SignupForm
from apps.projects.models import Invite, Membership
from apps.projects.navigation import project_home_url
from apps.projects.selectors import (
    Access,
    invite_get_by_token,
    invite_get_in_project,
    invite_state,
    membership_get,
    signup_mode,
    user_with_email_exists,
)
from pulseboard.htmx import vary_on_htmx
from pulseboard.http import client_ip

logger = logging.getLogger(__name__)

# The backend a new account's session is opened with (it has no password check to pass).
SESSION_BACKEND = "apps.projects.authentication.UserBackend"


# --- Throttle -----------------------------------------------------------------------------


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)


def throttle_hit(scope: str, who: str, limit: int) -> int:
    """Count one more ``scope`` action by ``who`` in its hour. 0 if within ``limit``, else
    the seconds until the hour is over. Redis down: allowed (and logged)."""
    key = f"{settings.REDIS_KEY_PREFIX}:throttle:{scope}:{hashlib.sha256(who.encode()).hexdigest()[:24]}"
    try:
        pipe = _redis().pipeline()
        pipe.set(key, 0, ex=3600, nx=True)
        pipe.incr(key)
        pipe.ttl(key)
        _, count, ttl = pipe.execute()
    except redis.RedisError as exc:
        logger.warning("account throttle unavailable, %s allowed: %s", scope, exc)
        return 0
    return 0 if count <= limit else max(int(ttl), 1)


def _too_many(request: HttpRequest, retry_after: int, what: str) -> HttpResponse:
    minutes = max(1, -(-retry_after // 60))
    response = render(request, "registration/too_many.html", {"what": what, "minutes": minutes}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def _open_session(request: HttpRequest, user) -> None:
    auth_login(request, user, backend=SESSION_BACKEND)


def _form_errors_from(form, exc: ValidationError, default_field: str | None = None) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else default_field, errors)
    else:
        form.add_error(default_field, exc)


# --- Login and sign-up --------------------------------------------------------------------


class LoginView(views.LoginView):
    """The login page, which links to sign-up when the install takes sign-ups."""

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["signup_mode"] = signup_mode()
        return context


@never_cache
def signup(request: HttpRequest) -> HttpResponse:
    """``/signup/``: the sign-up form (open install, or none yet), else why an invite is needed."""
    if request.user.is_authenticated:
        return redirect("home")
    mode = signup_mode()
    if mode == "invite":
        # No form; a POST (a stale page, a script) creates nothing.
        return render(request, "registration/signup.html", {"mode": mode}, status=403 if request.method == "POST" else 200)
    form = SignupForm(request.POST or None) if request.method == "POST" else SignupForm()
    if request.method == "POST" and form.is_valid():
        retry = throttle_hit("signup", client_ip(request), settings.ACCOUNT_RATE_PER_HOUR)
        if retry:
            return _too_many(request, retry, "sign-ups")
        data = form.cleaned_data
        try:
            user = services.user_signup(username=data["username"], email=data["email"], password=data["password1"])
        except services.SignupClosed:
            return render(request, "registration/signup.html", {"mode": "invite"}, status=403)
        except ValidationError as exc:
            _form_errors_from(form, exc, "password1")
        else:
            _open_session(request, user)
            if user.is_superuser:
                messages.success(request, "Welcome! Your account is this install's administrator. Create a first project to send events to.")
            else:
                messages.success(request, "Welcome to PulseBoard! Create a project, or ask a project's owner to invite you to theirs.")
            return redirect("project-list")
    return render(request, "registration/signup.html", {"mode": mode, "form": form})


# --- Invites: sending and withdrawing (project settings, owners only) -----------------------


@login_required
@require_POST
def invite_create(request: HttpRequest, project_id: int) -> HttpResponse:
    """Invite someone by email, or add an existing user directly (as ``member-add`` does)."""
    project, membership = views._project_and_role(request, project_id, Access.OWN)
    form = InviteForm(request.POST)
    if not form.is_valid():
        return views._section_invalid(request, project, membership, "members", invite_form=form)
    role = form.cleaned_data["role"]
    user = form.cleaned_data.get("user")
    if user is not None:
        try:
            added = services.membership_add(project=project, user=user, role=role, actor=request.user)
        except ValidationError as exc:
            form.add_error("login", exc)
            return views._section_invalid(request, project, membership, "members", invite_form=form)
        text = f"{user.get_username()} added as {added.get_role_display().lower()}."
        return views._section_done(request, project, membership, "members", messages.SUCCESS, text)

    retry = throttle_hit("invite", f"user:{request.user.pk}", settings.ACCOUNT_RATE_PER_HOUR * 3)
    if retry:
        form.add_error(None, f"You have sent many invites in the last hour: try again in {-(-retry // 60)} minutes.")
        response = views._section_invalid(request, project, membership, "members", invite_form=form)
        if not request.htmx:  # HTMX swaps a form with errors in only when it is a 2xx or 400/422
            response.status_code = 429
        return response
    try:
        issued = services.invite_create(project=project, email=form.cleaned_data["email"], role=role, invited_by=request.user)
    except ValidationError as exc:
        form.add_error("login", exc)
        return views._section_invalid(request, project, membership, "members", invite_form=form)
    url = request.build_absolute_uri(reverse("invite-accept", kwargs={"token": issued.token}))
    try:
        services.invite_email_send(invite=issued.invite, accept_url=url)
        sent = True
    except (OSError, smtplib.SMTPException) as exc:
        logger.warning("invite email to %s not sent: %s", issued.invite.email, exc)
        sent = False
    invite = issued.invite
    new_invite = {"id": invite.id, "email": invite.email, "url": url, "sent": sent}
    if sent:
        text = f"Invite sent to {invite.email} as {invite.get_role_display().lower()}. The link works once, for {services.INVITE_DAYS} days."
        level = messages.SUCCESS
    else:
        text = f"The invite to {invite.email} was made, but its email could not be sent. Copy the link below and send it yourself."
        level = messages.WARNING
    notice = {"level": messages.DEFAULT_TAGS[level], "text": text}
    # Like a new personal key: the link is in this answer only (the whole page without
    # JavaScript), never in a message carried to the next request.
    context = views._settings_context(request, project, membership, notice=notice, new_invite=new_invite)
    if request.htmx:
        response = render(request, views.SECTION_TEMPLATES["members"], context)
    else:
        response = render(request, "projects/settings.html", context, status=201)
    add_never_cache_headers(response)
    return vary_on_htmx(response)


@login_required
@require_POST
def invite_revoke(request: HttpRequest, project_id: int, invite_id: int) -> HttpResponse:
    project, membership = views._project_and_role(request, project_id, Access.OWN)
    invite = invite_get_in_project(project=project, invite_id=invite_id)
    if services.invite_revoke(invite=invite, actor=request.user):
        level, text = messages.SUCCESS, f"Invite of {invite.email} withdrawn. Its link no longer works."
    else:
        level, text = messages.INFO, f"The invite of {invite.email} was no longer pending."
    return views._section_done(request, project, membership, "members", level, text)


# --- Invites: the link ----------------------------------------------------------------------

INVALID_STATUS = {"unknown": 404, "accepted": 410, "revoked": 410, "expired": 410}


def _invite_unusable(request: HttpRequest, reason: str, invite: Invite | None = None) -> HttpResponse:
    response = render(request, "registration/invite_invalid.html", {"reason": reason, "invite": invite}, status=INVALID_STATUS[reason])
    add_never_cache_headers(response)
    return response


def _joined(request: HttpRequest, membership: Membership, invite: Invite, created_account: bool) -> HttpResponse:
    role = membership.get_role_display().lower()
    if created_account:
        text = f"Welcome to PulseBoard! You joined {invite.project.name} as {role}."
    else:
        text = f"You joined {invite.project.name} as {role}."
    messages.success(request, text)
    return redirect(project_home_url(project_id=invite.project_id))


@never_cache
def invite_accept(request: HttpRequest, token: str) -> HttpResponse:
    """``/invites/<token>/``: join the invite's project, creating an account if need be."""
    invite = invite_get_by_token(token=token)
    if invite is None:
        return _invite_unusable(request, "unknown")
    state = invite_state(invite)
    if state == "accepted" and request.user.is_authenticated and invite.accepted_by_id == request.user.pk:
        messages.info(request, f"You have already joined {invite.project.name}.")
        return redirect(project_home_url(project_id=invite.project_id))
    if state != "pending":
        return _invite_unusable(request, state, invite)
    context = {
        "invite": invite,
        "inviter": (invite.invited_by.get_full_name() or invite.invited_by.get_username()) if invite.invited_by else None,
        "role": invite.get_role_display().lower(),
    }

    if request.user.is_authenticated:
        current = membership_get(project=invite.project, user=request.user)
        if request.method == "POST":
            try:
                joined = services.invite_accept(invite=invite, user=request.user)
            except services.InviteUnusable as exc:
                return _invite_unusable(request, exc.state, invite)
            if current is not None:
                messages.info(request, f"You were already a member of {invite.project.name}; your role stays {current.get_role_display().lower()}.")
                return redirect(project_home_url(project_id=invite.project_id))
            return _joined(request, joined, invite, created_account=False)
        context.update(mode="accept", current=current, other_email=(request.user.email or "").lower() != invite.email.lower())
        return render(request, "registration/invite_accept.html", context)

    if user_with_email_exists(email=invite.email):
        context.update(mode="login", login_url=f"{reverse('login')}?{urlencode({'next': request.path})}")
        return render(request, "registration/invite_accept.html", context)

    form = InviteSignupForm(request.POST or None, invite_email=invite.email) if request.method == "POST" else InviteSignupForm(invite_email=invite.email)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.user_signup(username=data["username"], email=invite.email, password=data["password1"], invite=invite)
        except services.InviteUnusable as exc:
            return _invite_unusable(request, exc.state, invite)
        except ValidationError as exc:
            _form_errors_from(form, exc, "password1")
        else:
            _open_session(request, user)
            membership = membership_get(project=invite.project, user=user)
            return _joined(request, membership, invite, created_account=True)
    context.update(mode="signup", form=form)
    return render(request, "registration/invite_accept.html", context)


# --- Passwords ------------------------------------------------------------------------------


class PasswordResetView(auth_views.PasswordResetView):
    """Ask for a reset link by email. The answer never says whether the address has an
    account; requests are counted per client address, and mails per address."""

    template_name = "registration/password_reset_form.html"
    email_template_name = "emails/password_reset.txt"
    html_email_template_name = "emails/password_reset.html"
    subject_template_name = "emails/password_reset_subject.txt"
    success_url = reverse_lazy("password_reset_done")

    def form_valid(self, form):
        limit = settings.ACCOUNT_RATE_PER_HOUR
        retry = throttle_hit("reset", client_ip(self.request), limit)
        if retry:
            return _too_many(self.request, retry, "password-reset requests")
        email = form.cleaned_data["email"].strip().lower()
        if throttle_hit("reset-to", email, max(1, limit // 3)):
            return redirect(self.get_success_url())  # the same answer; no more mail to that address this hour
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "registration/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("password_reset_complete")

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        form.fields["new_password1"].help_text = " ".join(password_validation.password_validators_help_texts())
        form.fields["new_password2"].label = "Confirm new password"
        return form


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "registration/password_reset_complete.html"


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("password_change_done")

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        form.fields["new_password1"].help_text = " ".join(password_validation.password_validators_help_texts())
        form.fields["new_password2"].label = "Confirm new password"
        return form


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "registration/password_change_done.html"
