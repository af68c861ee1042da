"""The annotations page: a project's dated notes, newest first, with a form to add one, and
each note edited in place by its author or deleted by its author or an owner.

The page renders whole on a normal request and only its partial on an HTMX one. Editing
swaps one row for its form and back; deleting removes the row. Without JavaScript the
same URLs answer with whole pages and redirects.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.analytics.annotations import (
    EDIT_DENIED,
    LOCAL_SHOWN_FORMAT,
    annotation_at_parse,
    annotation_can_delete,
    annotation_can_edit,
    annotation_create,
    annotation_delete,
    annotation_get,
    annotation_text_clean,
    annotation_update,
    annotations_for_project,
    local_input_value,
)
from apps.analytics.models import ANNOTATION_TEXT_MAX, Annotation
from apps.projects.models import Project
from apps.projects.selectors import Access, project_get_for_user
from pulseboard.errors import Forbidden
from pulseboard.htmx import go, page, vary_on_htmx, wants_partial

PAGE_SIZE = 50
PAGE = "analytics/page.html"


class AnnotationForm(forms.Form):
    """A note's moment (a local time of the project's timezone) and its text."""

    at = forms.CharField(
        label="When",
        error_messages={"required": "Pick the date and time the annotation marks."},
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    text = forms.CharField(
        label="Note",
        max_length=ANNOTATION_TEXT_MAX,
        error_messages={"required": "Write the annotation's text."},
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": ANNOTATION_TEXT_MAX, "placeholder": "e.g. New pricing page shipped"}),
        help_text=f"Up to {ANNOTATION_TEXT_MAX} characters, shown when hovering the marker.",
    )

    def __init__(self, *args, tz_name: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.tz_name = tz_name
        self.fields["at"].help_text = f"In the project's timezone, {tz_name}."

    def _clean(self, field: str, clean) -> Any:
        try:
            return clean(self.cleaned_data[field])
        except ValidationError as error:
            raise ValidationError(error.message_dict[field]) from None

    def clean_at(self) -> datetime:
        return self._clean("at", lambda value: annotation_at_parse(value, tz_name=self.tz_name))

    def clean_text(self) -> str:
        return self._clean("text", annotation_text_clean)


def _urls(project: Project, note: Annotation | None = None) -> dict[str, str]:
    urls = {"list_url": reverse("annotations-list", kwargs={"project_id": project.id})}
    if note is not None:
        kwargs = {"project_id": project.id, "annotation_id": note.id}
        urls.update(edit_url=reverse("annotation-edit", kwargs=kwargs), delete_url=reverse("annotation-delete", kwargs=kwargs))
    return urls


def _row(request: HttpRequest, project: Project, note: Annotation) -> dict[str, Any]:
    """One note as its row shows it: the local time, and what this user may do with it."""
    return {
        "note": note,
        "when": note.at.astimezone(ZoneInfo(project.timezone)).strftime(LOCAL_SHOWN_FORMAT),
        "can_edit": annotation_can_edit(annotation=note, user=request.user),
        "can_delete": annotation_can_delete(annotation=note, user=request.user, project=project),
        **_urls(project, note),
    }


def _render_row(request: HttpRequest, project: Project, note: Annotation) -> HttpResponse:
    return vary_on_htmx(render(request, "analytics/partials/annotations_row.html", {"project": project, "row": _row(request, project, note)}))


# --- The list, and a new note ------------------------------------------------------------------


@login_required
def annotations_list(request: HttpRequest, project_id: int) -> HttpResponse:
    """GET: the notes, newest first, a page at a time. POST: add one (members and owners)."""
    need = Access.EDIT if request.method == "POST" else Access.READ
    project = project_get_for_user(user=request.user, project_id=project_id, need=need)
    urls = _urls(project)
    status = 200
    if request.method == "POST":
        form = AnnotationForm(request.POST, tz_name=project.timezone)
        if form.is_valid():
            annotation_create(project=project, user=request.user, **form.cleaned_data)
            messages.success(request, "Annotation added: it shows on every chart that covers its time.")
            return go(request, urls["list_url"])
        status = 400
    else:
        # ?at= prefills the moment (a chart's bucket, or a link); else now, to the minute.
        at = request.GET.get("at") or local_input_value(datetime.now(timezone.utc), tz_name=project.timezone)
        form = AnnotationForm(initial={"at": at[:16]}, tz_name=project.timezone)
    paginator = Paginator(annotations_for_project(project=project), PAGE_SIZE)
    page_obj = paginator.get_page(request.GET.get("page"))
    context = {
        "project": project,
        "title": "Annotations",
        "form": form,
        "rows": [_row(request, project, note) for note in page_obj.object_list],
        "page_obj": page_obj,
        "total": paginator.count,
        "trends_url": reverse("analytics-trends", kwargs={"project_id": project.id}),
        **urls,
    }
    return page(request, PAGE, "analytics/partials/annotations_body.html", {**context, "partial": "analytics/partials/annotations_body.html"}, status=status)


# --- Editing and deleting one note --------------------------------------------------------------


@login_required
def annotation_edit(request: HttpRequest, project_id: int, annotation_id: int) -> HttpResponse:
    """Its author only. GET: the form (in place of the row on an HTMX request; ``?cancel=1``
    gives the row back). POST: save, then the row (HTMX) or the list."""
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    note = annotation_get(project=project, annotation_id=annotation_id)
    if not annotation_can_edit(annotation=note, user=request.user):
        raise Forbidden(EDIT_DENIED)
    partial = wants_partial(request)
    if request.method == "GET" and request.GET.get("cancel") and partial:
        return _render_row(request, project, note)
    status = 200
    if request.method == "POST":
        form = AnnotationForm(request.POST, tz_name=project.timezone)
        if form.is_valid():
            note = annotation_update(annotation=note, user=request.user, **form.cleaned_data)
            if partial:
                return _render_row(request, project, note)
            messages.success(request, "Annotation saved.")
            return go(request, _urls(project)["list_url"])
        status = 400
    else:
        form = AnnotationForm(initial={"at": local_input_value(note.at, tz_name=project.timezone), "text": note.text}, tz_name=project.timezone)
    context = {"project": project, "title": "Edit annotation", "form": form, "row": _row(request, project, note), **_urls(project, note)}
    if partial:
        return vary_on_htmx(render(request, "analytics/partials/annotations_edit_row.html", context, status=status))
    partial_name = "analytics/partials/annotations_edit_body.html"
    return page(request, PAGE, partial_name, {**context, "partial": partial_name}, status=status)


@login_required
@require_POST
def annotation_delete_view(request: HttpRequest, project_id: int, annotation_id: int) -> HttpResponse:
    """Its author or an owner. The row goes (HTMX), or back to the list."""
    project = project_get_for_user(user=request.user, project_id=project_id, need=Access.EDIT)
    annotation_delete(annotation=annotation_get(project=project, annotation_id=annotation_id), user=request.user, project=project)
    if wants_partial(request):
        return vary_on_htmx(HttpResponse(""))
    messages.success(request, "Annotation deleted.")
    return go(request, _urls(project)["list_url"])
