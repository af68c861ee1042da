"""Annotations: dated notes of a project, and their markers on time-series charts.

Reads, writes and the one rule of who may change a note live here; the page
(:mod:`apps.analytics.annotation_views`) and the API (:mod:`apps.analytics.annotation_api`)
only parse input and render.

* Any member of the project reads them; members and owners (``Access.EDIT``) write them.
* A note is edited by its author only; it is deleted by its author or by an owner.

Charts: :func:`chart_annotate` adds to every time-series chart spec
(``static/js/charts.js``; through :mod:`apps.query.charts`, whichever app drew it) the notes
inside its range, each placed on the bucket that holds it, in the project's timezone and
the chart's interval: a note at 23:30 UTC on a project in Europe/Berlin is on the next
day's bucket (00:30 there). The placing happens here, in Python, once; the browser only
draws a marker at the index it is given.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.urls import reverse

from apps.analytics.models import ANNOTATION_TEXT_MAX, Annotation
from apps.projects.models import Project
from apps.projects.selectors import Access, role_allows
from apps.query.dates import DateRange, date_bound
from pulseboard.errors import Forbidden, NotFound, ParamError

# The <input type="datetime-local"> format: a local time, to the minute.
LOCAL_INPUT_FORMAT = "%Y-%m-%dT%H:%M"
LOCAL_SHOWN_FORMAT = "%Y-%m-%d %H:%M"
EDIT_DENIED = "Only its author can edit an annotation."
DELETE_DENIED = "Only its author or a project owner can delete an annotation."


# --- Input ------------------------------------------------------------------------------------


def annotation_text_clean(text: Any) -> str:
    """The text as stored: stripped, 1 to 400 characters. Anything else is a ValidationError
    on ``text``."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError({"text": "Write the annotation's text."})
    text = text.strip()
    if "\x00" in text:  # Postgres cannot store it
        raise ValidationError({"text": "Must not contain NUL characters."})
    if len(text) > ANNOTATION_TEXT_MAX:
        raise ValidationError({"text": f"At most {ANNOTATION_TEXT_MAX} characters (this one has {len(text)})."})
    return text


def annotation_at_parse(value: Any, *, tz_name: str) -> datetime:
    """An ISO 8601 date-time (or date) as a UTC instant. With an offset (``Z``,
    ``+02:00``) it is that instant; without one it is a local time of the project's
    timezone (what a ``datetime-local`` field sends); a date alone is the start of that
    local day. Anything else is a ValidationError on ``at``."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError({"at": "Give the date and time the annotation marks, e.g. 2026-11-22T14:30:00Z."})
    value = value.strip()
    if not (value.isascii() and value.isprintable()):  # Python's parser lets some through
        raise ValidationError({"at": "Not an ISO 8601 date-time: use e.g. 2026-11-22T14:30:00Z."})
    try:
        moment = date_bound(value, field="at", tz=ZoneInfo(tz_name), end=False)
    except ParamError as error:
        raise ValidationError({"at": error.message[:1].upper() + error.message[1:] + "."}) from None
    assert moment is not None
    return moment


def local_input_value(moment: datetime, *, tz_name: str) -> str:
    """``moment`` as a ``datetime-local`` field's value in the project's timezone."""
    return moment.astimezone(ZoneInfo(tz_name)).strftime(LOCAL_INPUT_FORMAT)


# --- Reads ------------------------------------------------------------------------------------


def annotations_for_project(
    *, project: Project, date_from: datetime | None = None, date_to: datetime | None = None
) -> QuerySet[Annotation]:
    """The project's annotations, newest first; ``[date_from, date_to)`` when given."""
    notes = Annotation.objects.filter(project=project).select_related("created_by")
    if date_from is not None:
        notes = notes.filter(at__gte=date_from)
    if date_to is not None:
        notes = notes.filter(at__lt=date_to)
    return notes.order_by("-at", "-id")


def annotation_get(*, project: Project, annotation_id: int) -> Annotation:
    """One annotation of the project; NotFound for any other id (another project's too)."""
    if not 0 < int(annotation_id) < 2**63:  # beyond a bigint: no such row, not a database error
        raise NotFound("No such annotation.")
    note = Annotation.objects.select_related("created_by").filter(project=project, id=annotation_id).first()
    if note is None:
        raise NotFound("No such annotation.")
    return note


