"""The live feed as Server-Sent Events, ``GET /api/v1/projects/<id>/live/sse``: the twin of
the WebSocket (:mod:`apps.analytics.consumers`) for scripts and ``curl -N``.

Authenticated as every read API is (a personal API key as ``Authorization: Bearer``, or the
session of a login; see ``REST_FRAMEWORK``), by any member of the project, viewers
included. The checks run before anything is streamed and answer in the APIs' JSON error
shape: ``401`` without valid credentials, ``404`` for a project the caller is not a member
of (or that does not exist: the two look the same).

The stream joins the project's Channels group (:func:`apps.analytics.live.live_group`) on a
channel of its own and writes each message the flush broadcasts, the very JSON a socket
gets, as one event::

    retry: 3000

    event: ready
    data: {"type":"ready","project_id":1,"max_events":100}

    event: events
    data: {"type":"events","total":1,"events":[{"event_id":"…","event":"signed_up",…}]}

    : ping

A comment line (``: ping``) every :data:`SSE_HEARTBEAT_SECONDS` keeps proxies from closing
a quiet stream. Every :data:`SSE_RECHECK_SECONDS` the credentials and the membership are
checked again (a revoked key, a logout, a removed member) and the group membership renewed
(channels_redis forgets it after a day); a stream whose access has ended gets an ``error``
event with the error body and is closed. So is one whose channel layer fails (Redis away):
the client reconnects. When the client goes away the server cancels the stream, which
leaves the group.

The stream is long-lived, so it is served on the ASGI path in both deployments:
``pulseboard/asgi.py`` routes :data:`LIVE_SSE_PATH` past the embedded server's WSGI pool,
and the server deployment's nginx sends it to the ``asgi`` service unbuffered. A
synchronous (WSGI) server would hold a worker for as long as a client listens, so there
the view answers ``421`` once the caller and the project check out.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from importlib import import_module
from types import SimpleNamespace

import orjson
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib import auth
from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from apps.analytics.live import LIVE_MAX_EVENTS, live_group
from apps.projects.authentication import PersonalAPIKeyAuthentication
from apps.projects.selectors import personal_api_key_get, project_get_for_user
from pulseboard.api import error_body
from pulseboard.errors import NotFound

logger = logging.getLogger(__name__)

# The route, as pulseboard/asgi.py and pulseboard/deploy/nginx.conf match it (kept in step
# with apps/analytics/urls.py by the tests).
LIVE_SSE_PATH = re.compile(r"^/api/v1/projects/[0-9]+/live/sse$")
# A comment line this often, so that proxies (nginx's 60 s read timeout) keep a quiet stream open.
SSE_HEARTBEAT_SECONDS = 15.0
# Credentials and membership checked again (and the group joined again) this often.
SSE_RECHECK_SECONDS = 300.0
# What a client (EventSource) waits before it reconnects, in milliseconds.
SSE_RETRY_MS = 3000
# The longest wait for the channel layer when the stream leaves its group.
SSE_LEAVE_TIMEOUT_SECONDS = 2.0

NOT_AUTHENTICATED = error_body("not_authenticated", "The credentials ended: log in again, or use a valid personal API key.")
NOT_FOUND = error_body("not_found", "No such project.")
UNAVAILABLE = error_body("unavailable", "The live feed is unavailable for a moment; reconnect.")


@dataclass(frozen=True)
class Reader:
    """Who opened a stream, as they can be checked again later: the secret of a personal
    key, or the key of a login's session."""

    secret: str | None = None
    session_key: str | None = None


def _api_error(exc: exceptions.APIException) -> JsonResponse:
    """An authentication error as every API answers it (``pulseboard.api.exception_handler``;
    DRF answers 401 with ``WWW-Authenticate: Bearer`` since the personal key comes first)."""
    response = JsonResponse(error_body(getattr(exc.detail, "code", None) or exc.default_code, str(exc.detail)), status=401)
    response["WWW-Authenticate"] = PersonalAPIKeyAuthentication.keyword
    return response


