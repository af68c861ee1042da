"""Reads for projects and keys, with the tenancy rule in one place."""

from __future__ import annotations

import enum
import hashlib
import re
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Case, When
from django.utils import timezone

from apps.projects.models import AuditEntry, Invite, Membership, PersonalAPIKey, Project, ServerKey
from pulseboard.errors import Forbidden, NotFound
from pulseboard.prepared import PreparedLookup

# Ingest looks a key up on every request; a short in-process cache keeps that off the
# database. A rotated or revoked key stops working, and changed limits or origins apply,
# at once in this process and within this many seconds in the others.
KEY_CACHE_SECONDS = 10.0


@dataclass(frozen=True)
class IngestTarget:
    """The project an ingest key writes to, and what the ingest doors check for that key."""

    project_id: int
    key_id: str = "public"  # "public", or "server-<id>" for a server key: each is limited on its own
    key_prefix: str = ""  # the key's first characters, to name it in an error
    server_key: bool = False
    rate_per_second: int | None = None
    burst: int | None = None  # the bucket's size, set when rate_per_second is
    daily_quota: int | None = None
    allowed_origins: tuple[str, ...] = ()
    require_server_key: bool = False


_key_cache: dict[str, tuple[float, IngestTarget | None]] = {}
_key_cache_lock = threading.Lock()
_API_KEY_MAX = Project._meta.get_field("api_key").max_length
# Control characters: no key has one, and Postgres refuses NUL in text outright.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# Server keys start with this; public keys with ``pb_``.
SERVER_KEY_PREFIX = "pbs_"

_GUARD_FIELDS = ("ingest_rate_per_second", "ingest_burst", "ingest_daily_quota", "allowed_origins", "require_server_key")


def _target(project_id: int, guards: tuple, *, key_id: str, key_prefix: str, server_key: bool) -> IngestTarget:
    rate, burst, quota, origins, require = guards
    return IngestTarget(
        project_id=project_id,
        key_id=key_id,
        key_prefix=key_prefix,
        server_key=server_key,
        rate_per_second=rate or None,
        burst=(burst or rate * 10) if rate else None,
        daily_quota=quota or None,
        allowed_origins=tuple(origins or ()),
        require_server_key=bool(require),
    )


def _target_lookup(api_key: str) -> IngestTarget | None:
    if api_key.startswith(SERVER_KEY_PREFIX):
        row = (
            ServerKey.objects.filter(secret_hash=personal_key_hash(api_key), revoked_at__isnull=True)
            .values_list("project_id", "id", "prefix", *(f"project__{name}" for name in _GUARD_FIELDS))
            .first()
        )
        if row is None:
            return None
        return _target(row[0], row[3:], key_id=f"server-{row[1]}", key_prefix=row[2], server_key=True)
    row = Project.objects.filter(api_key=api_key).values_list("id", *_GUARD_FIELDS).first()
    if row is None:
        return None
    return _target(row[0], row[1:], key_id="public", key_prefix=api_key[:8], server_key=False)


def project_for_ingest_key(*, api_key: str) -> IngestTarget | None:
    """The project of an ingest key (its public key or one of its server keys) with the
    key's limits and origin rules, or None. A string that cannot be a key (too long, or
    with a control character) is None without a look-up, and is not cached."""
    if not api_key or len(api_key) > _API_KEY_MAX or _CONTROL.search(api_key):
        return None
    now = time.monotonic()
    hit = _key_cache.get(api_key)
    if hit is not None and hit[0] > now:
        return hit[1]
    target = _target_lookup(api_key)
    with _key_cache_lock:
        if len(_key_cache) > 10_000:
            _key_cache.clear()
        _key_cache[api_key] = (now + KEY_CACHE_SECONDS, target)
    return target


def project_key_cache_clear(api_key: str | None = None) -> None:
    with _key_cache_lock:
        if api_key is None:
            _key_cache.clear()
        else:
            _key_cache.pop(api_key, None)


