"""The ingest front door, and the page that demonstrates the browser SDK.

The front door is a plain Django view: it is the hottest path, so it skips DRF, sessions
and CSRF, and hands the body straight to the ingest service."""

import orjson
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from apps.ingest.sdk import sdk_script
from apps.ingest.services import events_ingest
from apps.projects.navigation import project_url
from apps.projects.selectors import project_get_for_user, projects_for_user


def json_response(status: int, body: dict, headers: dict | None = None) -> HttpResponse:
    response = HttpResponse(orjson.dumps(body), status=status, content_type="application/json")
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def client_ip(request) -> str:
    if settings.INGEST_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.META.get("REMOTE_ADDR", "")


@csrf_exempt
@require_POST
def ingest_events(request):
    limit = settings.INGEST_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        return json_response(413, {"error": "body_too_large", "message": f"The body is larger than {limit} bytes."})
    body = request.read(limit + 1)
    result = events_ingest(
        body=body,
        header_api_key=request.headers.get("X-API-Key"),
        header_idempotency_key=request.headers.get("Idempotency-Key"),
        user_agent=request.headers.get("User-Agent", ""),
        ip=client_ip(request),
    )
    return json_response(result.status, result.body, result.headers)


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
