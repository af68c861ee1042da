"""Writes for projects, memberships and keys."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.projects.models import Membership, PersonalAPIKey, Project
from apps.projects.selectors import personal_key_hash, project_key_cache_clear

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


def project_rotate_api_key(*, project: Project) -> str:
    """Give the project a new ingest key; the old one stops working at once."""
    old = project.api_key
    project.api_key = ingest_key_generate()
    project.save(update_fields=["api_key", "updated_at"])
    project_key_cache_clear(old)
    return project.api_key


def project_update(*, project: Project, name: str, timezone: str) -> Project:
    """Rename the project or change its timezone (validated like on create)."""
    project.name = name
    project.timezone = timezone
    project.full_clean()
    project.save(update_fields=["name", "timezone", "updated_at"])
    return project


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


def membership_add(*, project: Project, user: AbstractBaseUser, role: str = Membership.Role.MEMBER) -> Membership:
    """Make an existing user a member of the project. Adding someone twice is an error."""
    _role_check(role)
    try:
        with transaction.atomic():
            return Membership.objects.create(project=project, user=user, role=role)
    except IntegrityError:  # membership_unique_project_user
        raise ValidationError(f"{user.get_username()} is already a member of {project.name}.") from None


def membership_set_role(*, membership: Membership, role: str) -> Membership:
    """Change a member's role. The last owner cannot be demoted."""
    _role_check(role)
    with transaction.atomic():
        owners = _owners_locked(membership.project)
        if role != Membership.Role.OWNER and owners == [membership.id]:
            raise ValidationError(LAST_OWNER_MESSAGE)
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def membership_remove(*, membership: Membership) -> None:
    """Take a user out of a project. The last owner cannot be removed."""
    with transaction.atomic():
        owners = _owners_locked(membership.project)
        if owners == [membership.id]:
            raise ValidationError(LAST_OWNER_MESSAGE)
        membership.delete()


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
