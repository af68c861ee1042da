"""How insight pages show figures: numbers, changes, local times, JSON and breakdown values."""

import json
import re

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from apps.query.breakdown import breakdown_label as _breakdown_label

register = template.Library()


@register.filter
def delta_class(change_pct, better: str = "higher") -> str:
    """The classes of a change badge: its direction (``up``, ``down`` or ``flat``), and
    ``bad`` when the change is for the worse: a rise of a figure where lower is better
    (``better="lower"``: a bounce rate), which is then red, and its fall green."""
    if change_pct is None or change_pct == 0:
        return "flat"
    direction = "up" if change_pct > 0 else "down"
    worse = (change_pct > 0) == (better == "lower")
    return f"{direction} {'bad' if worse else 'good'}"


# Beyond this the exact figure says nothing more (a period after a nearly empty one).
CHANGE_CAP_PCT = 999


@register.filter
def change_label(card: dict) -> str:
    """The change badge of an overview card: "new" when the previous period had nothing (and
    this one has something), ">999%" for a larger rise, else the change with one decimal."""
    change = card.get("change_pct")
    if change is None:
        return "new" if card.get("value") else "—"
    if change > CHANGE_CAP_PCT:
        return f">{CHANGE_CAP_PCT}%"
    return f"{change:+,.1f}%" if change else "0%"


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
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


@register.filter
def breakdown_label(value) -> str:
    return _breakdown_label(value)


@register.filter
def duration(seconds) -> str:
    """Seconds as people read a visit's length: "45s", "3m 20s", "1h 05m"."""
    if seconds is None:
        return "—"
    total = round(float(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


@register.filter
def figure(value, unit: str = "") -> str:
    """A card's figure in its unit: ``duration`` (seconds as "3m 20s"), ``percent`` (one
    decimal), ``ratio`` (two decimals), anything else a count."""
    if value is None:
        return "—"
    if unit == "duration":
        return duration(value)
    if unit == "percent":
        return f"{float(value):,.1f}%"
    if unit == "ratio":
        return f"{float(value):,.2f}"
    return number(value)


# Before each "/" that follows another character, and after each "?", "&" and "=".
_URL_BREAK = re.compile(r"(?<=[^/])(?=/)|(?<=[?&=])")


@register.filter
def url_breaks(value) -> SafeString:
    """A URL or page path, escaped, with a line-break opportunity before each path segment and
    after each ``? & =``: a narrow table column wraps it between its parts ("/products"
    "/widget-pro"), not inside a word."""
    return mark_safe("<wbr>".join(escape(part) for part in _URL_BREAK.split(str(value))))
