"""Writes for projects, memberships and keys."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from apps.projects.models import AuditEntry, Invite, Membership, PersonalAPIKey, Project, ServerKey, origin_pattern_normalize
from apps.projects.selectors import (
    invite_state,
    invite_token_hash,
    membership_exists_for_email,
    personal_key_hash,
    SERVER_KEY_PREFIX,
    project_key_cache_clear,
    signup_mode,
    user_with_email_exists,
)

INGEST_KEY_PREFIX = "pb_"
PERSONAL_KEY_PREFIX = "pbp_"


def ingest_key_generate() -> str:
    """A new public ingest key: `pb_` and 192 random bits."""
    return INGEST_KEY_PREFIX + secrets.token_urlsafe(24)


def project_create(*, name: str, owner: AbstractBaseUser | None = None, timezone: str = "UTC") -> Project:
    project = Project(name=name, timezone=timezone, api_key=ingest_key_generate())
    project.full_clean()
    with transaction.atomic():
        project.save()
        if owner is not None:
            Membership.objects.create(project=project, user=owner, role=Membership.Role.OWNER)
    return project


def audit_record(
    *, project: Project, actor: AbstractBaseUser | None, action: str, summary: str, details: dict | None = None
) -> AuditEntry:
    """Record an owner-level change for the project's audit log. ``actor`` None is the system."""
    signed_in = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEntry.objects.create(
        project=project,
        project_name=project.name,
        actor=actor if signed_in else None,
        actor_name=actor.get_username() if signed_in else "",
        action=action,
        summary=summary[:500],
        details=details or {},
    )


def project_rotate_api_key(*, project: Project, actor: AbstractBaseUser | None = None) -> str:
    """Give the project a new ingest key; the old one stops working at once."""
    old = project.api_key
    with transaction.atomic():
        project.api_key = ingest_key_generate()
        project.save(update_fields=["api_key", "updated_at"])
        audit_record(
            project=project,
            actor=actor,
            action=AuditEntry.Action.INGEST_KEY_ROTATED,
            summary=f"Rotated the ingest key (the old one began {old[:8]}…).",
        )
    project_key_cache_clear(old)
    return project.api_key


def project_update(*, project: Project, name: str, timezone: str, session_gap_minutes: int) -> Project:
    """Rename the project, change its timezone or its session gap (validated like on create)."""
    project.name = name
    project.timezone = timezone
    project.session_gap_minutes = session_gap_minutes
    project.full_clean()
    project.save(update_fields=["name", "timezone", "session_gap_minutes", "updated_at"])
    return project


def project_ingest_guards_update(
    *,
    project: Project,
    rate_per_second: int | None,
    burst: int | None,
    daily_quota: int | None,
    allowed_origins: list[str],
    require_server_key: bool,
    actor: AbstractBaseUser | None = None,
) -> Project:
    """Set the project's ingest limits (per key), its allowed origins and whether requests
    without an Origin need a server key. Origins are stored normalised, without repeats;
    a burst without a rate is an error. Recorded in the audit log when anything changed."""
    origins: list[str] = []
    problems: list[str] = []
    for value in allowed_origins:
        try:
            origin = origin_pattern_normalize(value)
        except ValidationError as exc:
            problems += exc.messages
            continue
        if origin not in origins:
            origins.append(origin)
    errors: dict[str, list[str]] = {}
    if problems:
        errors["allowed_origins"] = problems
    if burst and not rate_per_second:
        errors["ingest_burst"] = ["A burst needs a rate: set the events per second too."]
    if errors:
        raise ValidationError(errors)
    before = {name: getattr(project, name) for name in _GUARD_FIELDS}
    project.ingest_rate_per_second = rate_per_second or None
    project.ingest_burst = burst or None
    project.ingest_daily_quota = daily_quota or None
    project.allowed_origins = origins
    project.require_server_key = require_server_key
    project.full_clean()
    after = {name: getattr(project, name) for name in _GUARD_FIELDS}
    if after == before:
        return project
    with transaction.atomic():
        project.save(update_fields=[*_GUARD_FIELDS, "updated_at"])
        changed = [name for name in _GUARD_FIELDS if before[name] != after[name]]
        audit_record(
            project=project,
            actor=actor,
            action=AuditEntry.Action.INGEST_GUARDS_CHANGED,
            summary="Changed the ingest " + ", ".join(_GUARD_LABELS[name] for name in changed) + ".",
            details={name: {"from": before[name], "to": after[name]} for name in changed},
        )
    project_key_cache_clear()  # every key of the project carries these
    return project


_GUARD_FIELDS = ["ingest_rate_per_second", "ingest_burst", "ingest_daily_quota", "allowed_origins", "require_server_key"]
_GUARD_LABELS = {
    "ingest_rate_per_second": "rate limit",
    "ingest_burst": "burst",
    "ingest_daily_quota": "daily quota",
    "allowed_origins": "allowed origins",
    "require_server_key": "server key requirement",
}


