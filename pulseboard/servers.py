"""How the HTTP servers are set up: uvicorn for ``make run`` and the WebSocket tier, and
the part of gunicorn's setup that concerns forwarded headers (``pulseboard/gunicorn_conf.py``).

Forwarded headers (``X-Forwarded-For``, ``X-Forwarded-Proto``) are trusted only when
``INGEST_TRUST_X_FORWARDED_FOR`` says so, that is when every request comes through a proxy
that sets them:

* uvicorn rewrites the client address and scheme from them only then (its own default is to
  trust any client on the loopback, whatever the settings say), and only from a proxy on the
  loopback, taking the address the proxy added (the last one);
* gunicorn never takes them: Django reads them itself (``pulseboard.http.client_ip``,
  ``TRUST_X_FORWARDED_PROTO`` for the scheme).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from django.conf import settings

# The peers uvicorn takes forwarded headers from, when they are trusted at all.
LOOPBACK_PROXIES = "127.0.0.1,::1"
# gunicorn takes them from no peer.
GUNICORN_FORWARDED_ALLOW_IPS = ""


def uvicorn_config(app: Any = "pulseboard.asgi:embedded_application", *, host: str = "127.0.0.1", port: int = 8000, **options: Any):
    """The uvicorn configuration of ``manage.py serve`` (and of ``serve_asgi``, and of the
    tests' embedded server): no lifespan, and forwarded headers only when trusted."""
    import uvicorn

    config: dict[str, Any] = {
        "host": host,
        "port": port,
        "lifespan": "off",
        "log_level": "warning",
        "access_log": False,
        "proxy_headers": settings.INGEST_TRUST_X_FORWARDED_FOR,
        "forwarded_allow_ips": LOOPBACK_PROXIES,
    }
    config.update(options)
    return uvicorn.Config(app, **config)


class BufferedBodies:
    """ASGI middleware of the embedded server: an HTTP request's whole body is read in the
    event loop before the request goes on to the WSGI thread pool (a2wsgi).

    Without it a worker thread waits on the client for as long as its upload lasts, and a
    handful of clients that send their headers and then dribble their bodies hold every
    thread. Here a slow client costs one waiting coroutine. A body larger than
    ``INGEST_MAX_BODY_BYTES`` (declared or as it arrives) is a 413, one that is not whole
    within ``INGEST_BODY_TIMEOUT_SECONDS`` a 408; both close the connection. The app sees the
    body with its ``Content-Length`` (a chunked body too). WebSockets pass untouched.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = settings.INGEST_MAX_BODY_BYTES
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
        if declared is not None and declared > limit:
            return await _refuse(send, 413, "body_too_large", f"The body is larger than {limit} bytes.")

        chunks, size = [], 0
        timeout = settings.INGEST_BODY_TIMEOUT_SECONDS
        try:
            async with asyncio.timeout(timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return None
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        return await _refuse(send, 413, "body_too_large", f"The body is larger than {limit} bytes.")
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            return await _refuse(send, 408, "body_timeout", f"The body did not arrive whole within {timeout:g} s.")

        body = b"".join(chunks)
        if declared is None:  # chunked: the app gets it with a length, as any other body
            headers = [(n, v) for n, v in scope["headers"] if n != b"transfer-encoding"]
            scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        delivered = False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the client's disconnect, if it goes

        return await self.app(scope, replay, send)


async def _refuse(send, status: int, code: str, message: str) -> None:
    body = orjson.dumps({"error": code, "message": message})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
