"""The ingest front door. A plain Django view: it is the hottest path, so it skips DRF,
sessions and CSRF, and hands the body straight to the ingest service."""

import orjson
from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.ingest.services import events_ingest


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
