"""The ingest routes in the OpenAPI schema (``/api/schema/``, shown at ``/api/docs/``).

The doors are plain Django views (the hottest path skips DRF), so drf-spectacular does not
find them in the URLconf. :func:`ingest_endpoints`, a preprocessing hook, adds one
documentation-only view per route, with the request and response bodies below; they are
never routed. :func:`ingest_security_schemes`, a postprocessing hook, declares the keys
they take. The paths are those of ``apps/ingest/urls.py`` (tested against it).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.views import APIView

INGEST_KEY = "ingestKey"
SEGMENT_WRITE_KEY = "segmentWriteKey"
SECURITY_SCHEMES = {
    INGEST_KEY: {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "The project's ingest key (Settings → Ingest key). Write-only: it cannot read anything.",
    },
    SEGMENT_WRITE_KEY: {
        "type": "http",
        "scheme": "basic",
        "description": "Segment's way: the project's ingest key as the user name, no password (or `writeKey` in the body).",
    },
}

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="1 to 200 characters. A replay within 48 h answers 200 with the first answer and stores nothing.",
)


# --- Native: POST /api/v1/events -------------------------------------------------------------


class IngestEventSerializer(serializers.Serializer):
    event = serializers.CharField(max_length=200, help_text="The event's name.")
    distinct_id = serializers.CharField(max_length=200, required=False, help_text="At least one of distinct_id, user_id, anonymous_id.")
    user_id = serializers.CharField(max_length=200, required=False)
    anonymous_id = serializers.CharField(max_length=200, required=False)
    timestamp = serializers.DateTimeField(required=False, help_text="With a UTC offset; at most 24 h ahead and 730 days back. Default: when it arrives.")
    event_id = serializers.UUIDField(required=False, help_text="The same id is stored once. Generated when absent.")
    session_id = serializers.CharField(max_length=200, required=False)
    source = serializers.CharField(max_length=100, required=False)
    page_url = serializers.CharField(max_length=2048, required=False)
    referrer = serializers.CharField(max_length=2048, required=False)
    properties = serializers.DictField(required=False, help_text="At most 32 KB as JSON, 32 levels deep.")
    api_key = serializers.CharField(required=False, help_text="The ingest key, when X-API-Key cannot be sent (navigator.sendBeacon).")


class IngestBatchSerializer(serializers.Serializer):
    events = IngestEventSerializer(many=True, help_text="Up to 1,000 events, 1 MB in all.")
    api_key = serializers.CharField(required=False, help_text="The ingest key, when X-API-Key cannot be sent.")
    idempotency_key = serializers.CharField(required=False, help_text="As the Idempotency-Key header (which wins).")


class IngestEventErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The event's position in the request, from 0.")
    field = serializers.CharField()
    message = serializers.CharField()


class IngestAcceptedSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    event_ids = serializers.ListField(child=serializers.CharField(), help_text="Of the accepted events, in order.")
    errors = IngestEventErrorSerializer(many=True, help_text="Each refused event: its index, field and why.")


class IngestDuplicateSerializer(IngestAcceptedSerializer):
    status = serializers.ChoiceField(choices=["duplicate"])


class IngestErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="A code, e.g. invalid_api_key, body_too_large, in_progress.")
    message = serializers.CharField()


NATIVE_BODY = PolymorphicProxySerializer(
    component_name="IngestBody",
    serializers=[IngestEventSerializer, IngestBatchSerializer],
    resource_type_field_name=None,
)
NATIVE_RESPONSES = {
    202: OpenApiResponse(IngestAcceptedSerializer, description="Some events accepted (stored exactly once); the others in errors."),
    200: OpenApiResponse(IngestDuplicateSerializer, description="A replayed Idempotency-Key: the first answer, nothing stored."),
    400: OpenApiResponse(
        PolymorphicProxySerializer(
            component_name="IngestRefused", serializers=[IngestAcceptedSerializer, IngestErrorSerializer], resource_type_field_name=None
        ),
        description="No event valid (errors says why), or a body that is not a JSON object.",
    ),
    401: OpenApiResponse(IngestErrorSerializer, description="Missing or unknown key."),
    403: OpenApiResponse(
        IngestErrorSerializer,
        description="origin_not_allowed: a browser's Origin is not on the project's allowed origins; server_key_required: "
        "a request without an Origin needs a server key. Nothing accepted.",
    ),
    409: OpenApiResponse(IngestErrorSerializer, description="The same Idempotency-Key is being processed; retry."),
    413: OpenApiResponse(
        IngestErrorSerializer,
        description="Body over 1 MB, or more than 1,000 events; or more events than the key's burst (burst_exceeded) or daily quota (quota_exceeded), which could never pass.",
    ),
    429: OpenApiResponse(
        IngestErrorSerializer,
        description="The key is over its rate limit (rate_limited) or daily quota (quota_exhausted); nothing accepted. Retry after Retry-After seconds.",
    ),
    503: OpenApiResponse(IngestErrorSerializer, description="The event stream is unreachable; nothing accepted; retry."),
}


# --- PostHog capture ---------------------------------------------------------------------------


class PostHogEventSerializer(serializers.Serializer):
    event = serializers.CharField()
    distinct_id = serializers.CharField(required=False, help_text="Or properties.distinct_id.")
    uuid = serializers.UUIDField(required=False)
    timestamp = serializers.CharField(required=False, help_text="ISO 8601; corrected by sent_at for the client's clock.")
    offset = serializers.IntegerField(required=False, help_text="Milliseconds before it was sent, when there is no timestamp.")
    properties = serializers.DictField(required=False, help_text="$current_url, $referrer, $session_id... $set and $set_once.")
    api_key = serializers.CharField(required=False, help_text="Or token / $token: the project's ingest key.")


class PostHogBatchSerializer(serializers.Serializer):
    api_key = serializers.CharField(required=False, help_text="Or token: the project's ingest key.")
    batch = PostHogEventSerializer(many=True)
    sent_at = serializers.CharField(required=False)


class PostHogAnswerSerializer(serializers.Serializer):
    status = serializers.IntegerField(help_text="1")
    accepted = serializers.IntegerField(required=False, help_text="Only when some events were refused.")
    errors = IngestEventErrorSerializer(many=True, required=False)


class PostHogErrorSerializer(serializers.Serializer):
    type = serializers.CharField()
    code = serializers.CharField()
    detail = serializers.CharField()
    errors = IngestEventErrorSerializer(many=True, required=False)


POSTHOG_BODY = PolymorphicProxySerializer(
    component_name="PostHogCaptureBody", serializers=[PostHogEventSerializer, PostHogBatchSerializer], resource_type_field_name=None
)
POSTHOG_RESPONSES = {
    200: OpenApiResponse(PostHogAnswerSerializer, description="Accepted (some events may be in errors)."),
    **{status: OpenApiResponse(PostHogErrorSerializer, description=NATIVE_RESPONSES[status].description) for status in (400, 401, 403, 409, 413, 429, 503)},
}


# --- Segment -----------------------------------------------------------------------------------


class SegmentMessageSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=["track", "identify", "page", "screen", "alias"], required=False, help_text="In /v1/batch.")
    userId = serializers.CharField(required=False)
    anonymousId = serializers.CharField(required=False)
    event = serializers.CharField(required=False, help_text="For track.")
    name = serializers.CharField(required=False, help_text="For page and screen.")
    messageId = serializers.CharField(required=False, help_text="The same id is stored once.")
    timestamp = serializers.CharField(required=False)
    properties = serializers.DictField(required=False)
    traits = serializers.DictField(required=False)
    context = serializers.DictField(required=False)
    writeKey = serializers.CharField(required=False, help_text="The ingest key, instead of HTTP Basic.")


class SegmentBatchSerializer(serializers.Serializer):
    batch = SegmentMessageSerializer(many=True)
    sentAt = serializers.CharField(required=False)
    writeKey = serializers.CharField(required=False)


class SegmentAnswerSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    accepted = serializers.IntegerField(required=False, help_text="Only when some messages were refused.")
    errors = IngestEventErrorSerializer(many=True, required=False)


class SegmentErrorSerializer(serializers.Serializer):
    success = serializers.BooleanField(help_text="false")
    code = serializers.CharField()
    message = serializers.CharField()
    errors = IngestEventErrorSerializer(many=True, required=False)


SEGMENT_RESPONSES = {
    200: OpenApiResponse(SegmentAnswerSerializer, description="Accepted (some messages may be in errors)."),
    **{status: OpenApiResponse(SegmentErrorSerializer, description=NATIVE_RESPONSES[status].description) for status in (400, 401, 403, 409, 413, 429, 503)},
}


# --- The routes --------------------------------------------------------------------------------


def _doc_view(**schema):
    """A view that only carries the documentation of one ingest route (never routed)."""

    class IngestRoute(APIView):
        authentication_classes = []
        permission_classes = []
        parser_classes = [JSONParser]  # the body is read as JSON whatever its Content-Type

        @extend_schema(**schema)
        def post(self, request):  # pragma: no cover - never routed
            raise NotImplementedError

    return IngestRoute.as_view()


POSTHOG_CAPTURE_PATHS = ("/e/", "/batch/", "/capture/", "/i/v0/e/", "/track/")
SEGMENT_KINDS = ("batch", "track", "identify", "page", "screen", "alias")


def _routes() -> list[tuple[str, object]]:
    routes = [
        (
            "/api/v1/events",
            _doc_view(
                operation_id="ingest_events",
                tags=["ingest"],
                summary="Send events",
                description="One event, or `{\"events\": [...]}`. The body is read as JSON whatever its Content-Type.",
                request=NATIVE_BODY,
                responses=NATIVE_RESPONSES,
                parameters=[IDEMPOTENCY_KEY],
                auth=[{INGEST_KEY: []}],
            ),
        )
    ]
    for path in POSTHOG_CAPTURE_PATHS:
        routes.append(
            (
                path,
                _doc_view(
                    operation_id="posthog_capture_" + path.strip("/").replace("/", "_"),
                    tags=["ingest: PostHog"],
                    summary=f"PostHog capture ({path}, also without the trailing slash)",
                    description="What PostHog's clients send (posthog-js posts to /e/, posthog-python to /batch/): "
                    "one event or a batch, as JSON, gzip, or base64/lz64 form data. The key is the body's api_key or token.",
                    request=POSTHOG_BODY,
                    responses=POSTHOG_RESPONSES,
                    parameters=[IDEMPOTENCY_KEY],
                    auth=[],
                ),
            )
        )
    for kind in SEGMENT_KINDS:
        routes.append(
            (
                f"/v1/{kind}",
                _doc_view(
                    operation_id=f"segment_{kind}",
                    tags=["ingest: Segment"],
                    summary=f"Segment {kind}",
                    description="Segment's HTTP tracking API: a batch of messages" if kind == "batch" else f"Segment's HTTP tracking API: one {kind} message.",
                    request=SegmentBatchSerializer if kind == "batch" else SegmentMessageSerializer,
                    responses=SEGMENT_RESPONSES,
                    parameters=[IDEMPOTENCY_KEY],
                    auth=[{SEGMENT_WRITE_KEY: []}],
                ),
            )
        )
    return routes


def ingest_endpoints(endpoints: list) -> list:
    """drf-spectacular PREPROCESSING_HOOKS: the ingest routes, after the DRF ones."""
    return [*endpoints, *((path, f"^{path.lstrip('/')}$", "POST", view) for path, view in _routes())]


def ingest_security_schemes(result: dict, generator, request, public) -> dict:
    """drf-spectacular POSTPROCESSING_HOOKS: the keys the ingest routes take."""
    result.setdefault("components", {}).setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    return result
