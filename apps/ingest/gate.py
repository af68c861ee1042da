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

The limit costs no round trip of its own: a request's charge (a :class:`stream.Limit`) is
taken by the same Lua script that appends its events (``stream.stream_append(limit=...)``),
so a refusal still appends nothing, and a request with no valid event is charged on its own
(:func:`limit_take`). Each process also remembers what Redis last said of each key: the
bucket only refills at the rate and the day's count only grows, so when that memory shows
the request cannot pass, the limit is asked at once, on its own, before the events are
read: a noisy key over its limit costs one round trip, not a validation, and Redis keeps
the last word.
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


@dataclass(frozen=True)
class _Seen:
    """What Redis last said of a key's limit, in this process: the limits it was said under,
    the tokens left at ``at`` and the events counted on ``day``."""

    limits: tuple[int, int, int]
    tokens: float
    at: float
    day: str
    used: int


_seen: dict[tuple[int, str], _Seen] = {}


def _seen_record(limit: stream.Limit, target: IngestTarget, reply: stream.LimitReply) -> None:
    if len(_seen) > 10_000:
        _seen.clear()
    day, _ = _today(limit.now)
    _seen[(target.project_id, target.key_id)] = _Seen((limit.rate, limit.burst, limit.quota), reply.tokens, limit.now, day, reply.used)


def _likely_refused(limit: stream.Limit, target: IngestTarget) -> bool:
    """Whether what Redis last said of the key rules ``limit`` out: since then the bucket has
    gained at most the rate times the time passed (other processes only take), and the
    day's count has only grown, unless someone reset them in Redis."""
    seen = _seen.get((target.project_id, target.key_id))
    if seen is None or seen.limits != (limit.rate, limit.burst, limit.quota):
        return False
    if limit.rate and limit.cost > min(float(limit.burst), seen.tokens + max(0.0, limit.now - seen.at) * limit.rate):
        return True
    return bool(limit.quota) and seen.day == _today(limit.now)[0] and seen.used + limit.cost > limit.quota


def limit_charge(*, target: IngestTarget, cost: int, now: float | None = None) -> stream.Limit | Refusal | None:
    """What a request of ``cost`` events owes its key's limits: None when the key has none
    (or it was taken already); a :class:`Refusal` when it can never pass (413), or when
    this process saw the key run short and Redis confirms it (429); otherwise the
    :class:`stream.Limit` to take with its events' append, and to settle with
    :func:`limit_settle`."""
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
    day, _ = _today(now)
    limit = stream.Limit(
        bucket_key=_bucket_key(target.project_id, target.key_id),
        day_key=_day_key(target.project_id, target.key_id, day),
        now=now, rate=rate, burst=burst, cost=cost, quota=quota, day_ttl=DAY_KEY_SECONDS,
    )
    if _likely_refused(limit, target):
        # Ask Redis now, before the request's events are read: a key hammering past its
        # limit costs one round trip, not a validation. Redis has the last word (its keys
        # may have been reset since); taken here, nothing is left to take with the append.
        return limit_take(target=target, limit=limit)
    return limit


def limit_settle(*, target: IngestTarget, limit: stream.Limit, reply: stream.LimitReply) -> Refusal | None:
    """Remember what Redis said of the key, and turn a refusal into its 429."""
    _seen_record(limit, target, reply)
    return None if reply.verdict == 1 else _limit_refusal(limit, reply)


def limit_take(*, target: IngestTarget, limit: stream.Limit) -> Refusal | None:
    """Take a charge on its own (one round trip), for a request that appends nothing: None
    when taken, else the refusal (503 when Redis does not answer)."""
    try:
        reply = stream.limit_take(limit)
    except (redis.RedisError, OSError):
        logger.exception("could not check the ingest limits")
        return _unavailable()
    return limit_settle(target=target, limit=limit, reply=reply)


def _limit_refusal(limit: stream.Limit, reply: stream.LimitReply) -> Refusal:
    if reply.verdict == 0:
        wait = max(1, math.ceil((limit.cost - reply.tokens) / limit.rate))
        plural = "s" if limit.rate != 1 else ""
        return Refusal(
            429,
            {
                "error": "rate_limited",
                "message": f"This key may send {limit.rate} event{plural} a second (at most {limit.burst} at once): retry in {wait} s. Nothing of this request was accepted.",
                "retry_after": wait,
            },
            {"Retry-After": str(wait)},
        )
    _, day_left = _today(limit.now)
    return Refusal(
        429,
        {
            "error": "quota_exhausted",
            "message": f"This key has sent {reply.used} of its {limit.quota} events for today (UTC): retry in {day_left} s, after midnight UTC. Nothing of this request was accepted.",
            "retry_after": day_left,
        },
        {"Retry-After": str(day_left)},
    )


def request_gate(*, target: IngestTarget, origin: str | None, cost: int) -> stream.Limit | Refusal | None:
    """Whether an ingest request may go on: its origin or key first, then its cost in
    events against the key's limits (:func:`limit_charge`). None to go on; a
    :class:`stream.Limit` to go on and take it with the append; else the refusal to answer."""
    return origin_refusal(target=target, origin=origin) or limit_charge(target=target, cost=cost)


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
