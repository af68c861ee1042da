"""How the HTTP servers are set up: uvicorn for ``make run`` and the WebSocket tier, and
the part of gunicorn's setup that concerns forwarded headers (``pulseboard/gunicorn_conf.py``).

Forwarded headers (``X-Forwarded-For``, ``X-Forwarded-Proto``) are trusted only when
``INGEST_TRUST_X_FORWARDED_FOR`` says so, that is when every request comes through a proxy
that sets them:

* uvicorn rewrites the client address and scheme from them only then (its own default is to
  trust any client on the loopback, whatever the settings say), and only from a proxy on the
  loopback, taking the address the proxy added (the last one);
* gunicorn never takes them: Django reads them itself (``client_ip`` in the ingest views,
  ``TRUST_X_FORWARDED_PROTO`` for the scheme).
"""

from __future__ import annotations

from typing import Any

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