@dataclass(frozen=True)
class IssuedServerKey:
    key: ServerKey
    secret: str  # shown to the owner once, never stored


def server_key_create(*, project: Project, label: str, actor: AbstractBaseUser | None = None) -> IssuedServerKey:
    """A new secret ingest key of the project, for servers: `pbs_` and 192 random bits."""
    label = label.strip()
    if not label:
        raise ValidationError({"label": "Give the key a label, so you know later which one to revoke."})
    secret = SERVER_KEY_PREFIX + secrets.token_urlsafe(24)
    signed_in = actor is not None and getattr(actor, "is_authenticated", False)
    with transaction.atomic():
        key = ServerKey.objects.create(
            project=project,
            label=label[:100],
            prefix=secret[: len(SERVER_KEY_PREFIX) + 6],
            secret_hash=personal_key_hash(secret),
            created_by=actor if signed_in else None,
        )
        audit_record(
            project=project,
            actor=actor,
            action=AuditEntry.Action.SERVER_KEY_CREATED,
            summary=f"Created the server key “{key.label}” ({key.prefix}…).",
            details={"key": key.id, "label": key.label, "prefix": key.prefix},
        )
    return IssuedServerKey(key=key, secret=secret)


def server_key_revoke(*, key: ServerKey, actor: AbstractBaseUser | None = None) -> bool:
    """Revoke a server key: it stops working at once (within the key cache's seconds in
    other processes). False if it was revoked already."""
    with transaction.atomic():
        revoked = ServerKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        if not revoked:
            return False
        audit_record(
            project=key.project,
            actor=actor,
            action=AuditEntry.Action.SERVER_KEY_REVOKED,
            summary=f"Revoked the server key “{key.label}” ({key.prefix}…).",
            details={"key": key.id, "label": key.label, "prefix": key.prefix},
        )
    project_key_cache_clear()  # the cache is keyed by the secret, which is not kept
    return True


LAST_OWNER_MESSAGE = "A project needs at least one owner: make another member an owner first."


def _role_check(role: str) -> None:
    if role not in Membership.Role.values:
        raise ValidationError(f"{role!r} is not a role (choose {' or '.join(Membership.Role.values)}).")


def _owners_locked(project: Project) -> list[int]:
    """Ids of the project's owner memberships, locked until the transaction ends (no two
    concurrent demotions can both see "another owner is left")."""
    return list(
        Membership.objects.select_for_update()
        .filter(project=project, role=Membership.Role.OWNER)
        .order_by("id")
        .values_list("id", flat=True)
    )


def membership_add(
    *, project: Project, user: AbstractBaseUser, role: str = Membership.Role.MEMBER, actor: AbstractBaseUser | None = None
) -> Membership:
    """Make an existing user a member of the project. Adding someone twice is an error."""
    _role_check(role)
    try:
        with transaction.atomic():
            membership = Membership.objects.create(project=project, user=user, role=role)
            audit_record(
                project=project,
                actor=actor,
                action=AuditEntry.Action.MEMBER_ADDED,
                summary=f"Added {user.get_username()} as {membership.get_role_display().lower()}.",
                details={"user": user.get_username(), "role": role},
            )
            return membership
    except IntegrityError:  # membership_unique_project_user
        raise ValidationError(f"{user.get_username()} is already a member of {project.name}.") from None


def membership_set_role(*, membership: Membership, role: str, actor: AbstractBaseUser | None = None) -> Membership:
    """Change a member's role. The last owner cannot be demoted."""
    _role_check(role)
    with transaction.atomic():
        owners = _owners_locked(membership.project)
        if role != Membership.Role.OWNER and owners == [membership.id]:
            raise ValidationError(LAST_OWNER_MESSAGE)
        before = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        if before != role:
            audit_record(
                project=membership.project,
                actor=actor,
                action=AuditEntry.Action.MEMBER_ROLE_CHANGED,
                summary=f"Made {membership.user.get_username()} {membership.get_role_display().lower()} (was {before}).",
                details={"user": membership.user.get_username(), "from": before, "to": role},
            )
    return membership


def membership_remove(*, membership: Membership, actor: AbstractBaseUser | None = None) -> None:
    """Take a user out of a project. The last owner cannot be removed."""
    with transaction.atomic():
        owners = _owners_locked(membership.project)
        if owners == [membership.id]:
            raise ValidationError(LAST_OWNER_MESSAGE)
        membership.delete()
        name = membership.user.get_username()
        left = actor is not None and actor.pk == membership.user_id
        audit_record(
            project=membership.project,
            actor=actor,
            action=AuditEntry.Action.MEMBER_REMOVED,
            summary=f"{name} left the project." if left else f"Removed {name}.",
            details={"user": name, "role": membership.role},
        )


