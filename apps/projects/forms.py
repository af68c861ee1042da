"""Forms of the project pages. They validate input; the writes are in services.py."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.forms import UserCreationForm
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from apps.projects.models import Membership, PersonalAPIKey, Project, ServerKey, origin_pattern_normalize, validate_timezone
from apps.projects.selectors import user_find_by_login

COMMON_TIMEZONES = [
    "UTC",
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Vancouver",
    "America/Denver",
    "America/Chicago",
    "America/Mexico_City",
    "America/New_York",
    "America/Toronto",
    "America/Bogota",
    "America/Sao_Paulo",
    "America/Argentina/Buenos_Aires",
    "Europe/London",
    "Europe/Lisbon",
    "Europe/Dublin",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Amsterdam",
    "Europe/Stockholm",
    "Europe/Warsaw",
    "Europe/Athens",
    "Europe/Kyiv",
    "Europe/Istanbul",
    "Europe/Moscow",
    "Africa/Lagos",
    "Africa/Cairo",
    "Africa/Johannesburg",
    "Africa/Nairobi",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Kolkata",
    "Asia/Bangkok",
    "Asia/Jakarta",
    "Asia/Singapore",
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Australia/Perth",
    "Australia/Sydney",
    "Pacific/Auckland",
]


def _utc_offset(name: str) -> str:
    offset = datetime.now(ZoneInfo(name)).strftime("%z")  # +0530
    return f"UTC{offset[:3]}:{offset[3:]}"


def timezone_choices(current: str | None = None) -> list[tuple[str, str]]:
    """The common timezones (and ``current`` if it is another one), by their offset today."""
    names = list(COMMON_TIMEZONES)
    if current and current not in names:
        try:
            validate_timezone(current)
            names.append(current)
        except ValidationError:
            pass
    names.sort(key=lambda n: (int(datetime.now(ZoneInfo(n)).strftime("%z")), n))
    return [(name, f"{name.replace('_', ' ')} ({_utc_offset(name)})") for name in names]


class ProjectForm(forms.Form):
    name = forms.CharField(
        max_length=Project._meta.get_field("name").max_length,
        widget=forms.TextInput(attrs={"placeholder": "e.g. Web shop", "autocomplete": "off"}),
    )
    timezone = forms.ChoiceField(
        choices=[], initial="UTC", help_text="Days and hours in this project's charts start at midnight in this timezone."
    )
    timezone_other = forms.CharField(
        required=False,
        label="Another timezone",
        max_length=64,
        widget=forms.TextInput(attrs={"placeholder": "e.g. America/Lima", "autocomplete": "off"}),
        help_text="Any IANA name. When filled in, it is used instead of the list.",
    )

    def __init__(self, *args, current_timezone: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["timezone"].choices = timezone_choices(current_timezone or self.initial.get("timezone"))

    def clean(self):
        data = super().clean()
        other = (data.get("timezone_other") or "").strip()
        if other:
            try:
                validate_timezone(other)
            except ValidationError as exc:
                self.add_error("timezone_other", exc)
                return data
            data["timezone"] = other
        return data


class ProjectSettingsForm(ProjectForm):
    """The project form of the settings page: also how sessions without an id are cut."""

    session_gap_minutes = forms.IntegerField(
        label=Project._meta.get_field("session_gap_minutes").verbose_name.capitalize(),
        required=False,  # left out: the gap stays as it is
        min_value=1,
        max_value=240,
        help_text=Project._meta.get_field("session_gap_minutes").help_text,
    )


class PersonalKeyForm(forms.Form):
    label = forms.CharField(
        max_length=PersonalAPIKey._meta.get_field("label").max_length,
        widget=forms.TextInput(attrs={"placeholder": "e.g. Nightly export", "autocomplete": "off"}),
        help_text="What the key is for, so you know which one to revoke later.",
    )


def _limit_field(name: str, placeholder: str) -> forms.IntegerField:
    model_field = Project._meta.get_field(name)
    return forms.IntegerField(
        label=model_field.verbose_name.capitalize(),
        required=False,
        min_value=1,
        max_value=2**31 - 1,
        help_text=model_field.help_text,
        widget=forms.NumberInput(attrs={"placeholder": placeholder, "inputmode": "numeric"}),
    )


class IngestGuardsForm(forms.Form):
    """Limits per ingest key, the origin allowlist and the server key requirement."""

    ingest_rate_per_second = _limit_field("ingest_rate_per_second", "No limit")
    ingest_burst = _limit_field("ingest_burst", "10 × the rate")
    ingest_daily_quota = _limit_field("ingest_daily_quota", "No quota")
    allowed_origins = forms.CharField(
        label="Allowed origins",
        required=False,
        max_length=20_000,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "https://shop.example.com\n*.example.com\nhttp://localhost:3000", "spellcheck": "false"}),
        help_text=(
            "One per line. https://shop.example.com allows that page only (scheme, host and port); *.example.com allows "
            "every subdomain over http or https, but not example.com itself. Empty: any origin. Requests without an Origin "
            "(servers, apps) are not browsers and are not checked against this list."
        ),
    )
    require_server_key = forms.BooleanField(
        label="Require a server key for requests without an Origin",
        required=False,
        help_text=Project._meta.get_field("require_server_key").help_text,
    )

    MAX_ORIGINS = 100

    def clean_allowed_origins(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["allowed_origins"].replace(",", "\n").splitlines()]
        origins: list[str] = []
        errors: list[str] = []
        for line in filter(None, lines):
            try:
                origin = origin_pattern_normalize(line)
            except ValidationError as exc:
                errors += exc.messages
                continue
            if origin not in origins:
                origins.append(origin)
        if errors:
            raise ValidationError(errors)
        if len(origins) > self.MAX_ORIGINS:
            raise ValidationError(f"List at most {self.MAX_ORIGINS} origins; use *.example.com for many subdomains.")
        return origins

    def clean(self):
        data = super().clean()
        if data.get("ingest_burst") and not data.get("ingest_rate_per_second"):
            self.add_error("ingest_burst", "A burst needs a rate: set the events per second too.")
        return data


class ServerKeyForm(forms.Form):
    label = forms.CharField(
        max_length=ServerKey._meta.get_field("label").max_length,
        widget=forms.TextInput(attrs={"placeholder": "e.g. Checkout backend", "autocomplete": "off"}),
        help_text="Which server or service uses it, so you know which one to revoke later.",
    )


class MemberAddForm(forms.Form):
    login = forms.CharField(
        label="Username or email",
        max_length=254,
        widget=forms.TextInput(attrs={"placeholder": "jane or jane@example.com", "autocomplete": "off"}),
        help_text="They need a PulseBoard login already.",
    )
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)

    def clean_login(self):
        login = self.cleaned_data["login"]
        user = user_find_by_login(login=login)
        if user is None:
            raise ValidationError(f"No active user is called {login!r} or has that email address.")
        self.cleaned_data["user"] = user
        return login


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)


# --- Accounts: sign-up, invites ---------------------------------------------------------------


def _password_help() -> str:
    return " ".join(password_validation.password_validators_help_texts())


def _tune_password_fields(form: forms.Form) -> None:
    form.fields["password1"].help_text = _password_help()
    form.fields["password1"].widget.attrs["autocomplete"] = "new-password"
    form.fields["password2"].label = "Confirm password"
    form.fields["password2"].help_text = ""


class SignupForm(UserCreationForm):
    """A new account: username, email, password twice (Django's password validators)."""

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        email = self.fields["email"]
        email.required = True
        email.help_text = "For password resets and invites."
        email.widget.attrs.update({"autocomplete": "email", "placeholder": "jane@example.com"})
        username = self.fields["username"]
        username.help_text = "Letters, digits and @ . + - _ only."
        username.widget.attrs.update({"autocomplete": "username", "autocapitalize": "none"})
        _tune_password_fields(self)

    def clean_email(self):
        email = self.cleaned_data["email"].strip()
        if get_user_model().objects.filter(is_active=True, email__iexact=email).exists():
            raise ValidationError("An account with this email address already exists. Log in, or reset its password.")
        return email


class InviteSignupForm(SignupForm):
    """Sign-up through an invite: the email address is the invite's and cannot be changed."""

    def __init__(self, *args, invite_email: str, **kwargs):
        super().__init__(*args, **kwargs)
        email = self.fields["email"]
        email.disabled = True
        email.initial = invite_email
        email.help_text = "The address the invite was sent to."
        self.fields["username"].widget.attrs["autofocus"] = True


class InviteForm(forms.Form):
    """Invite someone to a project by email, or add an existing user by username or email.
    Its fields have the names of :class:`MemberAddForm`'s, so one template shows either."""

    login = forms.CharField(
        label="Email or username",
        max_length=254,
        widget=forms.TextInput(attrs={"placeholder": "jane@example.com", "autocomplete": "off", "autocapitalize": "none"}),
        help_text="Someone new gets an email invite; a PulseBoard user is added at once.",
    )
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)

    def clean_login(self):
        login = self.cleaned_data["login"].strip()
        user = user_find_by_login(login=login)
        if user is not None:
            self.cleaned_data["user"] = user
            return login
        try:
            validate_email(login)
        except ValidationError:
            raise ValidationError(
                f"No user is called {login!r}. To invite someone new, enter their email address."
            ) from None
        self.cleaned_data["email"] = login
        return login

