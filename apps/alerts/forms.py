"""The alert form of the page. It turns its fields into the API's input and lets
:func:`apps.alerts.services.alert_input_clean` judge it, so the page and the API accept the
same alerts and refuse the same mistakes, each on its field."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from apps.alerts.models import NAME_MAX, URL_MAX, Alert
from apps.alerts.services import alert_input_clean
from apps.projects.models import Membership, Project
from apps.query.filters import OPERATOR_CHOICES, filter_rows

# The prefix of each set of filter rows in the form's data (templates/partials/filter_rows.html).
FILTER_ROWS = {"filters": "", "denominator_filters": "d"}

# Where a service error's field (a path into the API's input) shows on the form.
FIELD_OF_PATH = {
    "series": "event",
    "series.event": "event",
    "series.math": "math",
    "series.filters": "filters",
    "subject": "ratio",
    "denominator": "denominator_event",
    "denominator.event": "denominator_event",
    "denominator.math": "denominator_math",
    "denominator.filters": "denominator_filters",
}


def _form_field(path: str) -> str | None:
    if path in FIELD_OF_PATH:
        return FIELD_OF_PATH[path]
    for prefix in ("series.filters", "denominator.filters", "recipients"):
        if path.startswith(prefix):
            return FIELD_OF_PATH.get(prefix, prefix)
    return path


class AlertForm(forms.Form):
    name = forms.CharField(max_length=NAME_MAX, widget=forms.TextInput(attrs={"placeholder": "e.g. Checkout error rate"}))
    event = forms.CharField(
        label="Event",
        max_length=200,
        widget=forms.TextInput(attrs={"list": "alert-event-names", "placeholder": "e.g. $exception", "autocomplete": "off"}),
        help_text="An event this project has sent.",
    )
    math = forms.ChoiceField(label="Count", choices=Alert.Math.choices)
    # Filter rows, drawn by the template and read from the data by filters_of(): the fields
    # carry the initial filters and the errors.
    filters = forms.Field(required=False, label="Filters")
    ratio = forms.BooleanField(
        label="Divide by a second series (a ratio, e.g. errors / requests)", required=False, widget=forms.CheckboxInput(attrs={"data-ratio": "1"})
    )
    denominator_event = forms.CharField(
        label="Denominator event",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"list": "alert-event-names", "placeholder": "e.g. request", "autocomplete": "off"}),
        help_text="Needed for a ratio. A bucket where it counts 0 has no value and changes nothing.",
    )
    denominator_math = forms.ChoiceField(label="Denominator count", choices=Alert.Math.choices, required=False)
    denominator_filters = forms.Field(required=False, label="Denominator filters")
    condition = forms.ChoiceField(label="Fire when the figure", choices=Alert.Condition.choices)
    threshold = forms.CharField(
        label="Threshold",
        widget=forms.TextInput(attrs={"inputmode": "decimal", "placeholder": "e.g. 100 or 0.05"}),
        help_text="A number. With “changes by more than”, a percentage against the bucket before.",
    )
    interval = forms.ChoiceField(
        label="Bucket", choices=Alert.Interval.choices, help_text="The last complete hour or day in the project's timezone; the bucket in progress is never judged."
    )
    every_minutes = forms.CharField(
        label="Evaluate every (minutes)", initial="5", widget=forms.NumberInput(attrs={"min": 1, "step": 1}), help_text="1 or more."
    )
    recipients = forms.MultipleChoiceField(
        label="Email", required=False, widget=forms.CheckboxSelectMultiple, help_text="Members of the project who get an email on each change of state."
    )
    webhook_url = forms.CharField(
        label="Webhook URL",
        required=False,
        max_length=URL_MAX,
        widget=forms.URLInput(attrs={"placeholder": "https://hooks.example.com/pulseboard"}),
        help_text="Optional. Each notice is POSTed there as JSON, signed with HMAC-SHA256 (X-PulseBoard-Signature).",
    )
    webhook_format = forms.ChoiceField(label="Webhook body", choices=Alert.WebhookFormat.choices, help_text='Slack-compatible sends {"text": …} for an incoming webhook.')
    enabled = forms.BooleanField(label="Enabled", required=False, initial=True)

    def __init__(self, *args, project: Project, alert: Alert | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        self.alert = alert
        members = Membership.objects.filter(project=project).select_related("user").order_by("user__username")
        self.fields["recipients"].choices = [
            (str(m.user_id), f"{m.user.get_username()}" + (f" ({m.user.email})" if m.user.email else " (no email)")) for m in members
        ]
        self.cleaned_input: dict | None = None

    @staticmethod
    def initial_of(alert: Alert) -> dict:
        return {
            "name": alert.name,
            "event": alert.event,
            "math": alert.math,
            "filters": alert.filters,
            "ratio": alert.is_ratio,
            "denominator_event": alert.denominator_event,
            "denominator_math": alert.denominator_math,
            "denominator_filters": alert.denominator_filters,
            "condition": alert.condition,
            "threshold": f"{alert.threshold:g}",
            "interval": alert.interval,
            "every_minutes": str(alert.every_minutes),
            "recipients": [str(u.pk) for u in alert.recipients.all()],
            "webhook_url": alert.webhook_url,
            "webhook_format": alert.webhook_format,
            "enabled": alert.enabled,
        }

    def filters_of(self, field: str) -> list[dict]:
        """The rows of ``filters`` or ``denominator_filters``: as sent, or as saved."""
        if self.is_bound:
            return filter_rows(self.data, prefix=FILTER_ROWS[field])
        return list(self.initial.get(field) or [])

    operators = OPERATOR_CHOICES

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        filters, denominator_filters = self.filters_of("filters"), self.filters_of("denominator_filters")
        ratio = bool(data.get("ratio"))
        payload = {
            "name": data.get("name"),
            "subject": "ratio" if ratio else "series",
            "series": {"event": data.get("event"), "math": data.get("math"), "filters": filters},
            "denominator": (
                {"event": data.get("denominator_event"), "math": data.get("denominator_math") or "total", "filters": denominator_filters}
                if ratio and (data.get("denominator_event") or "").strip()
                else None
            ),
            "condition": data.get("condition"),
            "threshold": data.get("threshold"),
            "interval": data.get("interval"),
            "every_minutes": data.get("every_minutes"),
            "recipients": [int(v) for v in data.get("recipients") or []],
            "webhook_url": data.get("webhook_url"),
            "webhook_format": data.get("webhook_format"),
            "enabled": bool(data.get("enabled")),
        }
        if self.alert is not None:
            payload["snoozed_until"] = self.alert.snoozed_until
        try:
            alert_input_clean(project=self.project, data=payload, alert=self.alert)
        except ValidationError as error:
            for path, messages in error.message_dict.items():
                field = _form_field(path)
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
            return data
        self.cleaned_input = payload
        return data


SNOOZE_CHOICES = [("1", "1 hour"), ("4", "4 hours"), ("24", "1 day"), ("168", "1 week")]


class SnoozeForm(forms.Form):
    hours = forms.ChoiceField(label="Snooze for", choices=SNOOZE_CHOICES)
