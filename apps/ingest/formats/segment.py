"""Segment's HTTP tracking API (``/v1/batch``, ``/v1/track``, ``/v1/identify``, ``/v1/page``,
``/v1/screen``, ``/v1/alias``), so Segment's libraries work with their host pointed at
PulseBoard.

The write key is the project's ingest key: the user name of HTTP Basic auth, or
``writeKey`` in the body (then in the first message that has one). The body is JSON,
gzip-compressed or not (found by its magic bytes). ``/v1/batch`` takes
``{"batch": [...], "sentAt": ...}``; the other routes take one message whose type is
the route's.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from apps.ingest.formats import Converted, Door, Parsed
from apps.ingest.formats.encoding import GZIP_MAGIC, column_text, gunzip, json_parse, skew_corrected, timestamp_parse, too_large
from apps.ingest.validation import STRING_LIMITS, BodyError, Limits, items_check

TYPES = ("track", "identify", "page", "screen", "alias")
EVENT_NAMES = {"identify": "$identify", "page": "$pageview", "screen": "$screen", "alias": "$create_alias"}
# A messageId that is not a UUID becomes uuid5(MESSAGE_ID_NAMESPACE, "<project id>:<messageId>"),
# so a redelivered message gets the same event_id and is stored once.
MESSAGE_ID_NAMESPACE = uuid.UUID("6f1b2f4e-8a53-5c1e-9d0a-5e6d7c8b9a01")
MESSAGE_ID_MAX = 1000


def write_key_from_basic_auth(authorization: str) -> str | None:
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not credentials:
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise BodyError(401, "invalid_authorization", "The Authorization header is not valid Basic auth.") from None
    return decoded.partition(":")[0] or None


def request_parse(
    *, body: bytes, headers: Mapping[str, str], query: Mapping[str, str], limits: Limits, message_type: str | None = None
) -> Parsed:
    """``message_type`` is the route's (``/v1/track`` → ``track``); None for ``/v1/batch``."""
    limit = limits.max_body_bytes
    if len(body) > limit:
        raise too_large(limit)
    if body.startswith(GZIP_MAGIC):
        body = gunzip(body, limit=limit)
    elif "gzip" in headers.get("content-encoding", "").lower():
        raise BodyError(400, "invalid_gzip", "The body is declared gzip but does not start like gzip.")
    document = json_parse(body)
    if not isinstance(document, dict):
        raise BodyError(400, "invalid_body", "The body must be a JSON object.")
    if message_type is None:
        items = items_check(document.get("batch"), field="batch", noun="message", limits=limits)
    else:
        items = [{**document, "type": message_type}]

    write_key = write_key_from_basic_auth(headers.get("authorization", ""))
    if write_key is None and isinstance(document.get("writeKey"), str) and document["writeKey"]:
        write_key = document["writeKey"]
    if write_key is None:
        write_key = next((m["writeKey"] for m in items if isinstance(m, dict) and isinstance(m.get("writeKey"), str) and m["writeKey"]), None)

    sent_at = None
    if message_type is None and document.get("sentAt") is not None:
        sent_at = timestamp_parse(document["sentAt"])
        if sent_at is None:
            raise BodyError(400, "invalid_sent_at", "sentAt must be an ISO-8601 date-time.")
    return Parsed(items=items, api_key=write_key, idempotency_key=headers.get("idempotency-key"), sent_at=sent_at)


def message_id_to_event_id(message_id: str, *, project_id: int) -> str:
    try:
        return str(uuid.UUID(message_id))
    except ValueError:
        return str(uuid.uuid5(MESSAGE_ID_NAMESPACE, f"{project_id}:{message_id}"))


def _present(value: Any) -> bool:
    return value is not None and value != ""


def _object(message: dict, key: str, problems: list) -> dict:
    value = message.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append((key, "must be a JSON object"))
        return {}
    return value


def _timestamp(message: dict, *, sent_at: datetime | None, now: datetime, problems: list) -> datetime | None:
    """``timestamp`` (else ``originalTimestamp``) moved by ``now - sentAt``; None means now."""
    key = "timestamp" if message.get("timestamp") is not None else "originalTimestamp"
    if message.get(key) is None:
        return None
    timestamp = timestamp_parse(message[key])
    if timestamp is None:
        problems.append((key, "must be an ISO-8601 date-time, e.g. 2026-11-22T10:00:00Z"))
        return None
    if message.get("sentAt") is not None:
        sent_at = timestamp_parse(message["sentAt"])
        if sent_at is None:
            problems.append(("sentAt", "must be an ISO-8601 date-time"))
            return None
    corrected = skew_corrected(timestamp, sent_at=sent_at, now=now)
    if corrected is None:
        problems.append((key, "is out of range"))
    return corrected


