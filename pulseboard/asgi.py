"""ASGI entry points.

``application``: HTTP and WebSockets through Django's ASGI handler (the WebSocket tier of
the server deployment).

``embedded_application``: what ``make run`` serves. WebSockets as above; plain HTTP goes
through Django's WSGI handler on a thread pool (a2wsgi), which costs far less per request
than Django's ASGI path, whose middleware hops between threads several times a request.
Request bodies are read whole before a thread takes the request.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pulseboard.settings")
django_asgi_app = get_asgi_application()

from a2wsgi import WSGIMiddleware  # noqa: E402  (needs Django set up first)
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402

from pulseboard.routing import websocket_urlpatterns  # noqa: E402
from pulseboard.servers import BufferedBodies  # noqa: E402

websockets = AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))

application = ProtocolTypeRouter({"http": django_asgi_app, "websocket": websockets})

# HTTP bodies are read whole in the event loop first (BufferedBodies), so that a slow
# client never holds one of the WSGI threads.
embedded_application = ProtocolTypeRouter(
    {"http": BufferedBodies(WSGIMiddleware(get_wsgi_application(), workers=8)), "websocket": websockets}
)
