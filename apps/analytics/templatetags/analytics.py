from django import template

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
def pretty_json(value) -> str:
    import json

    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


@register.filter
def breakdown_label(value) -> str:
    if value == "$other":
        return "Other"
    return value if value else "(none)"
