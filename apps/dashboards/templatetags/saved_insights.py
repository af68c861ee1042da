"""``{% insight_save_bar kind %}``: the Save button of an insight page, or, when the page was
opened from a saved insight (``?insight=<id>``), "Saved: <name>" with Update.

The insight pages belong to apps below this one, so they name this tag in their templates
(strings, not imports) and the layering holds. ``{% insight_keep %}`` is the hidden
``insight`` field a page's forms carry, so that the page stays "the saved insight" while
its settings are changed, ready for Update.
"""

from __future__ import annotations

from django import template

from apps.dashboards.insight_views import save_bar_context
from apps.dashboards.models import SavedInsight

register = template.Library()


def _insight_of(project, value: str, kind: str) -> SavedInsight | None:
    if project is None or not value.isdigit() or not 0 < int(value) < 2**63:
        return None
    return SavedInsight.objects.filter(project=project, id=int(value), kind=kind).first()


@register.inclusion_tag("dashboards/insights/partials/save_bar.html", takes_context=True)
def insight_save_bar(context, kind: str, **extra) -> dict:
    """``extra`` parameters join the page's query (a funnel page adds ``funnel_id``)."""
    request = context["request"]
    project = context.get("project")
    if project is None:
        return {}
    nav = context.get("nav")
    params = request.GET.copy()
    insight = _insight_of(project, params.pop("insight", [""])[-1], kind)
    for name, value in extra.items():
        params[name] = str(value)
    return {
        "request": request,
        "csrf_token": context.get("csrf_token"),
        **save_bar_context(
            project=project, kind=kind, query=params.urlencode(), can_edit=bool(nav and nav.can_edit), insight=insight
        ),
    }


@register.inclusion_tag("dashboards/insights/partials/keep.html", takes_context=True)
def insight_keep(context) -> dict:
    value = context["request"].GET.get("insight", "")
    return {"insight_id": value if value.isdigit() else ""}
