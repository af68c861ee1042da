"""Forms of the Data page: retention, deleting events, deleting the project.

The rules live in :mod:`apps.ingest.lifecycle`; the forms read the input and put the
``ValidationError`` of a rule on the field it names.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from apps.ingest import lifecycle
from apps.projects.models import Project


def _errors_to_form(form: forms.Form, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


class RetentionForm(forms.Form):
    retention_days = forms.IntegerField(
        required=False,
        label="Keep events for (days)",
        help_text="Today included, in the project's timezone. Empty keeps every event.",
        widget=forms.NumberInput(attrs={"placeholder": "keep everything", "inputmode": "numeric"}),
        error_messages={"invalid": lifecycle.RETENTION_MESSAGE},
    )

    def clean_retention_days(self):
        days = self.cleaned_data["retention_days"]
        if days is not None and not 1 <= days <= lifecycle.RETENTION_MAX_DAYS:
            raise ValidationError(lifecycle.RETENTION_MESSAGE)
        return days


class EventDeletionForm(forms.Form):
    """What to delete: an event name and/or whole days in the project's timezone."""

    event = forms.CharField(
        required=False, max_length=200, label="Event name",
        widget=forms.TextInput(attrs={"list": "event-names", "autocomplete": "off", "placeholder": "any event"}),
    )
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    date_to = forms.DateField(required=False, label="To (included)", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        self.condition = None
        today = lifecycle.local_today(project=project).isoformat()
        for name in ("date_from", "date_to"):
            self.fields[name].widget.attrs["max"] = today

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            self.condition = lifecycle.event_deletion_range(
                project=self.project, event=cleaned.get("event", ""), date_from=cleaned.get("date_from"), date_to=cleaned.get("date_to")
            )
        except ValidationError as exc:
            _errors_to_form(self, exc)
        return cleaned


class EventDeletionConfirmForm(EventDeletionForm):
    confirm = forms.CharField(required=False, label="Project name", widget=forms.TextInput(attrs={"autocomplete": "off"}))

    def clean_confirm(self):
        confirm = self.cleaned_data.get("confirm", "")
        if confirm.strip() != self.project.name:
            raise ValidationError(f"Type the project's name, {self.project.name}, exactly to delete these events.")
        return confirm


class ProjectDeleteForm(forms.Form):
    confirm = forms.CharField(required=False, label="Project name", widget=forms.TextInput(attrs={"autocomplete": "off"}))

    def __init__(self, *args, project: Project, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project

    def clean_confirm(self):
        confirm = self.cleaned_data.get("confirm", "")
        if confirm.strip() != self.project.name:
            raise ValidationError(f"Type the project's name, {self.project.name}, exactly to delete it.")
        return confirm
