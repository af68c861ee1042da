"""The guardrails of the ingest doors: who may send (the origin allowlist and server keys)
and how much (a token bucket and a daily quota per ingest key, kept in Redis).

Every door (native, PostHog, Segment) asks :func:`request_gate` once it knows the key's
project, before anything of the request is accepted. A refusal accepts nothing:

* ``403 origin_not_allowed``: a browser request (it has an ``Origin``) from a page whose
  origin is not on the project's list, with the public key. Server keys skip the list.
* ``403 server_key_required``: a request without an ``Origin`` with the public key, when
  the project requires a server key for those.
* ``413 burst_exceeded`` / ``413 quota_exceeded``: a request carrying more events than the
  key's burst, or than its daily quota, can never pass, so it is not worth retrying.
* ``429 rate_limited`` / ``429 quota_exhausted`` with ``Retry-After`` (whole seconds, at
  least 1): retry then. The bucket refills at the rate; the quota at 00:00 UTC.
* ``503 unavailable`` with ``Retry-After``: Redis did not answer (nor would the stream).

Each key (the public key, each server key) has its own bucket and day counter; a request
costs one token per event it carries, valid or not. Limits off (the default) cost nothing:
no Redis call is made.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field

import redis
from django.conf import settings

from apps.ingest import stream
from apps.projects.selectors import IngestTarget

logger = logging.getLogger(__name__)

# The day counter outlives its day long enough to show yesterday's usage.
DAY_KEY_SECONDS = 2 * 86400

# One atomic step, one round trip: refill the key's bucket for the time passed, then take
# ``cost`` tokens from it and count ``cost`` events for the day, or take nothing at all.
# KEYS = [bucket, day counter]; ARGV = [now (s), rate (events/s, 0: none), burst, cost,
# quota (0: none), day counter ttl]. The bucket is a hash {t: tokens, at: when}.
# Returns {verdict, tokens left (as text), used today}: verdict 1 taken, 0 short of tokens,
# 2 over the quota. The clock is the application's (passed in): servers agree on it to NTP
# precision, and a clock that steps back never refills a bucket twice.
_TAKE_LUA = """
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local quota = tonumber(ARGV[5])
local tokens = burst
if rate > 0 then
  local state = redis.call('HMGET', KEYS[1], 't', 'at')
  if state[1] then
    local at = tonumber(state[2])
    tokens = math.min(burst, tonumber(state[1]))
    if now > at then
      tokens = math.min(burst, tokens + (now - at) * rate)
    else
      now = at
    end
  end
  if cost > tokens then
    return {0, tostring(tokens), tonumber(redis.call('GET', KEYS[2]) or '0')}
  end
end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if quota > 0 and used + cost > quota then
  return {2, tostring(tokens), used}
