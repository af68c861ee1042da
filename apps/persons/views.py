"""Pages of persons."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from apps.persons.selectors import ingestion_warnings
from apps.projects.selectors import project_get_for_user
from pulseboard.htmx import page

WARNINGS_SHOWN = 100


@login_required
@require_GET
def warnings_section(request: HttpRequest, project_id: int) -> HttpResponse:
    """``/projects/<id>/settings/ingestion-warnings/``: what ingest stored but could not do as
    asked (refused merges), newest first (the settings page loads it as a section)."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    tz = ZoneInfo(project.timezone)
    rows = [
        {"message": w.message, "kind": w.get_kind_display(), "at": w.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"), "details": w.details}
        for w in ingestion_warnings(project_id=project.id, limit=WARNINGS_SHOWN)
    ]
    context = {"project": project, "warnings": rows, "shown": WARNINGS_SHOWN, "timezone": project.timezone}
    return page(request, "persons/ingestion_warnings.html", "persons/partials/ingestion_warnings.html", context)
