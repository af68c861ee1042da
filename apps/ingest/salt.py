"""The salt of the IP hash: random, one per UTC day, the same in every process, and deleted
48 hours after its day began.

An event keeps a hash of its client's address, never the address: enough to count distinct
addresses within a day. The hash is ``HMAC-SHA256(day salt + INGEST_IP_SALT, address)``.
Each day's salt is 32 random bytes (:mod:`secrets`) in a Postgres row (:class:`IpSalt`),
created by whichever process needs it first (a unique day, so the processes that race
agree on one), and kept in each process's memory for the rest of the day. Once a salt is
deleted, nobody can tell which address a hash of its day stands for, even with the
database, the events and ``INGEST_IP_SALT`` in hand: trying every IPv4 address needs the
salt. The same address hashes differently on different days.

Old salts go on the first hash of a new day (in every process that makes one) and every
hour by beat (``ingest.prune_ip_salts``), so a salt outlives its day by at most a day
and an hour even when nothing is ingested.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from datetime import date, datetime, timedelta, timezone

from django.conf import settings
from django.db import IntegrityError, transaction

from apps.ingest.models import IpSalt

# A salt is deleted once this long has passed since its day began (00:00 UTC).
SALT_LIFETIME = timedelta(hours=48)

_lock = threading.Lock()
_cached: tuple[date, bytes] | None = None  # (day, HMAC key of that day)


def utc_today() -> date:
    return datetime.now(timezone.utc).date()


def _key(salt: str) -> bytes:
    return bytes.fromhex(salt) + settings.INGEST_IP_SALT.encode()


def ip_salt_for_day(*, day: date) -> str:
    """The salt of a UTC day (hex), created if no process has made it yet."""
    found = IpSalt.objects.filter(day=day).values_list("salt", flat=True).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return IpSalt.objects.create(day=day, salt=secrets.token_hex(32)).salt
    except IntegrityError:  # another process made it first: theirs it is
        return IpSalt.objects.get(day=day).salt


def ip_salts_prune(*, now: datetime | None = None) -> int:
    """Delete the salts whose day began more than :data:`SALT_LIFETIME` ago; how many."""
    now = now or datetime.now(timezone.utc)
    oldest_kept = (now - SALT_LIFETIME).date() + timedelta(days=1)
    deleted, _ = IpSalt.objects.filter(day__lt=oldest_kept).delete()
    return deleted


def ip_hash_key() -> bytes:
    """Today's HMAC key, from this process's memory after the first call of the day."""
    global _cached
    today = utc_today()
    cached = _cached
    if cached is not None and cached[0] == today:
        return cached[1]
    with _lock:
        if _cached is None or _cached[0] != today:
            key = _key(ip_salt_for_day(day=today))
            ip_salts_prune()
            _cached = (today, key)
        return _cached[1]


def ip_hash_of(ip: str) -> str:
    """The hash of a client address with today's salt: lets you count distinct addresses
    within a UTC day, never recovers one."""
    if not ip:
        return ""
    return hmac.new(ip_hash_key(), ip.encode(), hashlib.sha256).hexdigest()[:32]


def ip_salt_cache_clear() -> None:
    """Forget the day's key held in memory (the next hash reads the database again)."""
    global _cached
    with _lock:
        _cached = None
