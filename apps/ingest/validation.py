"""Turn a request body into stored-event rows, naming every bad event by index and field.

This module is pure: no database, no Redis, no clock of its own (the caller passes
``now``), so every rule is cheap to test. An accepted event becomes a *row*: a dict
whose keys are the ClickHouse columns (:data:`EVENT_COLUMNS`) and whose values are
already in the text form ClickHouse reads in JSONEachRow.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Protocol

import orjson

from apps.ingest.devices import country_of, device_columns
from apps.ingest.formats import Converted

EVENT_COLUMNS = (
    "project_id",
    "event_id",
    "event",
    "timestamp",
    "distinct_id",
    "user_id",
    "anonymous_id",
    "session_id",
    "source",
    "page_url",
    "referrer",
    "user_agent",
    "ip_hash",
    "properties",
    "received_at",
    "browser",
    "os",
    "device_type",
    "country",
)

# The fields a client may send for one event, and the longest string each may hold.
STRING_LIMITS = {
    "distinct_id": 200,
    "user_id": 200,
    "anonymous_id": 200,
    "session_id": 200,
    "source": 100,
    "page_url": 2048,
    "referrer": 2048,
}
EVENT_FIELDS = frozenset({"event", "timestamp", "event_id", "properties", *STRING_LIMITS})
IDENTITY_FIELDS = ("distinct_id", "user_id", "anonymous_id")
ENVELOPE_FIELDS = frozenset({"api_key", "idempotency_key"})
EVENT_NAME_MAX = 200
USER_AGENT_MAX = 512
IDEMPOTENCY_KEY_MAX = 200

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1024 * 1024
    max_events: int = 1000
    max_properties_bytes: int = 32 * 1024
    # Objects and lists inside one another, in any value an event carries (properties,
    # $set, context, traits...). orjson reads 1024 levels but writes only 254.
    max_depth: int = 32
    max_future: timedelta = timedelta(hours=24)
    max_past: timedelta = timedelta(days=730)


class BodyError(Exception):
    """The request as a whole cannot be read: answered with ``status`` and no event stored."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def as_json(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}


def field_label(name: str) -> str:
    """A client's field name as an answer names it: control characters written as
    ``\\u0000`` escapes, since the answer is also kept in Postgres, which refuses NUL."""
    return _CONTROL.sub(lambda match: f"\\u{ord(match.group()):04x}", name)


@dataclass(frozen=True)
class FieldError:
    index: int
    field: str
    message: str

    def __post_init__(self):
        object.__setattr__(self, "field", field_label(self.field))

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "message": self.message}


@dataclass
class Envelope:
    events: list[Any]
    api_key: str | None = None
    idempotency_key: str | None = None


@dataclass
class Validated:
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)
    # Per row: did the client choose the event_id (and so may send it again)?
    supplied_ids: list[bool] = field(default_factory=list)
    # What the accepted events broke of a tracking plan in observe mode.
    violations: list[PlanViolation] = field(default_factory=list)


@dataclass(frozen=True)
class PlanViolation:
    """An event outside its project's tracking plan: an unknown name (``property`` empty),
    or a required property missing or of the wrong type."""

    event: str
    property: str
    kind: str  # unknown_event, missing_property or wrong_type
    message: str


class PlanCheck(Protocol):
    """A project's tracking plan as ingest applies it (:class:`apps.ingest.plan.CompiledPlan`)."""

    enforce: bool

    def check(self, event: dict[str, Any]) -> list[PlanViolation]: ...


@dataclass(frozen=True)
class RequestContext:
    project_id: int
    received_at: datetime
    user_agent: str
    ip_hash: str
    country: str = ""

    @cached_property
    def received_text(self) -> str:
        """``received_at`` as ClickHouse text, formatted once per request."""
        return utc_text(self.received_at)