def projects_for_user(*, user: AbstractBaseUser):
    return Project.objects.filter(memberships__user=user).order_by("name", "id")




class Access(enum.IntEnum):
    """What a request wants to do with a project; each role allows up to one of these."""

    READ = 1  # pages, figures, exports, the read API
    EDIT = 2  # insights, funnels, annotations: the project's analysis
    OWN = 3  # members, keys, deletion, retention


# The one rule of who may do what. Everything that takes a project_id asks it through
# project_get_for_user, so a role is checked in this place only.
ROLE_ACCESS = {
    Membership.Role.VIEWER: Access.READ,
    Membership.Role.MEMBER: Access.EDIT,
    Membership.Role.OWNER: Access.OWN,
}

ACCESS_DENIED = {
    Access.EDIT: "Viewers can only read this project: ask an owner for the member role to change it.",
    Access.OWN: "Only the project's owners can do this.",
}


def role_allows(role: str, need: Access) -> bool:
    return ROLE_ACCESS.get(role, 0) >= need


def roles_allowing(need: Access) -> list[str]:
    return [role for role, access in ROLE_ACCESS.items() if access >= need]


def project_ids_for_user(*, user: AbstractBaseUser, need: Access = Access.READ) -> frozenset[int]:
    """Ids of the projects where ``user``'s role allows ``need``."""
    if not user.is_authenticated:
        return frozenset()
    memberships = Membership.objects.filter(user=user, role__in=roles_allowing(need))
    return frozenset(memberships.values_list("project_id", flat=True))


def project_get_for_user(*, user: AbstractBaseUser, project_id: int, need: Access = Access.READ) -> Project:
    """The project if ``user`` is a member whose role allows ``need``.

    A non-member gets :class:`NotFound` (we never say the project exists); a member whose
    role is too low gets :class:`Forbidden`. The project carries the user's role as
    ``project.role``."""
    if not user.is_authenticated or not 0 < int(project_id) < 2**63:
        raise NotFound("No such project.")
    # Every page and API call of a project runs this, so it is prepared SQL rather than a
    # queryset compiled afresh each time (0.44 ms a request before, about 0.1 ms now).
    project = _PROJECT_OF_MEMBER.get([project_id, user.pk])
    if project is None:
        raise NotFound("No such project.")
    if not role_allows(project.role, need):
        raise Forbidden(ACCESS_DENIED[need])
    return project


_PROJECT_OF_MEMBER = PreparedLookup(
    Project,
    f"JOIN {Membership._meta.db_table} m ON m.project_id = t.id WHERE t.id = %s AND m.user_id = %s",
    extra={"role": "m.role"},
)


def personal_key_hash(secret: str) -> str:
    # The secret has 192 random bits, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def personal_api_key_get(*, secret: str) -> PersonalAPIKey | None:
    """The key with this secret, its user loaded; None if unknown or its user is inactive."""
    key = PersonalAPIKey.objects.select_related("user").filter(secret_hash=personal_key_hash(secret)).first()
    if key is None or not key.user.is_active:
        return None
    return key


def memberships_for_user(*, user: AbstractBaseUser):
    """The user's memberships with their projects, by project name."""
    return Membership.objects.filter(user=user).select_related("project").order_by("project__name", "project__id")


def membership_get(*, project: Project, user: AbstractBaseUser) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(project=project, user=user).first()


def memberships_for_project(*, project: Project):
    """Owners first, then by username."""
    return (
        Membership.objects.filter(project=project)
        .select_related("user")
        .annotate(owner_first=Case(When(role=Membership.Role.OWNER, then=0), default=1))
        .order_by("owner_first", "user__username")
    )


def membership_get_in_project(*, project: Project, membership_id: int) -> Membership:
    membership = Membership.objects.select_related("user", "project").filter(project=project, id=membership_id).first()
    if membership is None:
        raise NotFound("No such member.")
    return membership


