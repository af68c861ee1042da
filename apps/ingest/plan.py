"""A project's tracking plan: the event names it accepts and the properties each must carry.

The plan is optional, and has a mode:

* ``off``: nothing is checked (the default, and what a project without a plan gets);
* ``observe``: every event is accepted; those outside the plan are counted as violations,
  per event name, property and kind (``unknown_event``, ``missing_property``,
  ``wrong_type``), with when it last happened;
* ``enforce``: an event outside the plan is refused like any invalid event: a per-event
  error names ``event`` (an unknown name) or ``properties.<name>`` (a property missing or
  of the wrong type); the request's other events are still accepted.

``allow_dollar_events`` accepts every ``$``-prefixed event (the client libraries' own:
``$pageview``, ``$identify``, ``$autocapture``...) as a group, whatever the plan lists; a
``$`` event the plan lists is checked like any other.

Types: ``string`` is a JSON string; ``number`` a JSON number, not a boolean and not a
number written as a string (``"42"`` is a wrong type); ``boolean`` is ``true`` or ``false``.
A property sent as ``null`` is missing.

**Cost on the hot path.** Ingest asks :func:`tracking_plan_for_ingest` on every request:
a dict look-up in this process, the database at most once per
:data:`PLAN_CACHE_SECONDS` per project (a plan changed in another process applies within
that time; in this one, at once). The plan is compiled into a dict of event name to a
tuple of (property, type) pairs, so checking an event is a few dict and ``type()`` look-ups.
Violations in observe mode cost a request no I/O: they are added to a counter in the
process's memory, which a thread of the process pushes to Redis every
:data:`FLUSH_SECONDS` in one pipelined round trip (``HINCRBY`` per distinct
project/event/property/kind, ``HSET`` of the last time), so every process's counts add up
in Redis; a request without violations does nothing at all. Reading them
(:func:`plan_violations_for_project`) folds Redis's counts into Postgres
(:class:`PlanViolation`) atomically (a Lua script takes and clears the hashes). A process
killed with ``-9`` loses at most its last second of counts; counts are figures about
accepted events, never the events themselves.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from time import monotonic
from typing import Any, Callable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest

from apps.ingest import stream
from apps.ingest.models import PlanViolation, TrackingPlan
from apps.ingest.validation import EVENT_NAME_MAX
from apps.ingest.validation import PlanViolation as Breach
from apps.projects.models import Project
from pulseboard.errors import ParamError

logger = logging.getLogger(__name__)

# A plan changed in one process applies in the others within this many seconds.
PLAN_CACHE_SECONDS = 10.0
PLAN_MAX_EVENTS = 1000
PLAN_MAX_PROPERTIES = 100
PROPERTY_NAME_MAX = 200
PLAN_DESCRIPTION_MAX = 400
MODES = tuple(TrackingPlan.Mode.values)
PROPERTY_TYPES = ("string", "number", "boolean")

_TYPE_CHECKS: dict[str, Callable[[Any], bool]] = {
    "string": lambda value: type(value) is str,
    "number": lambda value: type(value) in (int, float),
    "boolean": lambda value: type(value) is bool,
}
_ARTICLE = {"string": "a string", "number": "a number", "boolean": "a boolean"}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null"


@dataclass(frozen=True)
class CompiledPlan:
    """A plan in the shape ingest checks fastest: event name -> ((property, type), ...)."""

    enforce: bool
    allow_dollar: bool
    events: dict[str, tuple[tuple[str, str], ...]]

    def check(self, event: dict[str, Any]) -> list[Breach]:
        name = event.get("event")
        required = self.events.get(name)
        if required is None:
            if self.allow_dollar and name.startswith("$"):
                return []
            return [Breach(name, "", PlanViolation.Kind.UNKNOWN_EVENT, f"{name!r} is not in the project's tracking plan")]
        if not required:
            return []
        properties = event.get("properties")
        if not isinstance(properties, dict):
            properties = {}
        breaches = []
        for key, kind in required:
            value = properties.get(key)
            if value is None:
                breaches.append(Breach(name, key, PlanViolation.Kind.MISSING_PROPERTY, f"is required by the tracking plan for {name!r} ({kind})"))
            elif not _TYPE_CHECKS[kind](value):
                breaches.append(
                    Breach(name, key, PlanViolation.Kind.WRONG_TYPE, f"must be {_ARTICLE[kind]} (tracking plan of {name!r}), got {_json_type(value)}")
                )
        return breaches


def plan_compile(plan: TrackingPlan) -> CompiledPlan | None:
    """What ingest checks; None when the plan is off."""
    if plan.mode == TrackingPlan.Mode.OFF:
        return None
    return CompiledPlan(
        enforce=plan.mode == TrackingPlan.Mode.ENFORCE,
        allow_dollar=plan.allow_dollar_events,
        events={e["name"]: tuple((p["name"], p["type"]) for p in e.get("properties", ())) for e in plan.events},
    )


_cache: dict[int, tuple[float, CompiledPlan | None]] = {}
_cache_lock = threading.Lock()


def tracking_plan_for_ingest(*, project_id: int) -> CompiledPlan | None:
    """The project's plan as ingest applies it, or None (no plan, or off): from this
    process's memory, read again at most every :data:`PLAN_CACHE_SECONDS`."""
    now = monotonic()
    hit = _cache.get(project_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    plan = TrackingPlan.objects.filter(project_id=project_id).first()
    compiled = plan_compile(plan) if plan is not None else None
    with _cache_lock:
        if len(_cache) > 10_000:
            _cache.clear()
        _cache[project_id] = (now + PLAN_CACHE_SECONDS, compiled)
    return compiled


def tracking_plan_cache_clear(project_id: int | None = None) -> None:
    with _cache_lock:
        if project_id is None:
            _cache.clear()
        else:
            _cache.pop(project_id, None)


# --- Reading and writing the plan ---------------------------------------------------------


def tracking_plan_get(*, project: Project) -> TrackingPlan:
    """The project's plan; an unsaved one (off, no events) if it has none."""
    plan = TrackingPlan.objects.filter(project=project).select_related("updated_by").first()
    return plan if plan is not None else TrackingPlan(project=project)


def _name(value: Any, *, field: str, limit: int, what: str) -> str:
    if not isinstance(value, str):
        raise ParamError(field, f"must be a string: the {what}")
    value = value.strip()
    if not value:
        raise ParamError(field, f"must not be empty: write the {what}")
    if len(value) > limit:
        raise ParamError(field, f"at most {limit} characters")
    if any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in value):
        raise ParamError(field, "must not contain control characters")
    return value


