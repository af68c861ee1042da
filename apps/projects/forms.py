"""Forms of the project pages. They validate input; the writes are in services.py."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django import forms
from django.core.exceptions import ValidationError

from apps.projects.models import Membership, PersonalAPIKey, Project, validate_timezone
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


class PersonalKeyForm(forms.Form):
    label = forms.CharField(
        max_length=PersonalAPIKey._meta.get_field("label").max_length,
        widget=forms.TextInput(attrs={"placeholder": "e.g. Nightly export", "autocomplete": "off"}),
        help_text="What the key is for, so you know which one to revoke later.",
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