def membership_ensure(*, project: Project, user: AbstractBaseUser, role: str = Membership.Role.MEMBER) -> Membership:
    membership, _ = Membership.objects.get_or_create(project=project, user=user, defaults={"role": role})
    return membership


@dataclass(frozen=True)
class IssuedKey:
    key: PersonalAPIKey
    secret: str  # shown to the user once, never stored


def personal_api_key_create(*, user: AbstractBaseUser, label: str) -> IssuedKey:
    secret = PERSONAL_KEY_PREFIX + secrets.token_urlsafe(24)
    key = PersonalAPIKey.objects.create(
        user=user, label=label, prefix=secret[: len(PERSONAL_KEY_PREFIX) + 6], secret_hash=personal_key_hash(secret)
    )
    return IssuedKey(key=key, secret=secret)


# A key used again within this many seconds is not written again: reads stay reads.
KEY_LAST_USED_RESOLUTION_SECONDS = 60


def personal_api_key_used(*, key: PersonalAPIKey, now: datetime | None = None) -> bool:
    """Record that ``key`` authenticated a request (shown as "last used"), at most once a
    minute per key. True if it was written."""
    now = now or timezone.now()
    if key.last_used_at is not None and (now - key.last_used_at).total_seconds() <= KEY_LAST_USED_RESOLUTION_SECONDS:
        return False
    PersonalAPIKey.objects.filter(pk=key.pk).update(last_used_at=now)
    key.last_used_at = now
    return True


def personal_api_key_revoke(*, user: AbstractBaseUser, key_id: int) -> bool:
    """Delete one of ``user``'s keys; it stops working at once. False if they have no such key."""
    deleted, _ = PersonalAPIKey.objects.filter(user=user, id=key_id).delete()
    return deleted > 0


@dataclass(frozen=True)
class Bootstrap:
    user: AbstractBaseUser
    project: Project
    personal_api_key: str
    created_user: bool
    created_project: bool


def user_bootstrap(
    *, username: str, password: str | None, project_name: str, key_label: str = "bootstrap", superuser: bool = False
) -> Bootstrap:
    """Create or reuse a user, a project they own and a personal key. Safe to run again.

    The user is staff, so the admin shows them their own projects' funnels; only with
    ``superuser`` do they see every project, user and key there. The password and the
    superuser flag are set to what is asked each time; a password that is already the
    user's is left alone (setting it again would end their sessions), and None keeps an
    existing user's password (a new user then has none that works). A personal key can only
    be shown when it is issued, so the bootstrap key (found by its label) is re-issued on
    every run.
    """
    User = get_user_model()
    with transaction.atomic():
        user, created_user = User.objects.get_or_create(username=username)
        if created_user and password is None:
            user.set_unusable_password()
        elif password is not None and (created_user or not user.check_password(password)):
            user.set_password(password)
        user.is_staff = True
        user.is_superuser = superuser
        user.save()
        project = Project.objects.filter(name=project_name, memberships__user=user).first()
        created_project = project is None
        if project is None:
            project = project_create(name=project_name, owner=user)
        membership_ensure(project=project, user=user, role=Membership.Role.OWNER)
        PersonalAPIKey.objects.filter(user=user, label=key_label).delete()
        issued = personal_api_key_create(user=user, label=key_label)
    return Bootstrap(user, project, issued.secret, created_user, created_project)


# --- Accounts: sign-up and invites ----------------------------------------------------------

# An invite link works this many days, once.
INVITE_DAYS = 7

INVITE_UNUSABLE = {
    "accepted": "This invite has already been used.",
    "revoked": "This invite was withdrawn by the project's owners.",
    "expired": "This invite has expired.",
}


class InviteUnusable(ValidationError):
    """The invite was used, withdrawn or has expired; ``state`` says which."""

    def __init__(self, state: str):
        super().__init__(INVITE_UNUSABLE[state], code=state)
        self.state = state


class SignupClosed(ValidationError):
    def __init__(self):
        super().__init__("Sign-up is by invitation only on this install.", code="signup_closed")


