"""Funnel configuration in the Django admin: a funnel with its steps inline, and a preview
of its current results. Project owners use it too: see :mod:`apps.projects.admin`."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.utils.html import format_html, format_html_join

from apps.funnels.models import STEP_COUNT_MESSAGE, Funnel, FunnelStep, validate_step_count
from apps.funnels.selectors import funnel_results_recent
from apps.projects.admin import ProjectScopedAdmin, ProjectScopedInline
from pulseboard.clickhouse import ClickHouseError


class FunnelStepInlineFormSet(BaseInlineFormSet):
    """Saves only with 2 to 20 steps (rows marked for deletion and empty rows don't count)."""

    def clean(self) -> None:
        super().clean()
        if any(form.errors for form in self.forms):
            return
        kept = [
            form
            for form in self.forms
            if getattr(form, "cleaned_data", None) and not form.cleaned_data.get("DELETE") and form.cleaned_data.get("event")
        ]
        try:
            validate_step_count(len(kept))
        except ValidationError:
            raise ValidationError(f"{STEP_COUNT_MESSAGE} This one has {len(kept)}.", code="step_count") from None


class FunnelStepInline(ProjectScopedInline, admin.TabularInline):
    project_field = "funnel__project"
    model = FunnelStep
    formset = FunnelStepInlineFormSet
    fields = ["order", "event", "label", "filters"]
    ordering = ["order", "id"]
    extra = 1
    min_num = 0
    max_num = 20
    verbose_name = "step"
    verbose_name_plural = "steps (counted in ascending order)"
    formfield_overrides = {
        models.JSONField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 44})},
        models.PositiveSmallIntegerField: {"widget": forms.NumberInput(attrs={"style": "width: 4em"})},
        models.CharField: {"widget": forms.TextInput(attrs={"size": 24})},
    }


@admin.register(Funnel)
class FunnelAdmin(ProjectScopedAdmin):
    """Staff who are not superusers see and edit the funnels of their own projects only."""

    list_display = ["name", "project", "order_mode", "window", "step_count", "created_by", "updated_at"]
    list_filter = ["project", "order_mode"]
    list_select_related = ["project", "created_by"]
    search_fields = ["name", "description"]
    autocomplete_fields = ["project"]
    readonly_fields = ["created_by", "created_at", "updated_at", "results_preview"]
    inlines = [FunnelStepInline]
    fieldsets = [
        (None, {"fields": ["project", "name", "description"]}),
        ("Counting", {"fields": ["order_mode", ("window_value", "window_unit"), ("breakdown_property", "breakdown_type")]}),
        ("Preview", {"fields": ["results_preview"]}),
        ("History", {"fields": ["created_by", "created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(step_total=Count("steps"))

    @admin.display(description="steps", ordering="step_total")
    def step_count(self, obj: Funnel) -> int:
        return obj.step_total

    @admin.display(description="window")
    def window(self, obj: Funnel) -> str:
        return obj.window_display

    def save_model(self, request, obj: Funnel, form, change: bool) -> None:
        if not change and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description="Current results (last 30 days)")
    def results_preview(self, obj: Funnel) -> str:
        if obj.pk is None:
            return "Save the funnel to see its results."
        try:
            results = funnel_results_recent(funnel=obj)
        except (ClickHouseError, ValueError) as error:
            return format_html('<p class="errornote">The results could not be computed: {}</p>', str(error))
        tz = ZoneInfo(results["timezone"])
        first_day = results["date_from"].astimezone(tz).date()
        last_day = (results["date_to"] - timedelta(microseconds=1)).astimezone(tz).date()
        rows = format_html_join(
            "",
            "<tr><td>{}. {}</td><td style='text-align:right'>{}</td><td style='text-align:right'>{}%</td><td style='text-align:right'>{}%</td></tr>",
            (
                (s["step"], s["label"], f"{s['count']:,}", f"{s['conversion_from_start']:g}", f"{s['conversion_from_previous']:g}")
                for s in results["steps"]
            ),
        )
        return format_html(
            '<table class="funnel-preview"><thead><tr><th>Step</th><th>People</th><th>From start</th><th>From previous</th></tr></thead>'
            "<tbody>{}</tbody></table><p class='help'>People who did the first step from {} to {} ({} days, {} time).</p>",
            rows,
            first_day.isoformat(),
            last_day.isoformat(),
            (last_day - first_day).days + 1,
            results["timezone"],
        )