def tracking_plan_clean(*, mode: Any, allow_dollar_events: Any, events: Any) -> dict[str, Any]:
    """A plan as a person or a client sent it, checked: :class:`ParamError` naming the field
    (``mode``, ``events.2.name``, ``events.0.properties.1.type``...) for the first problem."""
    if mode not in MODES:
        raise ParamError("mode", f"must be one of {', '.join(MODES)}")
    if not isinstance(allow_dollar_events, bool):
        raise ParamError("allow_dollar_events", "must be true or false")
    if events is None:
        events = []
    if not isinstance(events, list):
        raise ParamError("events", "must be a list of {\"name\", \"properties\"} objects")
    if len(events) > PLAN_MAX_EVENTS:
        raise ParamError("events", f"at most {PLAN_MAX_EVENTS} events")
    cleaned: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, event in enumerate(events):
        if not isinstance(event, dict):
            raise ParamError(f"events.{i}", "must be an object with a name and its properties")
        unknown = sorted(set(event) - {"name", "description", "properties"})
        if unknown:
            raise ParamError(f"events.{i}.{unknown[0]}", "unknown field")
        name = _name(event.get("name"), field=f"events.{i}.name", limit=EVENT_NAME_MAX, what="event name")
        if name in seen:
            raise ParamError(f"events.{i}.name", f"{name!r} is listed twice")
        seen.add(name)
        description = event.get("description") or ""
        if not isinstance(description, str) or len(description) > PLAN_DESCRIPTION_MAX:
            raise ParamError(f"events.{i}.description", f"must be text of at most {PLAN_DESCRIPTION_MAX} characters")
        properties = event.get("properties") or []
        if not isinstance(properties, list):
            raise ParamError(f"events.{i}.properties", "must be a list of {\"name\", \"type\"} objects")
        if len(properties) > PLAN_MAX_PROPERTIES:
            raise ParamError(f"events.{i}.properties", f"at most {PLAN_MAX_PROPERTIES} properties per event")
        props: list[dict[str, str]] = []
        keys: set[str] = set()
        for j, prop in enumerate(properties):
            field = f"events.{i}.properties.{j}"
            if not isinstance(prop, dict):
                raise ParamError(field, "must be an object with a name and a type")
            unknown = sorted(set(prop) - {"name", "type"})
            if unknown:
                raise ParamError(f"{field}.{unknown[0]}", "unknown field")
            key = _name(prop.get("name"), field=f"{field}.name", limit=PROPERTY_NAME_MAX, what="property name")
            if key in keys:
                raise ParamError(f"{field}.name", f"{key!r} is listed twice for {name!r}")
            keys.add(key)
            kind = prop.get("type")
            if kind not in PROPERTY_TYPES:
                raise ParamError(f"{field}.type", f"must be one of {', '.join(PROPERTY_TYPES)}")
            props.append({"name": key, "type": kind})
        cleaned.append({"name": name, "description": description.strip(), "properties": props})
    return {"mode": mode, "allow_dollar_events": allow_dollar_events, "events": cleaned}