def user_find_by_login(*, login: str) -> AbstractBaseUser | None:
    """An active user by exact username, else by email (case-insensitive); None if unknown or
    if several users share that email."""
    login = login.strip()
    if not login:
        return None
    users = get_user_model().objects.filter(is_active=True)
    exact = users.filter(username=login).first()
    if exact is not None:
        return exact
    for lookup in ("username__iexact", "email__iexact"):
        matches = list(users.filter(**{lookup: login})[:2])
        if matches:
            return matches[0] if len(matches) == 1 else None
    return None


def personal_api_keys_for_user(*, user: AbstractBaseUser):
    return PersonalAPIKey.objects.filter(user=user).order_by("-created_at", "-id")


def server_keys_for_project(*, project: Project):
    """The project's server keys, working ones first, newest first."""
    return ServerKey.objects.filter(project=project).select_related("created_by").order_by(
        Case(When(revoked_at__isnull=True, then=0), default=1), "-created_at", "-id"
    )


def server_key_get_in_project(*, project: Project, key_id: int) -> ServerKey:
    key = ServerKey.objects.filter(project=project, id=key_id).first()
    if key is None:
        raise NotFound("No such server key.")
    return key


def audit_entries_for_project(*, project: Project, limit: int = 50):
    """The project's audit log, newest first."""
    return AuditEntry.objects.filter(project=project).order_by("-created_at", "-id")[:limit]


# --- Accounts: sign-up and invites ----------------------------------------------------------


def signup_mode() -> str:
    """How a visitor may create an account: ``"first"`` on an install without any user (its
    first account becomes the administrator), else ``PULSEBOARD_SIGNUP``: ``"open"`` or
    ``"invite"`` (only through an invite link)."""
    if not get_user_model().objects.exists():
        return "first"
    return "open" if settings.PULSEBOARD_SIGNUP == "open" else "invite"


def signup_allowed() -> bool:
    """Whether the sign-up page takes new accounts (an invite link always does)."""
    return signup_mode() != "invite"


def user_with_email_exists(*, email: str) -> bool:
    """An active account already uses this email address (case-insensitive)."""
    return get_user_model().objects.filter(is_active=True, email__iexact=email.strip()).exists()


def invite_token_hash(token: str) -> str:
    # Like personal keys: the token has 256 random bits, so SHA-256 is enough.
    return hashlib.sha256(token.encode()).hexdigest()


_INVITE_TOKEN_MAX = 128


def invite_get_by_token(*, token: str) -> Invite | None:
    """The invite of a link's token (whatever its state), or None if no invite has it."""
    if not token or len(token) > _INVITE_TOKEN_MAX or _CONTROL.search(token):
        return None
    return Invite.objects.select_related("project", "invited_by").filter(token_hash=invite_token_hash(token)).first()


def invite_state(invite: Invite, *, now=None) -> str:
    """``"pending"``, ``"accepted"``, ``"revoked"`` or ``"expired"``."""
    if invite.accepted_at is not None:
        return "accepted"
    if invite.revoked_at is not None:
        return "revoked"
    if invite.expires_at <= (now or timezone.now()):
        return "expired"
    return "pending"


def invites_pending_for_project(*, project: Project):
    """The project's invites that can still be accepted, newest first."""
    return (
        Invite.objects.filter(project=project, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())
        .select_related("invited_by")
        .order_by("-created_at", "-id")
    )


def invite_get_in_project(*, project: Project, invite_id: int) -> Invite:
    invite = Invite.objects.select_related("project").filter(project=project, id=invite_id).first()
    if invite is None:
        raise NotFound("No such invite.")
    return invite


def membership_exists_for_email(*, project: Project, email: str) -> bool:
    """A member of the project has this email address (case-insensitive)."""
    return Membership.objects.filter(project=project, user__email__iexact=email.strip()).exists()
