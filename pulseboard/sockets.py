"""WebSocket refusals that leave nothing running.

channels answers a refused socket with a consumer like any other (``WebsocketDenier``), and
every consumer opens a channel on the channel layer and waits on it at once (channels_redis:
a blocking ``BZPOPMIN``). When the socket closes right after its handshake, the cancellation
of that wait can be lost inside the Redis client, and the consumer then polls Redis every few
seconds for as long as the process lives. So sockets are refused here, before any consumer
that holds the channel layer exists: by :class:`SocketRefusal`, which holds none.
"""

from __future__ import annotations

from urllib.parse import urlparse

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.security.websocket import AllowedHostsOriginValidator


class SocketRefusal(AsyncWebsocketConsumer):
    """Refuses a socket: without a code, at the handshake (HTTP 403); with one, accepted and
    closed at once with that code and reason (a browser reads the code of a close, never the
    status of a refused handshake). It ends with the socket's disconnect."""

    channel_layer_alias = None  # no channel layer: nothing to wait on, nothing left behind

    def __init__(self, code: int | None = None, reason: str = ""):
        super().__init__()
        self.code = code
        self.reason = reason

    async def connect(self) -> None:
        if self.code is None:
            await self.close()
            return
        await self.accept()
        await self.close(code=self.code, reason=self.reason)


def origin_checked(application):
    """``application`` for sockets whose ``Origin`` is one of ``ALLOWED_HOSTS`` (channels'
    ``AllowedHostsOriginValidator``); the others are refused at the handshake."""
    validator = AllowedHostsOriginValidator(application)

    async def app(scope, receive, send):
        origin = None
        for name, value in scope.get("headers", []):
            if name == b"origin":
                try:
                    origin = urlparse(value.decode("latin1"))
                except UnicodeDecodeError:
                    origin = None
        if validator.valid_origin(origin):
            return await application(scope, receive, send)
        return await SocketRefusal()(scope, receive, send)

    return app