def _accounts_lock() -> None:
    """Serialise account creation until the transaction ends, so that two sign-ups on an
    empty install cannot both become its administrator (SQLite's IMMEDIATE transactions
    already run one at a time)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('pulseboard.accounts'))")


def user_signup(*, username: str, email: str, password: str, invite: Invite | None = None) -> AbstractBaseUser:
    """Create an account. Without ``invite`` the install must take sign-ups (open, or no
    user yet: the first account becomes the administrator, staff and superuser). With a
    pending ``invite`` the account is made with its email address and joins its project."""
    User = get_user_model()
    email = BaseUserManager.normalize_email(invite.email if invite is not None else email)
    with transaction.atomic():
        _accounts_lock()
        first = signup_mode() == "first"
        if invite is None and not first and settings.PULSEBOARD_SIGNUP != "open":
            raise SignupClosed()
        if invite is not None and invite_state(invite) != "pending":
            raise InviteUnusable(invite_state(invite))
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError({"username": "A user with that username already exists."})
        if email and user_with_email_exists(email=email):
            raise ValidationError({"email": "An account with this email address already exists."})
        user = User(username=username, email=email, is_staff=first, is_superuser=first)
        password_validation.validate_password(password, user)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save()
        if invite is not None:
            invite_accept(invite=invite, user=user)
    return user


@dataclass(frozen=True)
class IssuedInvite:
    invite: Invite
    token: str  # in the link only: sent (and shown) once, never stored


def invite_create(*, project: Project, email: str, role: str, invited_by: AbstractBaseUser | None) -> IssuedInvite:
    """Invite ``email`` to the project with ``role``; the link expires in ``INVITE_DAYS``.
    A member with that address already is an error; an earlier pending invite of the same
    address is replaced (its link stops working)."""
    _role_check(role)
    email = BaseUserManager.normalize_email(email.strip())
    if membership_exists_for_email(project=project, email=email):
        raise ValidationError(f"{email} is already a member of {project.name}.", code="already_member")
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        replaced = Invite.objects.filter(
            project=project, email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True
        ).update(revoked_at=now)
        invite = Invite.objects.create(
            project=project,
            email=email,
            role=role,
            token_hash=invite_token_hash(token),
            invited_by=invited_by if invited_by is not None and invited_by.is_authenticated else None,
            expires_at=now + timedelta(days=INVITE_DAYS),
        )
        audit_record(
            project=project,
            actor=invited_by,
            action=AuditEntry.Action.INVITE_SENT,
            summary=f"Invited {email} as {invite.get_role_display().lower()}.",
            details={"email": email, "role": role, "invite": invite.id, "replaced": replaced},
        )
    return IssuedInvite(invite=invite, token=token)


def invite_email_send(*, invite: Invite, accept_url: str) -> None:
    """Send the invite's email (plain text and HTML) with its link, ``accept_url``."""
    inviter = invite.invited_by
    context = {
        "invite": invite,
        "project_name": invite.project.name,
        "inviter": (inviter.get_full_name() or inviter.get_username()) if inviter is not None else "",
        "role": invite.get_role_display().lower(),
        "accept_url": accept_url,
        "days": INVITE_DAYS,
    }
    subject = " ".join(render_to_string("emails/invite_subject.txt", context).split())
    message = EmailMultiAlternatives(subject, render_to_string("emails/invite.txt", context), to=[invite.email])
    message.attach_alternative(render_to_string("emails/invite.html", context), "text/html")
    message.send()


def invite_revoke(*, invite: Invite, actor: AbstractBaseUser | None = None) -> bool:
    """Withdraw a pending invite: its link stops working. False if it was no longer pending."""
    with transaction.atomic():
        invite = Invite.objects.select_for_update().get(pk=invite.pk)
        if invite_state(invite) != "pending":
            return False
        invite.revoked_at = timezone.now()
        invite.save(update_fields=["revoked_at"])
        audit_record(
            project=invite.project,
            actor=actor,
            action=AuditEntry.Action.INVITE_REVOKED,
            summary=f"Withdrew the invite of {invite.email}.",
            details={"email": invite.email, "role": invite.role, "invite": invite.id},
        )
    return True


def invite_accept(*, invite: Invite, user: AbstractBaseUser) -> Membership:
    """``user`` takes up the invite: they join its project with its role (someone who is a
    member already keeps their role). The link works once: a used, withdrawn or expired
    invite raises :class:`InviteUnusable`."""
    with transaction.atomic():
        locked = Invite.objects.select_for_update().select_related("project").get(pk=invite.pk)
        state = invite_state(locked)
        if state != "pending":
            raise InviteUnusable(state)
        membership, created = Membership.objects.get_or_create(project=locked.project, user=user, defaults={"role": locked.role})
        locked.accepted_at = timezone.now()
        locked.accepted_by = user
        locked.save(update_fields=["accepted_at", "accepted_by"])
        name = user.get_username()
        audit_record(
            project=locked.project,
            actor=user,
            action=AuditEntry.Action.INVITE_ACCEPTED,
            summary=(
                f"{name} accepted the invite of {locked.email} and joined as {membership.get_role_display().lower()}."
                if created
                else f"{name} accepted the invite of {locked.email} (already a member, kept the {membership.role} role)."
            ),
            details={"email": locked.email, "user": name, "role": membership.role, "invite": locked.id, "joined": created},
        )
    invite.accepted_at, invite.accepted_by = locked.accepted_at, user
    return membership
