"""The ingest front doors, and the page that demonstrates the browser SDK.

The doors are plain Django views: this is the hottest path, so they skip DRF, sessions
and CSRF, and hand the body straight to the ingest service.

Every door (native, PostHog, Segment) shares one service path; a door only says how its
requests are read and how its clients are answered (``apps.ingest.formats``). CORS for
browsers is answered by django-cors-headers, scoped to these routes by ``CORS_URLS_REGEX``.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import orjson
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.ingest.formats import Door, native, posthog, segment
from apps.ingest.gate import origin_refusal
from pulseboard.sdk import sdk_script
from apps.ingest.services import ingest_limits, request_ingest
from apps.ingest.stream import deadletters, projects_deleted
from apps.ingest.validation import BodyError
from apps.projects.navigation import project_url
from apps.projects.selectors import project_for_ingest_key, project_get_for_user, projects_for_user
from pulseboard.htmx import page
from pulseboard.http import client_ip


def json_response(status: int, body: dict, headers: dict | None = None) -> HttpResponse:
    response = HttpResponse(orjson.dumps(body), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def body_read(request) -> bytes:
    """The raw body, whatever its Content-Type; a declared or actual size over the limit
    raises a 413 without reading the rest.

    A chunked body (``Transfer-Encoding: chunked``, no ``Content-Length``) is one Django
    reads as empty: the server has already undone the chunking, so it is read from the WSGI
    input itself, up to the same limit."""
    limit = settings.INGEST_MAX_BODY_BYTES
    too_large = BodyError(413, "body_too_large", f"The body is larger than {limit} bytes.")
    length = request.META.get("CONTENT_LENGTH")
    if not length and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        body = request.META["wsgi.input"].read(limit + 1)
        if len(body) > limit:
            raise too_large
        return body
    try:
        declared = int(length or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise too_large
    return request.read(limit + 1)


def _lower(headers) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def door_view(door: Door):
    @csrf_exempt
    @require_POST
    def view(request):
        try:
            body = body_read(request)
        except BodyError as exc:
            return json_response(*door.answer(exc.status, exc.as_json()))
        result = request_ingest(
            door=door,
            body=body,
            headers=_lower(request.headers),
            query=request.GET.dict(),
            user_agent=request.headers.get("User-Agent", ""),
            ip=client_ip(request),
        )
        return json_response(result.status, result.body, result.headers)

    return view


ingest_events = door_view(native.DOOR)
posthog_capture = door_view(posthog.DOOR)
_segment_views = {kind: door_view(segment.door(None if kind == "batch" else kind)) for kind in ("batch", *segment.TYPES)}


@csrf_exempt
def segment_api(request, kind: str):
    return _segment_views[kind](request)


def _unknown_token(token: str | None, origin: str | None = None) -> HttpResponse | None:
    """A PostHog-style 401 for a missing or unknown project token, or 403 for an origin or
    key the project does not allow (``apps.ingest.gate``); None for a good one."""
    if not token:
        return json_response(*posthog.answer(401, {"error": "missing_api_key", "message": "Send the project API key as token."}))
    target = project_for_ingest_key(api_key=token)
    if target is None or projects_deleted([target.project_id]):  # a deleted project's key may still be cached
        return json_response(*posthog.answer(401, {"error": "invalid_api_key", "message": "The API key does not belong to any project."}))
    refused = origin_refusal(target=target, origin=origin)
    if refused is not None:
        return json_response(*posthog.answer(refused.status, refused.body))
    return None


@csrf_exempt
@require_http_methods(["GET", "POST"])
def posthog_flags(request):
    """``/flags/`` and ``/decide/``: PulseBoard has no feature flags, so none is enabled."""
    try:
        token = posthog.flags_token(
            body=body_read(request) if request.method == "POST" else b"",
            headers=_lower(request.headers),
            query=request.GET.dict(),
            limits=ingest_limits(),
        )
    except BodyError as exc:
        return json_response(*posthog.answer(exc.status, exc.as_json()))
    return _unknown_token(token, request.headers.get("Origin")) or json_response(200, posthog.flags_answer(token))


@require_GET
def posthog_config(request, token: str):
    return _unknown_token(token, request.headers.get("Origin")) or json_response(200, posthog.remote_config(token))


@require_GET
def posthog_config_js(request, token: str):
    return _unknown_token(token, request.headers.get("Origin")) or HttpResponse(posthog.remote_config_js(token), content_type="application/javascript")


@login_required
@require_GET
def sdk_demo(request: HttpRequest) -> HttpResponse:
    """``/demo/?project=<id>``: a page that loads the SDK with a project's ingest key, as a
    customer's site would, and fires events from buttons. Defaults to the first project."""
    projects = list(projects_for_user(user=request.user))
    if not projects:
        messages.info(request, "Create a project first: the demo sends events to one of yours.")
        return redirect("project-list")
    requested = request.GET.get("project")
    if requested is None:
        project = projects[0]
    elif requested.isdecimal():
        project = project_get_for_user(user=request.user, project_id=int(requested))
    else:
        raise Http404("No such project.")
    context = {
        "project": project,
        "projects": projects,
        "sdk": sdk_script(request=request),
        "live_url": project_url("analytics-live", project.id),
        "explorer_url": project_url("analytics-explorer", project.id),
        "settings_url": project_url("project-settings", project.id),
    }
    return render(request, "ingest/demo.html", context)


@login_required
@require_GET
def refused_events(request: HttpRequest, project_id: int) -> HttpResponse:
    """``/projects/<id>/settings/refused-events/``: the project's events that ClickHouse
    refused to store, kept in the dead-letter stream (the settings page loads it as a section)."""
    project = project_get_for_user(user=request.user, project_id=project_id)
    tz = ZoneInfo(project.timezone)
    letters = deadletters(project_id=project.id, limit=REFUSED_SHOWN)
    rows = [
        {
            "id": letter.id,
            "refused_at": datetime.fromtimestamp(letter.refused_at, tz).strftime("%Y-%m-%d %H:%M:%S"),
            "event": letter.row.get("event"),
            "timestamp": letter.row.get("timestamp"),
            "distinct_id": letter.row.get("distinct_id"),
            "code": letter.code,
            "error": (letter.error.splitlines() or [""])[0][:300],
        }
        for letter in letters
    ]
    context = {"project": project, "refused": rows, "shown": REFUSED_SHOWN, "timezone": project.timezone}
    return page(request, "ingest/refused_events.html", "ingest/partials/refused_events.html", context)


# The newest refused events listed on the settings page.
REFUSED_SHOWN = 100