def _reader_check(request: HttpRequest, project_id: int) -> Reader | JsonResponse:
    """The caller and their project, checked with the API's own authenticators: who they
    are, or the JSON answer that refuses them."""
    drf_request = Request(request, authenticators=[auth() for auth in api_settings.DEFAULT_AUTHENTICATION_CLASSES])
    try:
        user = drf_request.user
    except exceptions.APIException as exc:
        return _api_error(exc)
    if not user.is_authenticated:
        return _api_error(exceptions.NotAuthenticated())
    try:
        project_get_for_user(user=user, project_id=project_id)
    except NotFound as exc:
        return JsonResponse(error_body("not_found", str(exc)), status=404)
    if isinstance(drf_request.successful_authenticator, PersonalAPIKeyAuthentication):
        return Reader(secret=request.headers["Authorization"].partition(" ")[2].strip())
    return Reader(session_key=request.session.session_key)


def _still_allowed(reader: Reader, project_id: int) -> dict | None:
    """The error body when the reader may no longer watch the project, None when they may.
    The thread's database connections are closed after: a stream sits idle for minutes."""
    try:
        if reader.secret is not None:
            key = personal_api_key_get(secret=reader.secret)
            user = key.user if key is not None else None
        else:
            store = import_module(settings.SESSION_ENGINE).SessionStore(reader.session_key)
            user = auth.get_user(SimpleNamespace(session=store))
        if user is None or not user.is_authenticated:
            return NOT_AUTHENTICATED
        try:
            project_get_for_user(user=user, project_id=project_id)
        except NotFound:
            return NOT_FOUND
        return None
    finally:
        connections.close_all()


def _frame(event: str, data: str) -> bytes:
    return f"event: {event}\ndata: {data}\n\n".encode()


async def live_stream(*, reader: Reader, project_id: int):
    """The stream's bytes: the project's live messages as they are broadcast, until the
    client goes away (the server cancels it), the access ends or the channel layer fails.
    It leaves the group whichever way it ends."""
    # The checks before it ran in this request's thread; the stream holds no connection.
    await sync_to_async(connections.close_all)()
    yield f"retry: {SSE_RETRY_MS}\n\n".encode()
    layer = get_channel_layer()
    group = live_group(project_id=project_id)
    channel = None
    receiving: asyncio.Task | None = None
    try:
        try:
            channel = await layer.new_channel()
            await layer.group_add(group, channel)
        except Exception:
            logger.warning("live stream: could not join the group of project %s", project_id, exc_info=True)
            yield _frame("error", orjson.dumps(UNAVAILABLE).decode())
            return
        yield _frame("ready", orjson.dumps({"type": "ready", "project_id": project_id, "max_events": LIVE_MAX_EVENTS}).decode())
        loop = asyncio.get_running_loop()
        recheck_at = loop.time() + SSE_RECHECK_SECONDS
        written_at = loop.time()
        while True:
            if loop.time() >= recheck_at:  # due, however busy the stream is
                try:
                    refusal = await sync_to_async(_still_allowed)(reader, project_id)
                except Exception:  # the database away for a moment: keep the stream, check again later
                    logger.warning("live stream: could not recheck a stream of project %s", project_id, exc_info=True)
                    refusal = None
                if refusal is not None:
                    yield _frame("error", orjson.dumps(refusal).decode())
                    return
                try:
                    await layer.group_add(group, channel)
                except Exception:
                    logger.warning("live stream: could not renew the group of project %s", project_id, exc_info=True)
                recheck_at = loop.time() + SSE_RECHECK_SECONDS
            if loop.time() - written_at >= SSE_HEARTBEAT_SECONDS:
                yield b": ping\n\n"
                written_at = loop.time()
            if receiving is None:
                receiving = asyncio.ensure_future(layer.receive(channel))
            wait = min(written_at + SSE_HEARTBEAT_SECONDS, recheck_at) - loop.time()
            done, _ = await asyncio.wait({receiving}, timeout=max(0.0, wait))
            if not done:
                continue
            task, receiving = receiving, None
            try:
                message = task.result()
            except Exception:
                logger.warning("live stream: the channel layer failed for project %s", project_id, exc_info=True)
                yield _frame("error", orjson.dumps(UNAVAILABLE).decode())
                return
            if message.get("type") == "live.events":
                yield _frame("events", message["text"])
                written_at = loop.time()
    finally:
        if receiving is not None:
            receiving.cancel()
        if channel is not None:
            try:
                await asyncio.wait_for(layer.group_discard(group, channel), timeout=SSE_LEAVE_TIMEOUT_SECONDS)
            except Exception:  # Redis away: the member expires with the group (channels_redis' group_expiry)
                logger.warning("live stream: could not leave the group of project %s", project_id, exc_info=True)