def idempotency_key_check(value: str) -> None:
    """An idempotency key is 1 to 200 characters without control characters (the database
    keeps it, and Postgres refuses NUL in text); anything else is a 400 naming it."""
    if not 1 <= len(value) <= IDEMPOTENCY_KEY_MAX or _CONTROL.search(value):
        raise BodyError(
            400,
            "invalid_idempotency_key",
            f"Idempotency-Key (or idempotency_key) must be 1 to {IDEMPOTENCY_KEY_MAX} characters without control characters.",
        )


def items_check(items: Any, *, field: str, noun: str, limits: Limits) -> list:
    """The list of events a request carries under ``field``: a list, not empty, and at
    most ``limits.max_events`` long (413 beyond). Every front door checks its batch here."""
    if not isinstance(items, list):
        raise BodyError(400, "invalid_body", f"'{field}' must be a list of {noun}s.")
    if not items:
        raise BodyError(400, "invalid_body", f"'{field}' is empty.")
    if len(items) > limits.max_events:
        raise BodyError(413, "too_many_events", f"{len(items)} {noun}s in one request; the limit is {limits.max_events}.")
    return items


def body_parse(body: bytes, *, limits: Limits) -> Envelope:
    """One event object, or ``{"events": [...]}``; ``api_key``/``idempotency_key`` may ride along."""
    if len(body) > limits.max_body_bytes:
        raise BodyError(413, "body_too_large", f"The body is larger than {limits.max_body_bytes} bytes.")
    if not body.strip():
        raise BodyError(400, "empty_body", "The body is empty; send one event object or {\"events\": [...]}.")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(400, "invalid_json", f"The body is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BodyError(400, "invalid_body", "The body must be a JSON object: one event, or {\"events\": [...]}.")

    envelope = Envelope(events=[])
    for name in ENVELOPE_FIELDS:
        value = document.pop(name, None)
        if value is not None and not isinstance(value, str):
            raise BodyError(400, "invalid_body", f"{name} must be a string.")
        setattr(envelope, name, value)
    if envelope.idempotency_key is not None:
        idempotency_key_check(envelope.idempotency_key)

    if "events" in document:
        unknown = sorted(set(document) - {"events"})
        if unknown:
            raise BodyError(400, "unknown_field", f"Unknown top-level field {unknown[0]!r} next to 'events'.")
        envelope.events = items_check(document["events"], field="events", noun="event object", limits=limits)
    else:
        envelope.events = [document]
    return envelope


# What a JSON integer may be once stored: ClickHouse and orjson take 64 bits at most.
INT_MIN, INT_MAX = -(2**63), 2**64 - 1


def _value_problem(value: Any, max_depth: int) -> str | None:
    """Why one JSON value cannot be stored: nested deeper than ``max_depth`` objects and
    lists, or an integer beyond 64 bits. None when it can."""
    if type(value) is int:
        return None if INT_MIN <= value <= INT_MAX else "has an integer beyond 64 bits"
    if not isinstance(value, (dict, list)):
        return None
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return f"is nested deeper than the limit of {max_depth} levels"
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
            elif type(child) is int and not INT_MIN <= child <= INT_MAX:
                return "has an integer beyond 64 bits"
    return None


def values_check(item: Any, *, limits: Limits) -> list[tuple[str, str]]:
    """The values of one client event (in any door's shape) that cannot be stored, named by
    the event's own keys: ``[(key, reason)]``. The whole event is serialised once by
    orjson (C); only an event with more brackets than the depth limit, or that orjson cannot
    write, is walked in Python."""
    if not isinstance(item, dict):
        return []
    try:
        text = orjson.dumps(item)
    except orjson.JSONEncodeError:
        pass
    else:
        if text.count(b"{") + text.count(b"[") <= limits.max_depth:
            return []  # brackets in strings count too: this only ever walks more, never less
    problems = []
    for key, value in item.items():
        problem = _value_problem(value, limits.max_depth)
        if problem is not None:
            problems.append((key, problem))
    return problems


def utc_text(value: datetime) -> str:
    """ClickHouse DateTime64(3) text in UTC."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _text(value: Any, name: str, limit: int, errors: list[tuple[str, str]]) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        errors.append((name, "must be a string"))
        return None
    value = str(value)
    if not value:
        errors.append((name, "must not be empty"))
        return None
    if len(value) > limit:
        errors.append((name, f"is {len(value)} characters; the limit is {limit}"))
        return None
    if _CONTROL.search(value):
        errors.append((name, "must not contain control characters"))
        return None
    return value


def _timestamp(value: Any, now: datetime, limits: Limits, errors: list[tuple[str, str]]) -> datetime | None:
    if not isinstance(value, str):
        errors.append(("timestamp", "must be an ISO-8601 string with a UTC offset, e.g. 2026-11-22T10:00:00Z"))
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        errors.append(("timestamp", f"{value[:40]!r} is not an ISO-8601 date-time"))
        return None
    if parsed.tzinfo is None:
        errors.append(("timestamp", "needs a UTC offset (Z or +hh:mm), e.g. 2026-11-22T10:00:00Z"))
        return None
    if parsed - now > limits.max_future:
        errors.append(("timestamp", f"is more than {limits.max_future.total_seconds() / 3600:g} h in the future"))
        return None
    if now - parsed > limits.max_past:
        errors.append(("timestamp", f"is more than {limits.max_past.days} days in the past"))
        return None
    return parsed


# Event ids the server derives for the events of a request with an idempotency key.
GENERATED_ID_NAMESPACE = uuid.UUID("3c0b8f62-1d4e-5a8b-9f27-4b6e0d9a7c15")


def event_validate(
    raw: Any,
    *,
    context: RequestContext,
    limits: Limits,
    user_agent: str | None = None,
    ip_hash: str | None = None,
    country: str | None = None,
    generated_id: str | None = None,
) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    """One event to a row, or ``None`` and the list of ``(field, message)`` problems.

    ``user_agent``, ``ip_hash`` and ``country``, when given, replace the request's: a
    server-side client may report the end user's device with each event. The browser, OS
    and device type come from the user agent (:mod:`apps.ingest.devices`). ``generated_id``
    is the event id to use when the event has none (a random one otherwise)."""
    errors: list[tuple[str, str]] = []
    if not isinstance(raw, dict):
        return None, [("event", "each event must be a JSON object")]

    for name in sorted(set(raw) - EVENT_FIELDS):
        errors.append((name, f"unknown field {name!r}"))

    name = raw.get("event")
    if name is None:
        errors.append(("event", "is required"))
    elif not isinstance(name, str):
        errors.append(("event", "must be a string"))
    else:
        name = _text(name, "event", EVENT_NAME_MAX, errors)

    values: dict[str, str] = {}
    for key, limit in STRING_LIMITS.items():
        value = raw.get(key)
        if value is not None:
            checked = _text(value, key, limit, errors)
            if checked is not None:
                values[key] = checked
    if not any(raw.get(key) is not None for key in IDENTITY_FIELDS):
        errors.append(("distinct_id", "one of distinct_id, user_id or anonymous_id is required"))

    timestamp = None
    if raw.get("timestamp") is not None:
        timestamp = _timestamp(raw["timestamp"], context.received_at, limits, errors)

    event_id = raw.get("event_id")
    if event_id is None:
        event_id = generated_id or str(uuid.uuid4())
    else:
        try:
            event_id = str(uuid.UUID(event_id)) if isinstance(event_id, str) else None
        except ValueError:
            event_id = None
        if event_id is None:
            errors.append(("event_id", "must be a UUID, e.g. 0b9f1c2e-4c1a-4f7e-9a59-2f6f1d3c8e11"))

    properties = raw.get("properties")
    properties_text = "{}"
    if properties is not None:
        if not isinstance(properties, dict):
            errors.append(("properties", "must be a JSON object"))
        else:
            try:
                properties_text = orjson.dumps(properties).decode()
            except orjson.JSONEncodeError as exc:  # the front doors' values_check keeps this from happening
                errors.append(("properties", f"cannot be stored as JSON: {exc}"))
            else:
                if len(properties_text.encode()) > limits.max_properties_bytes:
                    errors.append(("properties", f"is larger than {limits.max_properties_bytes} bytes as JSON"))

    if errors:
        return None, errors
    distinct_id = values.get("distinct_id") or values.get("user_id") or values["anonymous_id"]
    user_agent = (context.user_agent if user_agent is None else user_agent)[:USER_AGENT_MAX]
    row = {
        "project_id": context.project_id,
        "event_id": event_id,
        "event": name,
        "timestamp": utc_text(timestamp) if timestamp is not None else context.received_text,
        "distinct_id": distinct_id,
        "user_id": values.get("user_id", ""),
        "anonymous_id": values.get("anonymous_id", ""),
        "session_id": values.get("session_id", ""),
        "source": values.get("source", ""),
        "page_url": values.get("page_url", ""),
        "referrer": values.get("referrer", ""),
        "user_agent": user_agent,
        "ip_hash": context.ip_hash if ip_hash is None else ip_hash,
        "properties": properties_text,
        "received_at": context.received_text,
        **device_columns(user_agent, properties),
        "country": context.country if country is None else country,
    }
    return row, []


def converted_validate(
    converted: list[Converted],
    *,
    items: list[Any],
    context: RequestContext,
    limits: Limits,
    ip_hash_of: Callable[[str], str],
    id_seed: str | None = None,
    plan: PlanCheck | None = None,
) -> Validated:
    """Validate the events a front door converted from the client's ``items``; every error
    names the event's index and the field as the client named it. A client event with a
    value that cannot be stored (:func:`values_check`) is rejected whatever its door made of
    it. ``ip_hash_of`` hashes an end-user IP an event reports.

    With an ``id_seed`` (a request's project and idempotency key), an event without an id
    gets one derived from the seed and its index, the same on every retry of the request,
    and it counts as chosen by the client (so the stream skips it when sent twice).

    With a tracking ``plan``, a valid event outside it is refused (enforce), its errors
    naming ``event`` or ``properties.<name>`` as the client named them, or accepted and its
    breaches listed in ``violations`` (observe)."""
    result = Validated()
    for index, item in enumerate(converted):
        row, problems = None, item.problems
        unstorable = values_check(items[index], limits=limits)
        if unstorable:
            result.errors.extend(FieldError(index, f, m) for f, m in unstorable)
            result.errors.extend(FieldError(index, f, m) for f, m in problems if f not in dict(unstorable))
            continue
        generated = str(uuid.uuid5(GENERATED_ID_NAMESPACE, f"{id_seed}:{index}")) if id_seed is not None else None
        if not problems:
            row, problems = event_validate(
                item.event,
                context=context,
                limits=limits,
                user_agent=item.user_agent,
                ip_hash=ip_hash_of(item.ip) if item.ip else None,
                country=country_of(item.ip) if item.ip else None,
                generated_id=generated,
            )
        if row is not None and plan is not None:
            breaches = plan.check(item.event)
            if breaches and plan.enforce:
                row, problems = None, [(_plan_field(breach, item.fields), breach.message) for breach in breaches]
            else:
                result.violations.extend(breaches)
        if row is None:
            result.errors.extend(FieldError(index, item.fields.get(f, f), m) for f, m in problems)
        else:
            result.rows.append(row)
            result.supplied_ids.append(generated is not None or item.event.get("event_id") is not None)
    return result



def _plan_field(breach: PlanViolation, fields: dict[str, str]) -> str:
    """The field a plan breach is about, as the client named it."""
    if not breach.property:
        return "event"
    return f"{fields.get('properties', 'properties')}.{breach.property}"
