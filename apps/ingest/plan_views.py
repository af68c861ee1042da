"""The Tracking plan page: the event names a project accepts, the properties each must
carry, the mode that applies them, and the violations counted in observe mode.

``/projects/<id>/tracking-plan/``: every member reads it; members and owners edit it in one
form (a row per event: its name, suggested from the event catalog, and its required
properties written ``plan:string, amount:number``). Saving replaces the plan; a bad row is
a 400 that names it, with the form as typed. The rules live in :mod:`apps.ingest.plan`.
"""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from apps.ingest.models import EventDefinition, TrackingPlan
from apps.ingest.plan import (
    PLAN_MAX_EVENTS,
    PROPERTY_TYPES,
    plan_violations_for_project,
    plan_violations_reset,
    tracking_plan_get,
    tracking_plan_update,
)
from apps.projects.models import Project
from apps.projects.selectors import Access, project_get_for_user, role_allows
from pulseboard.errors import ParamError
from pulseboard.htmx import go, page

PAGE = "analytics/page.html"
BODY = "ingest/partials/tracking_plan_body.html"
BLANK_ROWS = 3
MODE_HELP = {
    "off": "Nothing is checked: every valid event is accepted.",
    "observe": "Every valid event is accepted; those outside the plan are counted below and on the Events page.",
    "enforce": "An event outside the plan is refused with an error naming the field; the request's other events are still accepted.",
}
_PROPERTY = re.compile(r"^\s*(?P<name>[^:]+?)\s*(?::\s*(?P<type>\S*)\s*)?$")


def properties_format(properties: list[dict[str, str]]) -> str:
    """Required properties as the form shows them: ``plan:string, amount:number``."""
    return ", ".join(f"{p['name']}:{p['type']}" for p in properties)


def properties_parse(text: str, *, field: str) -> list[dict[str, str]]:
    """``plan:string, amount:number`` to the plan's list; :class:`ParamError` naming
    ``field`` for an entry without a name or with a type that is not one of the three."""
    properties = []
    for j, part in enumerate(p for p in text.split(",") if p.strip()):
        match = _PROPERTY.match(part)
        if match is None:
            raise ParamError(f"{field}.{j}.name", f"{part.strip()!r}: write name:type, e.g. plan:string")
        kind = (match.group("type") or "").lower()
        if kind not in PROPERTY_TYPES:
            raise ParamError(f"{field}.{j}.type", f"{part.strip()!r}: the type must be one of {', '.join(PROPERTY_TYPES)} (name:type)")
        properties.append({"name": match.group("name"), "type": kind})
    return properties


def _rows_posted(post) -> list[dict[str, Any]]:
    """The form's rows as typed, in order (rows left blank dropped)."""
    indexes = sorted({int(m.group(1)) for key in post if (m := re.fullmatch(r"events-(\d+)-name", key)) and int(m.group(1)) < PLAN_MAX_EVENTS + 50})
    rows = []
    for i in indexes:
        row = {
            "name": post.get(f"events-{i}-name", "").strip(),
            "properties": post.get(f"events-{i}-properties", "").strip(),
            "description": post.get(f"events-{i}-description", "").strip(),
        }
        if any(row.values()):
            rows.append(row)
    return rows


def _events_parse(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"name": row["name"], "description": row["description"], "properties": properties_parse(row["properties"], field=f"events.{i}.properties")}
        for i, row in enumerate(rows)
    ]


def _more_rows(value: str) -> int:
    """``?add=`` of the page: how many more empty rows to show (0 to 50; anything else is 0)."""
    return min(int(value), 50) if value.isascii() and value.isdigit() else 0


def _error_column(error: ParamError) -> str:
    """Which input of its row an error is about: name, properties or description."""
    parts = (error.field or "").split(".")
    return parts[2] if len(parts) > 2 and parts[2] in ("properties", "description") else "name"


def _error_row(error: ParamError) -> int | None:
    match = re.match(r"events\.(\d+)", error.field or "")
    return int(match.group(1)) if match else None