@csrf_exempt  # as the APIs: nothing here writes, and any other method is a 405
async def live_sse(request: HttpRequest, project_id: int) -> HttpResponse:
    """``GET /api/v1/projects/<id>/live/sse``: the checks, then the stream."""
    if request.method != "GET":
        return JsonResponse(error_body("method_not_allowed", f'Method "{request.method}" not allowed.'), status=405, headers={"Allow": "GET"})
    checked = await sync_to_async(_reader_check)(request, project_id)
    if isinstance(checked, HttpResponse):
        return checked
    if not isinstance(request, ASGIRequest):
        return JsonResponse(
            error_body("stream_unavailable", "This server cannot hold a stream open: the live stream is served over ASGI (manage.py serve, or the asgi service)."),
            status=421,
        )
    response = StreamingHttpResponse(live_stream(reader=checked, project_id=project_id), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on as it is written
    return response


# --- OpenAPI ------------------------------------------------------------------------------------

ERROR = inline_serializer(
    "LiveStreamError",
    {"error": serializers.CharField(), "message": serializers.CharField(), "field": serializers.CharField(allow_null=True)},
)


class LiveStreamDoc(APIView):
    """Carries the documentation of :func:`live_sse` (a plain async view, which
    drf-spectacular does not see in the URLconf); never routed."""

    @extend_schema(
        operation_id="live_sse",
        tags=["live"],
        summary="Stream the live feed (Server-Sent Events)",
        description=(
            "The project's events as they are stored, as Server-Sent Events: `event: ready` once joined, then an "
            "`event: events` per stored batch with the WebSocket's JSON (`total`, and the newest `events`, at most 100, "
            "newest first), and a `: ping` comment every 15 s. An `event: error` (data: an error body) ends the stream "
            "when the credentials or the membership end, or when the feed is unavailable. Events stored while no "
            "stream is open are not replayed: read them from /events. Example: "
            '`curl -N -H "Authorization: Bearer $KEY" https://pulseboard.example.com/api/v1/projects/1/live/sse`'
        ),
        parameters=[OpenApiParameter("project_id", OpenApiTypes.INT, OpenApiParameter.PATH)],
        responses={
            (200, "text/event-stream"): OpenApiResponse(OpenApiTypes.STR, description="An endless stream of events."),
            401: OpenApiResponse(ERROR, description="No credentials, or an unknown personal key."),
            404: OpenApiResponse(ERROR, description="No such project, or not a member."),
            421: OpenApiResponse(ERROR, description="A server that cannot hold streams (WSGI) answered; use the ASGI server."),
        },
    )
    def get(self, request, project_id: int):  # pragma: no cover - never routed
        raise NotImplementedError


LIVE_SSE_DOC_PATH = "/api/v1/projects/{project_id}/live/sse"


def live_sse_endpoints(endpoints: list) -> list:
    """drf-spectacular PREPROCESSING_HOOKS: the stream's route, documented by :class:`LiveStreamDoc`."""
    return [*endpoints, (LIVE_SSE_DOC_PATH, r"^api/v1/projects/(?P<project_id>[0-9]+)/live/sse$", "GET", LiveStreamDoc.as_view())]
