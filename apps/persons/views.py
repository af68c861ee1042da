"""Pages of persons: the list with search, one person with its events, and deletion."""

from __future__ import annotations

import base64
from datetime import datetime
from urllib.parse import urlencode
from uuid import UUID

import orjson
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from apps.persons.selectors import SEARCH_MAX, ingestion_warnings, person_by_distinct_id, person_events, person_visible, persons_list
from apps.persons.services import person_deletion_request
from apps.persons.tasks import delete_person
from apps.projects.selectors import Access, project_get_for_user
from pulseboard.htmx import go, page, wants_partial

WARNINGS_SHOWN = 100
EVENTS_PAGE = 50
# Properties shown in the list, when a person has them, before any other.
LIST_FIRST = ("email", "name", "plan", "tier", "company")
LIST_PROPERTIES = 3


def _render(request: HttpRequest, partial: str, context: dict, status: int = 200) -> HttpResponse:
    return page(request, "persons/page.html", partial, {**context, "partial": partial}, status=status)


def shown_properties(properties: dict) -> list[tuple[str, object]]:
    keys = [k for k in LIST_FIRST if k in properties] + sorted(k for k in properties if k not in LIST_FIRST and not k.startswith("$"))
    return [(key, properties[key]) for key in keys[:LIST_PROPERTIES]]


@login_required
@require_GET
def persons_page(request: HttpRequest, project_id: int) -> HttpResponse:
    """``/projects/<id>/persons/``: persons, most recently seen first, with a search box."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    search = request.GET.get("search", "").strip()[:SEARCH_MAX]
    try:
        result = persons_list(project_id=project.id, search=search, cursor=request.GET.get("cursor") or None)
    except ValueError:
        raise Http404("No such page of persons.") from None
    rows = [{"person": p, "shown": shown_properties(p.properties)} for p in result.results]
    next_url = None
    if result.next_cursor:
        next_url = f"{request.path}?{urlencode({**({'search': search} if search else {}), 'cursor': result.next_cursor})}"
    context = {"project": project, "title": "Persons", "rows": rows, "search": search, "next_url": next_url, "search_max": SEARCH_MAX}
    if request.GET.get("cursor") and wants_partial(request):
        return page(request, "persons/partials/person_rows.html", "persons/partials/person_rows.html", context)
    if wants_partial(request) and request.headers.get("HX-Target") == "person-results":
        return page(request, "persons/partials/person_results.html", "persons/partials/person_results.html", context)
    return _render(request, "persons/partials/list_body.html", context)


@login_required
@require_GET
def person_of_id(request: HttpRequest, project_id: int) -> HttpResponse:
    """``/projects/<id>/persons/of/?distinct_id=X``: the page of the person that holds an id
    (the Explorer links each event here)."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    distinct_id = request.GET.get("distinct_id", "")
    person = person_by_distinct_id(project_id=project.id, distinct_id=distinct_id) if distinct_id else None
    if person is None:
        raise Http404("No person holds this id.")
    return go(request, reverse("person-detail", kwargs={"project_id": project.id, "person_id": person.id}))


def _events_cursor(events: list[dict]) -> str:
    last = events[-1]
    return base64.urlsafe_b64encode(orjson.dumps([last["timestamp"].isoformat(), str(last["event_id"])])).decode().rstrip("=")


def _events_before(cursor: str) -> tuple[datetime, UUID]:
    try:
        stamp, event_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(stamp), UUID(event_id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise Http404("No such page of events.") from None


def _person_or_404(project, person_id: str):
    person = person_visible(project_id=project.id, person_id=person_id)
    if person is None:
        raise Http404("No such person.")
    return person


@login_required
def person_page(request: HttpRequest, project_id: int, person_id: str) -> HttpResponse:
    """``/projects/<id>/persons/<person id>/``: the profile (every property and id), the
    events of all its ids, newest first; POST deletes the person after a typed confirmation
    (owners only: deleting data is theirs)."""
    need = Access.OWN if request.method == "POST" else Access.READ
    project = project_get_for_user(user=request.user, project_id=project_id, need=need)
    person = _person_or_404(project, person_id)
    if person.id != UUID(str(person_id)):  # the id of a key merged into another person
        return go(request, reverse("person-detail", kwargs={"project_id": project.id, "person_id": person.id}))
    confirm_error = None
    if request.method == "POST":
        if request.POST.get("confirm", "").strip() == person.name:
            deletion = person_deletion_request(project_id=project.id, person_key=person.key, distinct_ids=person.distinct_ids, user=request.user)
            delete_person.delay(str(deletion.id))
            messages.success(request, f"{person.name} and every event of their ids are being deleted; they disappear within a minute.")
            return go(request, reverse("persons-list", kwargs={"project_id": project.id}))
        confirm_error = f"Type {person.name} exactly to delete this person."
    before = _events_before(request.GET["cursor"]) if request.GET.get("cursor") else None
    events = person_events(project_id=project.id, person_key=person.key, limit=EVENTS_PAGE + 1, before=before)
    more = len(events) > EVENTS_PAGE
    events = events[:EVENTS_PAGE]
    for event in events:
        event["properties"] = orjson.loads(event["properties"] or "{}")
    next_url = f"{request.path}?{urlencode({'cursor': _events_cursor(events)})}" if more else None
    context = {
        "project": project,
        "title": person.name,
        "person": person,
        "properties": [
            (key, value if isinstance(value, str) else orjson.dumps(value).decode(), not isinstance(value, str))
            for key, value in sorted(person.properties.items())
        ],
        "events": events,
        "next_url": next_url,
        "confirm_error": confirm_error,
        "persons_url": reverse("persons-list", kwargs={"project_id": project.id}),
    }
    if before is not None and wants_partial(request):
        return page(request, "analytics/partials/explorer_rows.html", "analytics/partials/explorer_rows.html", context)
    return _render(request, "persons/partials/person_body.html", context, status=400 if confirm_error else 200)


@login_required
@require_GET
def warnings_section(request: HttpRequest, project_id: int) -> HttpResponse:
    """``/projects/<id>/settings/ingestion-warnings/``: what ingest stored but could not do as
    asked (refused merges), newest first (the settings page loads it as a section)."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    rows = [{"message": w.message, "kind": w.get_kind_display(), "at": w.created_at, "details": w.details} for w in ingestion_warnings(project_id=project.id, limit=WARNINGS_SHOWN)]
    context = {"project": project, "warnings": rows, "shown": WARNINGS_SHOWN, "timezone": project.timezone}
    return page(request, "persons/ingestion_warnings.html", "persons/partials/ingestion_warnings.html", context)
