import re
import zoneinfo
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA timezone name (for example Europe/Berlin).")


_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def origin_pattern_normalize(value: str) -> str:
    """An allowed origin in its one stored spelling, or a ValidationError.

    Three forms: ``https://shop.example.com`` (that scheme, host and port only),
    ``https://*.example.com`` (any subdomain of example.com, at any depth, on that scheme
    and port; not example.com itself) and ``*.example.com`` (the same on http and https).
    A port is part of the origin: ``http://localhost:3000``. Lower-cased, no trailing slash.
    """
    text = (value or "").strip().lower().rstrip("/")
    if not text:
        raise ValidationError("An origin cannot be empty.")
    if text.startswith("*."):
        scheme, rest = "", text
    else:
        if "://" not in text:
            raise ValidationError(f"{value!r} is not an origin: write it as https://host, https://*.host or *.host.")
        scheme, rest = text.split("://", 1)
        if scheme not in ("http", "https"):
            raise ValidationError(f"{value!r} is not an origin: its scheme must be http or https.")
    wildcard = rest.startswith("*.")
    hostport = rest[2:] if wildcard else rest
    if not hostport or any(c in hostport for c in "/?#@* \t"):
        raise ValidationError(f"{value!r} is not an origin: only a scheme and a host (and port) are allowed, no path.")
    try:
        parts = urlsplit(f"http://{hostport}")
        port = parts.port
    except ValueError:
        raise ValidationError(f"{value!r} is not an origin: its port is not a number from 0 to 65535.") from None
    host = parts.hostname or ""
    if port is not None and not scheme:
        raise ValidationError(f"{value!r}: a port needs a scheme, as in http://*.example.com:8080.")
    ipv6 = host.startswith("[") or ":" in host
    if not ipv6 and not all(_HOST_LABEL.match(label) for label in host.split(".")):
        raise ValidationError(f"{value!r} is not an origin: {host!r} is not a host name.")
    if wildcard and (ipv6 or "." not in host and host != "localhost"):
        raise ValidationError(f"{value!r}: a wildcard needs a domain under it, as in *.example.com.")
    return f"{scheme + '://' if scheme else ''}{'*.' if wildcard else ''}{hostport}"


def validate_origins(value) -> None:
    if not isinstance(value, list):
        raise ValidationError("Allowed origins are a list of origins.")
    for item in value:
        if not isinstance(item, str):
            raise ValidationError("Each allowed origin is a string.")
        origin_pattern_normalize(item)


class Project(models.Model):
    """A tenant: its events, members and keys are its own and never visible to another project."""

    name = models.CharField(max_length=200)
    timezone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_timezone],
        help_text="IANA name. Day and hour buckets of this project's charts follow it.",
    )
    api_key = models.CharField(
        "ingest API key",
        max_length=64,
        unique=True,
        help_text="Public and write-only: safe to embed in a web page. Rotate it to revoke the old one.",
    )
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Keep this many days of events; older ones are dropped from every table. Empty keeps everything.",
    )
    retention_applied_at = models.DateTimeField(null=True, blank=True, help_text="When retention last ran for this project.")
    session_gap_minutes = models.PositiveSmallIntegerField(
        "session gap (minutes)",
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(240)],
        help_text="Events without a session id start a new session after this many minutes without events (1 to 240).",
    )
    # Guardrails of the ingest doors: limits per ingest key, and who may send.
    ingest_rate_per_second = models.PositiveIntegerField(
        "rate limit (events per second)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Each ingest key (the public key and every server key, counted apart) may send this many events a second on average. Empty: no rate limit.",
    )
    ingest_burst = models.PositiveIntegerField(
        "burst (events)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="How many events a key may send at once before the rate applies; also the most one request may carry. Empty: ten seconds' worth of the rate.",
    )
    ingest_daily_quota = models.PositiveIntegerField(
        "daily quota (events)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Each ingest key may send this many events per UTC day. Empty: no quota.",
    )
    allowed_origins = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_origins],
        help_text="Web pages (origins) whose browsers may send events with the public key. Empty: any origin.",
    )
    require_server_key = models.BooleanField(
        default=False,
        help_text="Requests without an Origin (servers, mobile apps, scripts) must use a server key; the public key then works from browsers only.",
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="projects")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    @property
    def ingest_burst_effective(self) -> int | None:
        """The bucket's size: the burst, or ten seconds of the rate; None without a rate."""
        if not self.ingest_rate_per_second:
            return None
        return self.ingest_burst or self.ingest_rate_per_second * 10

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        MEMBER = "member", "Member"
        VIEWER = "viewer", "Viewer"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_unique_project_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"


class PersonalAPIKey(models.Model):
    """A user's key for the read API. Only a SHA-256 of the secret is stored; it is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="personal_api_keys")
    label = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The first characters, to recognise the key in lists.")
    secret_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "personal API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.label} ({self.prefix}…)"


class ServerKey(models.Model):
    """A project's secret ingest key, for servers: identifies the project wherever the public
    key is accepted, is never subject to the origin allowlist, and is required for requests
    without an Origin when the project says so. Only a SHA-256 of the secret is stored; it is
    shown once. Revoked keys stay listed (and stop working at once)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="server_keys")
    label = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The first characters, to recognise the key in lists.")
    secret_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.label} ({self.prefix}…)"


class Invite(models.Model):
    """An email invitation to join a project. Only a SHA-256 of the link's token is kept;
    the link works once, for ``INVITE_DAYS`` days."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invites")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Membership.Role.choices, default=Membership.Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"invite of {self.email} to {self.project} ({self.role})"


class AuditEntry(models.Model):
    """Something an owner-level action changed, with who and when. Names are copied, so an
    entry still reads right after the user, or the project, is gone."""

    class Action(models.TextChoices):
        INGEST_KEY_ROTATED = "ingest_key_rotated", "Ingest key rotated"
        MEMBER_ADDED = "member_added", "Member added"
        MEMBER_ROLE_CHANGED = "member_role_changed", "Role changed"
        MEMBER_REMOVED = "member_removed", "Member removed"
        INVITE_SENT = "invite_sent", "Invite sent"
        INVITE_REVOKED = "invite_revoked", "Invite revoked"
        INVITE_ACCEPTED = "invite_accepted", "Invite accepted"
        EVENTS_DELETED = "events_deleted", "Events deleted"
        PERSON_DELETED = "person_deleted", "Person deleted"
        PROJECT_DELETED = "project_deleted", "Project deleted"
        RETENTION_CHANGED = "retention_changed", "Retention changed"
        RETENTION_APPLIED = "retention_applied", "Retention applied"
        SERVER_KEY_CREATED = "server_key_created", "Server key created"
        SERVER_KEY_REVOKED = "server_key_revoked", "Server key revoked"
        INGEST_GUARDS_CHANGED = "ingest_guards_changed", "Limits or origins changed"

    project = models.ForeignKey(Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_entries")
    project_name = models.CharField(max_length=200)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    actor_name = models.CharField(max_length=150, blank=True, help_text="Empty for the system (a scheduled task).")
    action = models.CharField(max_length=32, choices=Action.choices)
    summary = models.CharField(max_length=500)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name or 'system'}: {self.summary}"