def tracking_plan_update(*, project: Project, user, mode: str, allow_dollar_events: bool, events: list[dict]) -> TrackingPlan:
    """Replace the project's plan (checked by :func:`tracking_plan_clean` first); it applies
    at once in this process and within :data:`PLAN_CACHE_SECONDS` in the others."""
    cleaned = tracking_plan_clean(mode=mode, allow_dollar_events=allow_dollar_events, events=events)
    plan, _ = TrackingPlan.objects.update_or_create(project=project, defaults={**cleaned, "updated_by": user})
    tracking_plan_cache_clear(project.id)
    return plan


# --- Violations -----------------------------------------------------------------------------

_SEPARATOR = "\x1f"


def _counts_key(project_id: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:plan-violations:{project_id}"


def _last_key(project_id: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:plan-violations-last:{project_id}"


# Violations counted by this process and not yet in Redis: (project, field) -> count and
# the last time. A thread of the process pushes them every FLUSH_SECONDS.
FLUSH_SECONDS = 1.0
_pending: Counter[tuple[int, str]] = Counter()
_pending_last: dict[tuple[int, str], int] = {}
_pending_lock = threading.Lock()
_flusher: threading.Thread | None = None


def plan_violations_count(*, project_id: int, violations: list[Breach], at: datetime | None = None) -> None:
    """Count accepted events' violations of the plan, in this process's memory (a few
    microseconds, no I/O); :func:`plan_violations_flush` takes them to Redis within
    :data:`FLUSH_SECONDS`, so every process's counts add up there."""
    if not violations:
        return
    stamp = int((at or datetime.now(timezone.utc)).timestamp() * 1000)
    with _pending_lock:
        for v in violations:
            key = (project_id, _SEPARATOR.join((v.event, v.property, v.kind)))
            _pending[key] += 1
            _pending_last[key] = max(stamp, _pending_last.get(key, 0))
    if _flusher is None or not _flusher.is_alive():
        _flusher_start()


def plan_violations_flush() -> int:
    """Push this process's pending counts to Redis in one pipelined round trip; how many
    (project, event, property, kind) went. If Redis fails they stay pending, for the next try."""
    global _pending, _pending_last
    with _pending_lock:
        if not _pending:
            return 0
        counts, last = _pending, _pending_last
        _pending, _pending_last = Counter(), {}
    try:
        pipe = stream.client().pipeline(transaction=False)
        for (project_id, field), n in counts.items():
            pipe.hincrby(_counts_key(project_id), field, n)
            pipe.hset(_last_key(project_id), field, last[(project_id, field)])
        pipe.execute()
    except Exception:
        with _pending_lock:
            _pending.update(counts)
            for key, stamp in last.items():
                _pending_last[key] = max(stamp, _pending_last.get(key, 0))
        raise
    return len(counts)


def _flusher_run() -> None:
    while True:
        time.sleep(FLUSH_SECONDS)
        try:
            plan_violations_flush()
        except Exception:
            logger.warning("could not push the tracking plan's violation counts to Redis; will retry", exc_info=True)


def _flusher_start() -> None:
    # Started lazily in the process that ingests (a forked child has no threads of its parent).
    global _flusher
    with _pending_lock:
        if _flusher is None or not _flusher.is_alive():
            _flusher = threading.Thread(target=_flusher_run, name="plan-violations", daemon=True)
            _flusher.start()


def _forget_pending_in_child() -> None:
    # A forked child must not push its parent's counts a second time.
    global _pending, _pending_last, _pending_lock, _flusher
    _pending, _pending_last, _pending_lock, _flusher = Counter(), {}, threading.Lock(), None


os.register_at_fork(after_in_child=_forget_pending_in_child)
atexit.register(lambda: _safely(plan_violations_flush))


def _safely(action) -> None:
    try:
        action()
    except Exception:
        logger.warning("could not push the tracking plan's violation counts to Redis", exc_info=True)


# Take and clear both hashes in one step, so a count is folded in once, by one reader.
_TAKE = """
local counts = redis.call('HGETALL', KEYS[1])
local last = redis.call('HGETALL', KEYS[2])
redis.call('DEL', KEYS[1], KEYS[2])
return {counts, last}
"""


def plan_violations_merge(*, project_id: int) -> int:
    """Fold the counts Redis holds into Postgres; how many (event, property, kind) were
    folded. If Postgres fails, the counts go back to Redis."""
    client = stream.client()
    counts_raw, last_raw = client.eval(_TAKE, 2, _counts_key(project_id), _last_key(project_id))
    if not counts_raw:
        return 0
    counts = {counts_raw[i].decode(): int(counts_raw[i + 1]) for i in range(0, len(counts_raw), 2)}
    last = {last_raw[i].decode(): int(last_raw[i + 1]) for i in range(0, len(last_raw), 2)}
    try:
        _fold(project_id, counts, last)
    except Exception:
        pipe = client.pipeline(transaction=False)
        for field, n in counts.items():
            pipe.hincrby(_counts_key(project_id), field, n)
        if last:
            pipe.hset(_last_key(project_id), mapping={field: last[field] for field in last})
        pipe.execute()
        raise
    return len(counts)


def _fold(project_id: int, counts: dict[str, int], last: dict[str, int]) -> None:
    if not Project.objects.filter(id=project_id).exists():
        return
    now = datetime.now(timezone.utc)
    with transaction.atomic():
        for field, n in sorted(counts.items()):
            event, prop, kind = field.split(_SEPARATOR)
            seen = datetime.fromtimestamp(last[field] / 1000, timezone.utc) if field in last else now
            lookup = {"project_id": project_id, "event": event[:200], "property": prop[:200], "kind": kind}
            updated = PlanViolation.objects.filter(**lookup).update(count=F("count") + n, last_seen=Greatest("last_seen", seen))
            if not updated:
                try:
                    with transaction.atomic():
                        PlanViolation.objects.create(**lookup, count=n, last_seen=seen)
                except IntegrityError:  # another reader created it first
                    PlanViolation.objects.filter(**lookup).update(count=F("count") + n, last_seen=Greatest("last_seen", seen))


def plan_violations_for_project(*, project_id: int) -> list[PlanViolation]:
    """The project's violations, the most recent first, Redis's latest counts included
    (if Redis cannot be reached, what Postgres holds). Counts other processes have not
    pushed yet (at most :data:`FLUSH_SECONDS` old) are left for the next read."""
    try:
        plan_violations_flush()
        plan_violations_merge(project_id=project_id)
    except Exception:
        logger.warning("could not fold the tracking plan's violations of project %s", project_id, exc_info=True)
    return list(PlanViolation.objects.filter(project_id=project_id).order_by("-last_seen", "event", "property", "kind"))


def plan_violations_by_event(*, project_id: int) -> dict[str, int]:
    """Per event name, how many violations it has (every property and kind)."""
    totals: dict[str, int] = {}
    for violation in plan_violations_for_project(project_id=project_id):
        totals[violation.event] = totals.get(violation.event, 0) + violation.count
    return totals


def plan_violations_reset(*, project_id: int) -> int:
    """Forget the project's violations (Redis and Postgres); how many rows went."""
    _safely(plan_violations_flush)
    stream.client().delete(_counts_key(project_id), _last_key(project_id))
    deleted, _ = PlanViolation.objects.filter(project_id=project_id).delete()
    return deleted
