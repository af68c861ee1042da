"""Forms of saved insights: saving a page's query (name, description, kind and the query
string), renaming, and the list's filters."""

from __future__ import annotations

from django import forms
from django.http import QueryDict

from apps.dashboards import registry
from apps.dashboards.insights import DESCRIPTION_MAX, NAME_MAX


class InsightNameForm(forms.Form):
    """The name and description of a saved insight (rename, and the first part of a save)."""

    name = forms.CharField(
        max_length=NAME_MAX,
        error_messages={"required": "Name the insight to save it."},
        widget=forms.TextInput(attrs={"placeholder": "e.g. Weekly signups", "autocomplete": "off"}),
    )
    description = forms.CharField(
        required=False,
        max_length=DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "What it shows, for whoever opens it next"}),
    )


class InsightSaveForm(InsightNameForm):
    """A page's Save: its kind and its current query string ride along hidden."""

    kind = forms.ChoiceField(choices=(), widget=forms.HiddenInput)
    query = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = registry.kind_choices()

    def clean_query(self) -> QueryDict:
        return QueryDict(self.cleaned_data.get("query") or "")


class InsightFilterForm(forms.Form):
    """The list's search and filters (all optional; a bad value is ignored)."""

    q = forms.CharField(required=False, label="Search", widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name or description"}))
    kind = forms.ChoiceField(required=False, label="Type")
    creator = forms.TypedChoiceField(required=False, label="Created by", coerce=int, empty_value=None)

    def __init__(self, *args, creators: list[tuple[int, str]] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", "All types"), *registry.kind_choices()]
        self.fields["creator"].choices = [("", "Anyone"), *[(str(pk), name) for pk, name in creators]]

    def filters(self) -> dict:
        self.is_valid()  # the fields that are valid filter; the others are ignored
        data = self.cleaned_data
        return {"search": data.get("q") or "", "kind": data.get("kind") or "", "created_by_id": data.get("creator")}