end
if rate > 0 then
  redis.call('HSET', KEYS[1], 't', tostring(tokens - cost), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
end
used = redis.call('INCRBY', KEYS[2], cost)
if used == cost then
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[6]))
end
return {1, tostring(tokens - cost), used}
"""


@dataclass(frozen=True)
class Refusal:
    """Why the gate turned a request away: an ingest answer (``error`` and ``message``, the
    shape every door's ``answer`` takes) with its status and headers."""

    status: int
    body: dict
    headers: dict[str, str] = field(default_factory=dict)


# --- Origins --------------------------------------------------------------------------------


def origin_matches(origin: str, pattern: str) -> bool:
    """Whether a browser's ``Origin`` (``https://shop.example.com``) is one that ``pattern``
    allows. Patterns are stored normalised (``apps.projects.models.origin_pattern_normalize``):
    ``https://host[:port]`` matches itself only; ``https://*.example.com`` matches any
    subdomain (not example.com itself) on that scheme and port; ``*.example.com`` the same
    on http or https, without a port."""
    scheme, sep, hostport = origin.lower().partition("://")
    if not sep or "/" in hostport or not hostport:
        return False
    if pattern.startswith("*."):
        return scheme in ("http", "https") and hostport.endswith(pattern[1:]) and len(hostport) > len(pattern) - 1
    want_scheme, _, want = pattern.partition("://")
    if scheme != want_scheme:
        return False
    if want.startswith("*."):
        return hostport.endswith(want[1:]) and len(hostport) > len(want) - 1
    return hostport == want


def origin_allowed(origin: str, patterns: tuple[str, ...] | list[str]) -> bool:
    return any(origin_matches(origin, pattern) for pattern in patterns)


def origin_refusal(*, target: IngestTarget, origin: str | None) -> Refusal | None:
    """The 403 for a request the project's origin rules turn away, or None.

    ``origin`` is the request's ``Origin`` header (None without one). A server key is never
    subject to the list; a browser never needs a server key."""
    if target.server_key:
        return None
    if not origin:
        if target.require_server_key:
            return Refusal(
                403,
                {
                    "error": "server_key_required",
                    "message": (
                        f"This project takes requests without an Origin (servers, apps, scripts) with a server key only; "
                        f"the public key {target.key_prefix}… works from allowed web pages. Create a server key in the project's settings."
                    ),
                },
            )
        return None
    if target.allowed_origins and not origin_allowed(origin, target.allowed_origins):
        return Refusal(
            403,
            {
                "error": "origin_not_allowed",
                "message": f"The origin {origin[:200]} may not send events to this project: add it to the project's allowed origins.",
            },
        )
    return None


# --- Rate limits and quotas ------------------------------------------------------------------


def _bucket_key(project_id: int, key_id: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:gate:{project_id}:{key_id}:bucket"


def _day_key(project_id: int, key_id: str, day: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:gate:{project_id}:{key_id}:day:{day}"


def _today(now: float) -> tuple[str, int]:
    """The UTC day of ``now`` (days since 1970-01-01: ``20484``) and the whole seconds left
    in it (at least 1). Unix time has no leap seconds, so every day is 86,400 of them."""
    return str(int(now // 86400)), max(1, math.ceil(86400 - (now % 86400)))


def _unavailable() -> Refusal:
    return Refusal(
        503,
        {"error": "unavailable", "message": "The event stream is unreachable; nothing was accepted. Retry later."},
        {"Retry-After": "5"},
    )


def limit_take(*, target: IngestTarget, cost: int, now: float | None = None) -> Refusal | None:
    """Take ``cost`` events from the key's bucket and daily quota, or refuse the request
    and take nothing. None when it may go on (or the key has no limit)."""
    rate, burst, quota = target.rate_per_second or 0, target.burst or 0, target.daily_quota or 0
    if not rate and not quota:
        return None
    if rate and cost > burst:
        return Refusal(
            413,
            {
                "error": "burst_exceeded",
                "message": f"This request carries {cost} events and this key may send at most {burst} at once: send smaller batches.",
            },
        )
    if quota and cost > quota:
        return Refusal(
            413,
            {
                "error": "quota_exceeded",
                "message": f"This request carries {cost} events and this key may send only {quota} a day: send smaller batches.",
            },
        )
    now = time.time() if now is None else now
    day, day_left = _today(now)
    try:
        verdict, tokens, used = stream.script(settings.REDIS_URL, _TAKE_LUA)(
            keys=[_bucket_key(target.project_id, target.key_id), _day_key(target.project_id, target.key_id, day)],
            args=[repr(now), rate, burst, cost, quota, DAY_KEY_SECONDS],
        )
    except (redis.RedisError, OSError):
        logger.exception("could not check the ingest limits")
        return _unavailable()
    if verdict == 1:
        return None
    if verdict == 0:
        wait = max(1, math.ceil((cost - float(tokens)) / rate))
        return Refusal(
            429,
            {
                "error": "rate_limited",
                "message": f"This key may send {rate} event{'s' if rate != 1 else ''} a second (at most {burst} at once): retry in {wait} s. Nothing of this request was accepted.",
                "retry_after": wait,
            },
            {"Retry-After": str(wait)},
        )
    return Refusal(
        429,
        {
            "error": "quota_exhausted",
            "message": f"This key has sent {int(used)} of its {quota} events for today (UTC): retry in {day_left} s, after midnight UTC. Nothing of this request was accepted.",
            "retry_after": day_left,
        },
        {"Retry-After": str(day_left)},
    )


def request_gate(*, target: IngestTarget, origin: str | None, cost: int) -> Refusal | None:
    """Whether an ingest request may go on: its origin or key first, then its cost in
    events against the key's limits. None to go on; else the refusal to answer."""
    return origin_refusal(target=target, origin=origin) or limit_take(target=target, cost=cost)


# --- Usage, for the settings page --------------------------------------------------------------


@dataclass(frozen=True)
class KeyUsage:
    key_id: str
    tokens: float | None  # in the bucket now (None without a rate)
    burst: int | None
    today: int  # events counted today (UTC)
    quota: int | None


def usage_for_keys(*, project_id: int, key_ids: list[str], rate: int | None, burst: int | None, quota: int | None, now: float | None = None) -> list[KeyUsage]:
    """Each key's bucket level now and its count of events today (UTC), read from Redis in
    one round trip. Raises ``redis.RedisError`` when Redis does not answer."""
    now = time.time() if now is None else now
    day, _ = _today(now)
    pipe = stream.client().pipeline(transaction=False)
    for key_id in key_ids:
        pipe.hmget(_bucket_key(project_id, key_id), "t", "at")
        pipe.get(_day_key(project_id, key_id, day))
    replies = pipe.execute()
    usage = []
    for index, key_id in enumerate(key_ids):
        (tokens, at), today = replies[2 * index], replies[2 * index + 1]
        level = None
        if rate and burst:
            level = float(burst)
            if tokens is not None and at is not None:
                level = min(float(burst), float(tokens) + max(0.0, now - float(at)) * rate)
        usage.append(KeyUsage(key_id=key_id, tokens=level, burst=burst if rate else None, today=int(today or 0), quota=quota))
    return usage
