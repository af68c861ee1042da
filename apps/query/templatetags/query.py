"""How insight pages show figures: numbers, changes, local times, JSON and breakdown values."""

import json

from django import template

from apps.query.breakdown import breakdown_label as _breakdown_label

register = template.Library()


@register.filter
def delta_class(change_pct) -> str:
    if change_pct is None or change_pct == 0:
        return "flat"
    return "up" if change_pct > 0 else "down"


@register.filter
def number(value) -> str:
    """Thousands separators; two decimals for fractions."""
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


@register.filter
def local(value, tz):
    """A UTC datetime in the project's timezone."""
    return value.astimezone(tz) if value is not None else value


@register.filter
def pretty_json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


@register.filter
def breakdown_label(value) -> str:
    return _breakdown_label(value)