def annotation_can_edit(*, annotation: Annotation, user: AbstractBaseUser) -> bool:
    return user.is_authenticated and annotation.created_by_id is not None and annotation.created_by_id == user.pk


def annotation_can_delete(*, annotation: Annotation, user: AbstractBaseUser, project: Project) -> bool:
    """The author, or an owner of the project (``project.role`` from ``project_get_for_user``)."""
    return annotation_can_edit(annotation=annotation, user=user) or role_allows(getattr(project, "role", ""), Access.OWN)


# --- Writes -----------------------------------------------------------------------------------


def annotation_create(*, project: Project, user: AbstractBaseUser, at: datetime, text: str) -> Annotation:
    """A new note by ``user`` (who must be allowed to edit the project: the caller asked
    ``project_get_for_user(need=Access.EDIT)``)."""
    author = user if user.is_authenticated else None
    return Annotation.objects.create(
        project=project,
        at=at,
        text=annotation_text_clean(text),
        created_by=author,
        created_by_name=author.get_username() if author else "",
    )


def annotation_update(
    *, annotation: Annotation, user: AbstractBaseUser, at: datetime | None = None, text: str | None = None
) -> Annotation:
    """Change the moment and/or the text; only the author may (else Forbidden)."""
    if not annotation_can_edit(annotation=annotation, user=user):
        raise Forbidden(EDIT_DENIED)
    if text is not None:
        annotation.text = annotation_text_clean(text)
    if at is not None:
        annotation.at = at
    annotation.save(update_fields=["text", "at", "updated_at"])
    return annotation


def annotation_delete(*, annotation: Annotation, user: AbstractBaseUser, project: Project) -> None:
    """Delete it: its author, or an owner (else Forbidden)."""
    if not annotation_can_delete(annotation=annotation, user=user, project=project):
        raise Forbidden(DELETE_DENIED)
    annotation.delete()


# --- Charts -----------------------------------------------------------------------------------


def annotations_for_chart(*, project: Project, date_range: DateRange) -> list[dict[str, Any]]:
    """The notes inside ``date_range``, grouped by the bucket that holds each one::

        [{"index": 3, "label": "2026-11-23", "notes": [{"id", "text", "author", "at"}]}]

    ``index`` and ``label`` are the bucket's place on the chart's axis (the range's
    buckets in the project's timezone and the range's interval); ``at`` is the note's
    local time, as shown. Buckets without a note are left out."""
    starts = date_range.bucket_starts()
    if not starts:
        return []
    labels = date_range.labels()
    tz = date_range.tz
    buckets: dict[int, dict[str, Any]] = {}
    notes = annotations_for_project(project=project, date_from=date_range.date_from, date_to=date_range.date_to)
    for note in notes.order_by("at", "id"):  # oldest first within each bucket
        index = bisect_right(starts, note.at) - 1
        if index < 0:
            continue
        bucket = buckets.setdefault(index, {"index": index, "label": labels[index], "notes": []})
        bucket["notes"].append(
            {"id": note.id, "text": note.text, "author": note.author, "at": note.at.astimezone(tz).strftime(LOCAL_SHOWN_FORMAT)}
        )
    return [buckets[i] for i in sorted(buckets)]


def chart_annotate(*, project: Project, date_range: DateRange) -> dict[str, Any]:
    """What a time-series chart spec whose labels are ``date_range``'s buckets carries of the
    project's annotations; every such chart gets it (:mod:`apps.query.charts`, which this
    app registers it with in ``apps.py``).

    ``annotations`` (:func:`annotations_for_chart`) and ``annotate``: what the chart needs
    to add a note from a click on a bucket (the API's URL, each bucket's start as a
    ``datetime-local`` value, the timezone and the list page). The spec is the same for
    every reader (a dashboard caches its tiles' HTML): the page offers the click to those
    who may edit (``nav.can_edit``, as ``data-can-edit`` on ``<body>``), and the API checks."""
    tz = date_range.tz
    return {
        "annotations": annotations_for_chart(project=project, date_range=date_range),
        "annotate": {
            "url": reverse("api-annotations", kwargs={"project_id": project.id}),
            "list_url": reverse("annotations-list", kwargs={"project_id": project.id}),
            "timezone": tz.key,
            "starts": [start.astimezone(tz).strftime(LOCAL_INPUT_FORMAT) for start in date_range.bucket_starts()],
        },
    }
