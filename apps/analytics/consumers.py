"""The live feed's WebSocket, ``/ws/projects/<id>/live/``.

The consumer authenticates by session (``AuthMiddlewareStack`` in ``pulseboard/asgi.py``),
checks that the user is a member of the project, joins the project's group and forwards
what :func:`apps.analytics.live.live_broadcast` sends to it. A refused socket is accepted
and closed at once with a code the page can read (a refused handshake only shows 1006):

=====  ====================================================================================
4401   not logged in (or the session ended)
4404   no such project, or not a member: both look the same, so nobody learns what exists
=====  ====================================================================================

A socket from an origin outside ``ALLOWED_HOSTS`` is refused at the handshake (HTTP 403).
"""

from __future__ import annotations

import orjson
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.http import Http404

from apps.analytics.live import LIVE_MAX_EVENTS, live_group
from apps.projects.selectors import project_get_for_user

CLOSE_NOT_AUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404


@database_sync_to_async
def _is_member(user, project_id: int) -> bool:
    try:
        project_get_for_user(user=user, project_id=project_id)
    except Http404:
        return False
    return True


class LiveEventsConsumer(AsyncWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse(CLOSE_NOT_AUTHENTICATED, "Log in to watch the live feed.")
            return
        project_id = self.scope["url_route"]["kwargs"]["project_id"]
        if not await _is_member(user, project_id):
            await self._refuse(CLOSE_NOT_FOUND, "No such project.")
            return
        self.group = live_group(project_id=project_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send(text_data=orjson.dumps({"type": "ready", "project_id": project_id, "max_events": LIVE_MAX_EVENTS}).decode())

    async def _refuse(self, code: int, reason: str) -> None:
        await self.accept()
        await self.close(code=code, reason=reason)

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def live_events(self, message: dict) -> None:
        """A batch from the flush, already serialised once for every socket of the group."""
        await self.send(text_data=message["text"])
