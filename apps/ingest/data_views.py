"""The Data page of a project's settings (owners only): retention, deleting events, deleting
the project.

``/projects/<id>/settings/data/`` shows three cards; each form posts to its own URL. With
HTMX the answer is that card's partial; without JavaScript a success redirects back to the
page with a message, and an error renders the whole page. Bad input is a 400 that names the
field. Deleting events is asked in two steps (a preview of the count, then a typed
confirmation) and runs on a worker: the card polls its status until the report is there.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from apps.ingest import lifecycle
from apps.ingest.forms import EventDeletionConfirmForm, EventDeletionForm, ProjectDeleteForm, RetentionForm
from apps.ingest.selectors import event_names_by_volume
from apps.ingest.stream import WriteLockBusy
from apps.ingest.tasks import delete_events
from apps.projects.models import Project
from apps.projects.selectors import Access, project_get_for_user
from pulseboard.htmx import go, page, vary_on_htmx

CARDS = {
    "retention": "ingest/partials/data_retention.html",
    "delete-events": "ingest/partials/data_events.html",
    "delete-project": "ingest/partials/data_project.html",
}
# The context variable of each card's notice.
NOTICES = {"retention": "retention_notice", "delete-events": "events_notice", "delete-project": "project_notice"}


def _owned(request: HttpRequest, project_id: int) -> Project:
    return project_get_for_user(user=request.user, project_id=project_id, need=Access.OWN)


def _data_url(project: Project, card: str = "") -> str:
    return reverse("data-settings", kwargs={"project_id": project.id}) + (f"#{card}" if card else "")


def _context(project: Project, **overrides) -> dict:
    tz = ZoneInfo(project.timezone)
    oldest = lifecycle.oldest_event_at(project_id=project.id)
    cutoff = lifecycle.retention_cutoff(project=project)
    context = {
        "project": project,
        "timezone": project.timezone,
        "today": lifecycle.local_today(project=project),
        "oldest_day": oldest.astimezone(tz).date() if oldest else None,
        "first_kept_day": cutoff.astimezone(tz).date() if cutoff else None,
        "retention_form": RetentionForm(initial={"retention_days": project.retention_days}),
        "retention_max": lifecycle.RETENTION_MAX_DAYS,
        "events_form": EventDeletionForm(project=project),
        "event_names": event_names_by_volume(project_id=project.id, limit=200, include_hidden=True),
        "preview": None,
        "current": None,
        "deletions": list(lifecycle.event_deletions_for_project(project=project)),
        "project_form": ProjectDeleteForm(project=project),
        **{name: None for name in NOTICES.values()},
    }
    context.update(overrides)
    return context


def _card(request: HttpRequest, project: Project, card: str, *, status: int = 200, **overrides) -> HttpResponse:
    """One card (HTMX) or the whole page, with ``overrides`` in the context."""
    context = _context(project, **overrides)
    template = CARDS[card] if request.htmx else "ingest/data.html"
    return vary_on_htmx(render(request, template, context, status=status))


def _done(request: HttpRequest, project: Project, card: str, text: str, **overrides) -> HttpResponse:
    """After a successful POST: the card with a notice (HTMX), or back to the page with a message."""
    if request.htmx:
        return _card(request, project, card, **{NOTICES[card]: {"level": "success", "text": text}}, **overrides)
    messages.success(request, text)
    return vary_on_htmx(redirect(_data_url(project, card)))


@login_required
@require_GET
def data_settings(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _owned(request, project_id)
    current = None
    if request.GET.get("deletion"):
        try:
            current = lifecycle.event_deletion_get(project=project, deletion_id=request.GET["deletion"])
        except ValidationError:  # not a UUID
            current = None
    return page(request, "ingest/data.html", "ingest/partials/data_body.html", _context(project, current=current))


@login_required
@require_POST
def retention_save(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _owned(request, project_id)
    form = RetentionForm(request.POST)
    if form.is_valid():
        days = form.cleaned_data["retention_days"]
        try:
            lifecycle.retention_set(project=project, days=days, actor=request.user)
        except ValidationError as exc:
            form.add_error("retention_days", exc.message_dict.get("retention_days", exc.messages))
        else:
            text = f"Retention saved: events older than {days} days are deleted within the hour." if days else "Retention saved: every event is kept."
            return _done(request, project, "retention", text)
    return _card(request, project, "retention", status=400, retention_form=form)


@login_required
@require_POST
def events_preview(request: HttpRequest, project_id: int) -> HttpResponse:
    """How many stored events a deletion would remove, and the form that confirms it."""
    project = _owned(request, project_id)
    form = EventDeletionForm(request.POST, project=project)
    if not form.is_valid():
        return _card(request, project, "delete-events", status=400, events_form=form)
    return _card(request, project, "delete-events", events_form=form, preview=_preview(project, form))


def _preview(project: Project, form: EventDeletionForm, confirm_form: EventDeletionConfirmForm | None = None) -> dict:
    data = form.cleaned_data
    return {
        "count": lifecycle.events_matching(condition=form.condition),
        "event": data.get("event", ""),
        "date_from": data.get("date_from"),
        "date_to": data.get("date_to"),
        "form": confirm_form or EventDeletionConfirmForm(project=project),
    }


@login_required
@require_POST
def events_delete(request: HttpRequest, project_id: int) -> HttpResponse:
    """Confirmed: record the deletion and queue it; the card shows its progress."""
    project = _owned(request, project_id)
    form = EventDeletionConfirmForm(request.POST, project=project)
    if not form.is_valid():
        filters = EventDeletionForm(request.POST, project=project)
        if not filters.is_valid():  # the filters themselves are wrong: back to the first step
            return _card(request, project, "delete-events", status=400, events_form=filters)
        return _card(request, project, "delete-events", status=400, events_form=filters, preview=_preview(project, filters, form))
    data = form.cleaned_data
    deletion = lifecycle.event_deletion_request(
        project=project, user=request.user, event=data["event"], date_from=data["date_from"], date_to=data["date_to"], confirm=data["confirm"]
    )
    delete_events.delay(str(deletion.id))
    deletion.refresh_from_db()
    if request.htmx:
        return _card(request, project, "delete-events", current=deletion)
    messages.success(request, f"Deleting {deletion.describe()}.")
    return vary_on_htmx(redirect(reverse("data-settings", kwargs={"project_id": project.id}) + f"?deletion={deletion.id}#delete-events"))


@login_required
@require_GET
def event_deletion_status(request: HttpRequest, project_id: int, deletion_id) -> HttpResponse:
    """One deletion's status and, once done, its report (the card polls it while it runs)."""
    project = _owned(request, project_id)
    deletion = lifecycle.event_deletion_get(project=project, deletion_id=deletion_id)
    if deletion is None:
        raise Http404("No such deletion.")
    context = {"project": project, "deletion": deletion}
    return page(request, "ingest/event_deletion.html", "ingest/partials/data_deletion_status.html", context)


@login_required
@require_POST
def project_delete(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _owned(request, project_id)
    form = ProjectDeleteForm(request.POST, project=project)
    if not form.is_valid():
        return _card(request, project, "delete-project", status=400, project_form=form)
    name = project.name
    try:
        removed = lifecycle.project_delete(project=project, actor=request.user, confirm=form.cleaned_data["confirm"])
    except WriteLockBusy:
        notice = {"level": "error", "text": "Events are being written or another deletion is running: nothing was deleted from the project's data yet. Try again in a minute (its ingest key no longer works)."}
        return _card(request, project, "delete-project", status=503, project_form=form, project_notice=notice)
    messages.success(request, f"Project “{name}” deleted, with its {removed.get('events', 0)} events.")
    return go(request, reverse("project-list"))
