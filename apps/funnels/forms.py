"""Forms of the funnel editor: the funnel's settings and a formset of step rows.

A step row is an event name, an optional label and up to two property filters. An empty
row is ignored (the editor always shows one spare row, like the trends form). Filters a
step has beyond the two shown (set through the API or the admin) ride along in a hidden
field, so editing a funnel on the page never drops them.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from apps.funnels.engine import MAX_STEPS
from apps.funnels.models import Funnel, filters_clean, validate_step_count, validate_window
from apps.query.filters import KEY_MAX_LENGTH, OPERATOR_CHOICES, VALUE_MAX_LENGTH, FilterError, property_filter_clean

FILTER_SLOTS = 2
MODE_HELP = {
    "ordered": "The steps happen in this order; other events in between are fine.",
    "strict": "Each step is the person's very next event: any other event in between breaks the funnel.",
    "unordered": "All the steps happen within the window, in any order.",
}


class FunnelForm(forms.Form):
    # Needed to save, not to run (funnel_adhoc lifts it). The editor's form has novalidate:
    # each error is the server's, shown by its field, never a browser bubble out of view.
    name = forms.CharField(
        max_length=200,
        error_messages={"required": "Name the funnel to save it."},
        widget=forms.TextInput(attrs={"placeholder": "e.g. Signup → purchase"}),
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2, "placeholder": "What this funnel measures"}))
    order_mode = forms.ChoiceField(label="Step order", choices=Funnel.OrderMode.choices, initial=Funnel.OrderMode.ORDERED)
    window_value = forms.IntegerField(label="Conversion window", min_value=1, initial=14, widget=forms.NumberInput(attrs={"min": 1}))
    window_unit = forms.ChoiceField(label="Window unit", choices=Funnel.WindowUnit.choices, initial=Funnel.WindowUnit.DAYS)
    breakdown_property = forms.CharField(
        label="Breakdown",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "property, e.g. browser"}),
        help_text="Split the results by a property: of the first step's event, or of the person.",
    )
    breakdown_type = forms.ChoiceField(
        label="Breakdown property of", choices=Funnel.BreakdownType.choices, initial=Funnel.BreakdownType.EVENT, required=False
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        data["breakdown_type"] = data.get("breakdown_type") or Funnel.BreakdownType.EVENT
        if data.get("window_value") and data.get("window_unit"):
            try:
                validate_window(value=data["window_value"], unit=data["window_unit"])
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    self.add_error(field, errors)
        return data

    @classmethod
    def initial_for(cls, funnel: Funnel) -> dict[str, Any]:
        return {
            "name": funnel.name,
            "description": funnel.description,
            "order_mode": funnel.order_mode,
            "window_value": funnel.window_value,
            "window_unit": funnel.window_unit,
            "breakdown_property": funnel.breakdown_property,
            "breakdown_type": funnel.breakdown_type,
        }


def _filter_field_names(slot: int) -> tuple[str, str, str]:
    return f"f{slot}_key", f"f{slot}_operator", f"f{slot}_value"


def _filter_type_name(slot: int) -> str:
    return f"f{slot}_type"


FILTER_TYPE_CHOICES = [("event", "event"), ("person", "person")]


class StepForm(forms.Form):
    event = forms.CharField(max_length=200, required=False, widget=forms.TextInput(attrs={"placeholder": "Event name", "list": "event-names", "autocomplete": "off"}))
    label = forms.CharField(max_length=200, required=False, widget=forms.TextInput(attrs={"placeholder": "Label (optional)"}))
    more_filters = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for slot in range(1, FILTER_SLOTS + 1):
            key, operator, value = _filter_field_names(slot)
            self.fields[key] = forms.CharField(max_length=KEY_MAX_LENGTH, required=False, widget=forms.TextInput(attrs={"placeholder": "where property…"}))
            self.fields[operator] = forms.ChoiceField(choices=OPERATOR_CHOICES, required=False, initial="equals")
            self.fields[value] = forms.CharField(max_length=VALUE_MAX_LENGTH, required=False, widget=forms.TextInput(attrs={"placeholder": "value"}))
            self.fields[_filter_type_name(slot)] = forms.ChoiceField(choices=FILTER_TYPE_CHOICES, required=False, initial="event")

    def filter_slots(self) -> list[tuple[forms.BoundField, ...]]:
        """The bound fields of each filter slot, for the template: whose property (the
        event's or the person's), key, operator, value."""
        return [
            (self[_filter_type_name(slot)], *(self[name] for name in _filter_field_names(slot))) for slot in range(1, FILTER_SLOTS + 1)
        ]

    def has_filters(self) -> bool:
        """Whether any filter slot holds something (the editor shows the filters open)."""
        names = [n for slot in range(1, FILTER_SLOTS + 1) for n in _filter_field_names(slot) if not n.endswith("_operator")]
        return any(self[name].value() for name in names) or bool(self.errors)

    def extra_filter_count(self) -> int:
        try:
            return len(json.loads(self["more_filters"].value() or "[]"))
        except (TypeError, ValueError):
            return 0

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        event = (data.get("event") or "").strip()
        filters, filled = [], False
        for slot in range(1, FILTER_SLOTS + 1):
            names = dict(zip(("key", "operator", "value"), _filter_field_names(slot)))
            if not (data.get(names["key"]) or "").strip():
                continue  # an empty slot
            filled = True
            raw = {
                "key": data.get(names["key"]),
                "operator": data.get(names["operator"]) or "equals",
                "value": data.get(names["value"]) or "",
                "type": data.get(_filter_type_name(slot)) or "event",
            }
            try:
                filters.append(property_filter_clean(raw).as_json())
            except FilterError as error:
                self.add_error(names.get(error.field), error.message[:1].upper() + error.message[1:] + ".")
        try:
            more = json.loads(data.get("more_filters") or "[]")
            filters += filters_clean(more)
        except (ValueError, ValidationError):
            self.add_error(None, "The step's other filters are not valid any more; edit them through the API.")
        if not event and (filled or filters or (data.get("label") or "").strip()):
            self.add_error("event", "Name the event of this step, or clear the row.")
        data["step"] = {"event": event, "label": (data.get("label") or "").strip(), "filters": filters} if event else None
        return data

    @classmethod
    def initial_for(cls, step: dict[str, Any]) -> dict[str, Any]:
        initial = {"event": step["event"], "label": step.get("label", "")}
        filters = list(step.get("filters") or [])
        for slot, item in enumerate(filters[:FILTER_SLOTS], start=1):
            key, operator, value = _filter_field_names(slot)
            initial.update({key: item["key"], operator: item["operator"], value: item.get("value", ""), _filter_type_name(slot): item.get("type", "event")})
        if len(filters) > FILTER_SLOTS:
            initial["more_filters"] = json.dumps(filters[FILTER_SLOTS:])
        return initial


class BaseStepFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        # Rows as typed, counted even when a row has errors (a name too long, say): that row
        # shows its own error, and the count is not wrong on top of it.
        filled = [form for form in self.forms if (form["event"].value() or "").strip()]
        try:
            validate_step_count(len(filled))
        except ValidationError as exc:
            hint = " Fill in at least two rows." if len(filled) < 2 else f" This one has {len(filled)}."
            raise ValidationError(exc.messages[0] + hint) from None

    def steps(self) -> list[dict[str, Any]]:
        """The filled-in rows, in order, as ``{"event", "label", "filters"}``."""
        return [form.cleaned_data["step"] for form in self.forms if getattr(form, "cleaned_data", None) and form.cleaned_data.get("step")]

    def raw_rows(self) -> list[dict[str, Any]]:
        """What each row holds as typed (bound or not), to render the rows again as initial data."""
        return [{name: form[name].value() for name in form.fields} for form in self.forms]


# Rows shown: the steps, plus one spare row, never more than MAX_STEPS + 1 rows.
StepFormSet = forms.formset_factory(StepForm, formset=BaseStepFormSet, extra=0, max_num=MAX_STEPS + 1, absolute_max=MAX_STEPS + 1)
