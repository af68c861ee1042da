"""ASGI entry points.

``application``: HTTP and WebSockets through Django's ASGI handler (the WebSocket tier of
the server deployment).

``embedded_application``: what ``make run`` serves. WebSockets as above; plain HTTP goes
through Django's WSGI handler on a thread pool (a2wsgi), which costs far less per request
than Django's ASGI path, whose middleware hops between threads several times a request.
Request bodies are read whole before a thread takes the request. The live feed's SSE
stream (``apps.analytics.sse.LIVE_SSE_PATH``) is the exception: it goes through Django's
ASGI handler, since a stream would hold a WSGI thread for as long as it is open.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pulseboard.settings")
django_asgi_app = get_asgi_application()

from a2wsgi import WSGIMiddleware  # noqa: E402  (needs Django set up first)
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

from apps.analytics.sse import LIVE_SSE_PATH  # noqa: E402
from pulseboard.routing import websocket_urlpatterns  # noqa: E402
from pulseboard.servers import BufferedBodies  # noqa: E402
from pulseboard.sockets import origin_checked  # noqa: E402

websockets = origin_checked(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))

application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websockets})


def streams_to_asgi(streams, rest):
    """HTTP to ``streams`` for the long-lived streams' paths, to ``rest`` for any other."""

    async def app(scope, receive, send):
        if LIVE_SSE_PATH.match(scope["path"]):
            return await streams(scope, receive, send)
        return await rest(scope, receive, send)

    return app


# HTTP bodies are read whole in the event loop first (BufferedBodies), so that a slow
# client never holds one of the WSGI threads.
embedded_application = ProtocolTypeRouter(
    {
        "http": BufferedBodies(streams_to_asgi(django_asgi_app, WSGIMiddleware(get_wsgi_application(), workers=8))),
        "websocket": websockets,
    }
)
