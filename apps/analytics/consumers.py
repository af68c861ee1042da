"""The live feed's WebSocket, ``/ws/projects/<id>/live/``.

The socket authenticates by session (``AuthMiddlewareStack`` in ``pulseboard/asgi.py``);
:func:`live_socket` checks that the user is a member of the project, and the consumer then
joins the project's group and forwards what :func:`apps.analytics.live.live_broadcast`
sends to it. A refused socket is accepted and closed at once with a code the page can read
(a refused handshake only shows 1006), by a consumer that holds no channel layer
(``pulseboard/sockets.py`` says why):

=====  ====================================================================================
4401   not logged in (or the session ended)
4404   no such project, or not a member: both look the same, so nobody learns what exists
=====  ====================================================================================

An open socket checks the session and the membership again every
:data:`LIVE_RECHECK_SECONDS` and is closed with the same codes when they are gone (a
logout, a removed member). Each check also renews the socket's place in the group, which
channels_redis forgets after a day.

A socket from an origin outside ``ALLOWED_HOSTS`` is refused at the handshake (HTTP 403).
"""

from __future__ import annotations

import asyncio
import logging
from importlib import import_module

import orjson
from channels.auth import get_user
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from apps.analytics.live import LIVE_MAX_EVENTS, live_group
from apps.projects.selectors import project_get_for_user
from pulseboard.errors import NotFound
from pulseboard.sockets import SocketRefusal

logger = logging.getLogger(__name__)

CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
LIVE_RECHECK_SECONDS = 300.0
REASONS = {CLOSE_NOT_AUTHENTICATED: "Log in to watch the live feed.", CLOSE_NOT_FOUND: "No such project."}


@database_sync_to_async
def _is_member(user, project_id: int) -> bool:
    try:
        project_get_for_user(user=user, project_id=project_id)
    except NotFound:
        return False
    return True


async def _refusal(user, project_id: int) -> int | None:
    """The close code for a user who may not watch the project, None for one who may."""
    if user is None or not user.is_authenticated:
        return CLOSE_NOT_AUTHENTICATED
    if not await _is_member(user, project_id):
        return CLOSE_NOT_FOUND
    return None


class LiveEventsConsumer(AsyncWebsocketConsumer):
    """The socket of a member (:func:`live_socket` refuses the others before it)."""

    group: str | None = None
    recheck: asyncio.Task | None = None

    async def connect(self) -> None:
        self.project_id = self.scope["url_route"]["kwargs"]["project_id"]
        self.group = live_group(project_id=self.project_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send(text_data=orjson.dumps({"type": "ready", "project_id": self.project_id, "max_events": LIVE_MAX_EVENTS}).decode())
        self.recheck = asyncio.create_task(self._recheck())

    async def _recheck(self) -> None:
        session_store = import_module(settings.SESSION_ENGINE).SessionStore
        session_key = self.scope["session"].session_key
        while True:
            await asyncio.sleep(LIVE_RECHECK_SECONDS)
            try:
                # A fresh read of the session: the one in the scope was loaded at connect.
                code = await _refusal(await get_user({"session": session_store(session_key)}), self.project_id)
                if code is not None:
                    await self.close(code=code, reason=REASONS[code])
                    return
                await self.channel_layer.group_add(self.group, self.channel_name)
            except Exception:  # Postgres or Redis away for a moment: keep the socket, try again later
                logger.warning("live feed: could not recheck a socket of project %s", self.project_id, exc_info=True)

    async def disconnect(self, code: int) -> None:
        if self.recheck is not None:
            self.recheck.cancel()
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def live_events(self, message: dict) -> None:
        """A batch from the flush, already serialised once for every socket of the group."""
        await self.send(text_data=message["text"])


def live_socket():
    """The live feed's ASGI application: a :class:`SocketRefusal` with its close code for a
    user who may not watch the project, else a :class:`LiveEventsConsumer`."""
    consumer = LiveEventsConsumer.as_asgi()

    async def app(scope, receive, send):
        code = await _refusal(scope.get("user"), scope["url_route"]["kwargs"]["project_id"])
        if code is not None:
            return await SocketRefusal(code, REASONS[code])(scope, receive, send)
        return await consumer(scope, receive, send)

    return app