def message_convert(message: Any, *, project_id: int, sent_at: datetime | None, now: datetime) -> Converted:
    """One Segment message as a native event."""
    if not isinstance(message, dict):
        return Converted(problems=[("type", "each message must be a JSON object")])
    problems: list[tuple[str, str]] = []
    kind = message.get("type")
    if kind not in TYPES:
        allowed = ", ".join(TYPES)
        problems.append(("type", f"{kind!r} is not supported; use one of {allowed}" if isinstance(kind, str) else f"is required: one of {allowed}"))

    properties = dict(_object(message, "properties", problems))
    traits = _object(message, "traits", problems)
    context = _object(message, "context", problems)

    user_id, anonymous_id = message.get("userId"), message.get("anonymousId")
    if kind == "alias":
        for key in ("userId", "previousId"):
            if not _present(message.get(key)):
                problems.append((key, "is required for alias"))
        anonymous_id = message.get("previousId")
    elif not _present(user_id) and not _present(anonymous_id):
        problems.append(("userId", "one of userId or anonymousId is required"))

    name = message.get("event") if kind == "track" else EVENT_NAMES.get(kind) if kind in TYPES else None
    if kind == "track" and not _present(name):
        problems.append(("event", "is required for track"))

    message_id = message.get("messageId")
    if message_id is not None and (
        isinstance(message_id, bool) or not isinstance(message_id, (str, int)) or not 1 <= len(str(message_id)) <= MESSAGE_ID_MAX
    ):
        problems.append(("messageId", f"must be a string of 1 to {MESSAGE_ID_MAX} characters"))

    timestamp = _timestamp(message, sent_at=sent_at, now=now, problems=problems)
    if problems:
        return Converted(problems=problems)

    fields = {"user_id": "userId", "anonymous_id": "previousId" if kind == "alias" else "anonymousId"}
    if kind == "identify":
        properties = {"$set": traits}
        fields["properties"] = "traits"
        if _present(user_id) and _present(anonymous_id):
            properties["$anon_distinct_id"] = anonymous_id
    elif kind == "alias":
        properties = {"alias": user_id, "previousId": anonymous_id}
    elif kind == "page":
        for key in ("name", "category"):
            if _present(message.get(key)):
                properties.setdefault(key, message[key])
    elif kind == "screen":
        if _present(message.get("name")):
            properties.setdefault("$screen_name", message["name"])
        if _present(message.get("category")):
            properties.setdefault("category", message["category"])
    if context:
        properties["$context"] = {k: v for k, v in context.items() if k != "ip"}

    event: dict[str, Any] = {"event": name, "properties": properties}
    if _present(user_id):
        event["user_id"] = user_id
    if _present(anonymous_id):
        event["anonymous_id"] = anonymous_id
    event["distinct_id"] = user_id if _present(user_id) else anonymous_id
    fields["distinct_id"] = fields["user_id"] if _present(user_id) else fields["anonymous_id"]
    if timestamp is not None:
        event["timestamp"] = timestamp.isoformat()
    if message_id is not None:
        event["event_id"] = message_id_to_event_id(str(message_id), project_id=project_id)

    page = context.get("page") if isinstance(context.get("page"), dict) else {}
    library = context.get("library") if isinstance(context.get("library"), dict) else {}
    candidates = {
        "page_url": (properties.get("url") if kind == "page" else None, page.get("url")),
        "referrer": (properties.get("referrer") if kind == "page" else None, page.get("referrer")),
        "source": (library.get("name"),),
    }
    for column, values in candidates.items():
        value = next((text for text in (column_text(v, STRING_LIMITS[column]) for v in values) if text), None)
        if value is not None:
            event[column] = value
    user_agent = context.get("userAgent")
    ip = context.get("ip")
    return Converted(
        event=event,
        fields=fields,
        user_agent=user_agent if isinstance(user_agent, str) and user_agent else None,
        ip=ip if isinstance(ip, str) and ip else None,
    )


def events_convert(parsed: Parsed, *, project_id: int, now: datetime) -> list[Converted]:
    return [message_convert(m, project_id=project_id, sent_at=parsed.sent_at, now=now) for m in parsed.items]


def answer(status: int, body: dict) -> tuple[int, dict]:
    """Segment's answers: ``200 {"success": true}``; errors as ``{"success": false, "code", "message"}``."""
    if status in (200, 202):
        out: dict[str, Any] = {"success": True}
        if body.get("errors"):
            out.update(accepted=body["accepted"], errors=body["errors"])
        return 200, out
    if "error" not in body:  # no message was valid
        return status, {"success": False, "code": "invalid_events", "message": "No message in the request is valid.", "errors": body.get("errors", [])}
    return status, {"success": False, "code": body["error"], "message": body["message"]}


def door(message_type: str | None = None) -> Door:
    """The door of ``/v1/batch`` (None) or of one message type's route."""

    def parse(**kwargs) -> Parsed:
        return request_parse(**kwargs, message_type=message_type)

    return Door("segment", parse, events_convert, answer, missing_key="Send the project API key as the user name of HTTP Basic auth, or as writeKey.")