def _context(request: HttpRequest, project: Project, plan: TrackingPlan, *, rows: list[dict] | None = None, error: ParamError | None = None, mode=None, allow_dollar=None) -> dict:
    can_edit = role_allows(project.role, Access.EDIT)
    if rows is None:
        rows = [{"name": e["name"], "description": e.get("description", ""), "properties": properties_format(e.get("properties", []))} for e in plan.events]
    error_row = _error_row(error) if error is not None else None
    for i, row in enumerate(rows):
        row["index"] = i
        row["error"] = error.message if error_row == i else None
        row["error_column"] = _error_column(error) if error_row == i else None
    extra = _more_rows(request.GET.get("add", ""))
    blank = [{"index": len(rows) + k, "name": "", "description": "", "properties": "", "error": None, "error_column": None} for k in range(BLANK_ROWS + extra)]
    planned = {e["name"] for e in plan.events}
    catalog = list(EventDefinition.objects.filter(project_id=project.id).order_by("-last_seen").values_list("name", flat=True)[:500])
    violations = plan_violations_for_project(project_id=project.id)
    mode = mode or plan.mode
    return {
        "project": project,
        "title": "Tracking plan",
        "plan": plan,
        "mode": mode,
        "allow_dollar": plan.allow_dollar_events if allow_dollar is None else allow_dollar,
        "modes": [(value, label, MODE_HELP[value]) for value, label in TrackingPlan.Mode.choices],
        "mode_help": MODE_HELP[mode] if mode in MODE_HELP else "",
        "rows": rows,
        "blank_rows": blank if can_edit else [],
        "can_edit": can_edit,
        "error": error,
        "error_row": error_row + 1 if error_row is not None else None,
        "catalog": catalog,
        "unplanned": [name for name in catalog if name not in planned and not (plan.allow_dollar_events and name.startswith("$"))][:30],
        "violations": violations,
        "violation_total": sum(v.count for v in violations),
        "types": PROPERTY_TYPES,
        "plan_url": reverse("tracking-plan", kwargs={"project_id": project.id}),
        "reset_url": reverse("tracking-plan-reset", kwargs={"project_id": project.id}),
        "events_url": _url("analytics-events", project),
        "api_url": reverse("api-tracking-plan", kwargs={"project_id": project.id}),
        "add_url": f"?add={extra + 5}#plan-rows",
    }


def _url(name: str, project: Project) -> str | None:
    """A page of an app above ingest, if installed (found by name, never imported)."""
    try:
        return reverse(name, kwargs={"project_id": project.id})
    except NoReverseMatch:
        return None


@login_required
def tracking_plan_page(request: HttpRequest, project_id: int) -> HttpResponse:
    """GET: the plan (a form for members and owners). POST: replace it."""
    need = Access.EDIT if request.method == "POST" else Access.READ
    project = project_get_for_user(user=request.user, project_id=project_id, need=need)
    plan = tracking_plan_get(project=project)
    if request.method != "POST":
        return page(request, PAGE, BODY, {**_context(request, project, plan), "partial": BODY})
    rows = _rows_posted(request.POST)
    mode = request.POST.get("mode", "")
    allow_dollar = request.POST.get("allow_dollar_events") == "on"
    try:
        tracking_plan_update(project=project, user=request.user, mode=mode, allow_dollar_events=allow_dollar, events=_events_parse(rows))
    except ParamError as error:
        context = _context(request, project, plan, rows=rows, error=error, mode=mode if mode in MODE_HELP else None, allow_dollar=allow_dollar)
        return page(request, PAGE, BODY, {**context, "partial": BODY}, status=400)
    messages.success(request, f"Tracking plan saved: {len(rows)} event{'s' if len(rows) != 1 else ''}, mode {mode}. Ingest applies it within 10 seconds.")
    return go(request, reverse("tracking-plan", kwargs={"project_id": project.id}))


@login_required
@require_POST
def tracking_plan_reset(request: HttpRequest, project_id: int) -> HttpResponse:
    """Members and owners: forget the counted violations (after fixing the clients)."""
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    plan_violations_reset(project_id=project.id)
    messages.success(request, "Violation counts reset.")
    return go(request, reverse("tracking-plan", kwargs={"project_id": project.id}))
