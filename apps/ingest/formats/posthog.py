"""PostHog's capture API (``/e/``, ``/batch/``, ``/capture/``, ``/i/v0/e/``, ``/track/``), so
posthog-js and posthog-python work unchanged with their host pointed at PulseBoard.

Body, in this order:

* gzip, found by its magic bytes whatever the headers or ``compression`` say;
* a form (``application/x-www-form-urlencoded``, or a body starting ``data=``): its ``data``
  field is LZ-string base64 with ``compression=lz64`` (query or form), JSON text if it
  starts with ``{`` or ``[``, and base64 otherwise;
* ``compression=base64`` or ``compression=lz64`` on a raw body: the body is encoded so;
* otherwise the body is JSON.

The JSON is a list of events, ``{"api_key"|"token": ..., "batch": [...], "sent_at": ...}``,
or one event. The token is the batch's ``api_key``, then its ``token``, then the first
event's ``token``, ``$token``, ``api_key`` or ``properties.token``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import orjson

from apps.ingest.formats import Converted, Door, Parsed
from apps.ingest.formats.encoding import (
    GZIP_MAGIC,
    base64_decode,
    column_text,
    epoch_ms_parse,
    gunzip,
    json_parse,
    lz64_decompress,
    millis_before,
    skew_corrected,
    timestamp_parse,
    too_large,
)
from apps.ingest.validation import STRING_LIMITS, BodyError, Limits, items_check

COMPRESSIONS = ("", "gzip", "gzip-js", "base64", "lz64")
EVENT_TOKEN_KEYS = ("token", "$token", "api_key")
# Properties copied to columns (the property stays): property -> column.
PROPERTY_COLUMNS = {"$current_url": "page_url", "$referrer": "referrer", "$session_id": "session_id", "$lib": "source"}
# posthog-js reports "no referrer" as this value.
NO_REFERRER = "$direct"
UNSUPPORTED_EVENTS = {
    "$snapshot": "session recordings ($snapshot) are not supported",
    "$snapshot_items": "session recordings ($snapshot_items) are not supported",
}


def _form_decode(body: bytes, compression: str, limit: int) -> bytes:
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as exc:
        raise BodyError(400, "invalid_utf8", f"The form body is not valid UTF-8: {exc}") from None
    if "data" not in form:
        raise BodyError(400, "invalid_body", "A form body needs a 'data' field.")
    data = form["data"][0]
    compression = compression or form.get("compression", [""])[0].lower()
    if compression == "lz64":
        return lz64_decompress(data, limit=limit)
    if compression != "base64" and data.lstrip()[:1] in ("{", "["):
        return data.encode()
    decoded = base64_decode(data)
    return gunzip(decoded, limit=limit) if decoded.startswith(GZIP_MAGIC) else decoded


def body_decode(body: bytes, *, headers: Mapping[str, str], query: Mapping[str, str], limits: Limits) -> bytes:
    """The JSON bytes of a PostHog request body, however it was encoded."""
    limit = limits.max_body_bytes
    if len(body) > limit:
        raise too_large(limit)
    compression = (query.get("compression") or "").lower()
    if compression not in COMPRESSIONS:
        raise BodyError(400, "invalid_compression", f"Unknown compression {compression!r}; use gzip-js, base64 or lz64.")
    if body.startswith(GZIP_MAGIC):
        return gunzip(body, limit=limit)
    if compression in ("gzip", "gzip-js") or "gzip" in headers.get("content-encoding", "").lower():
        raise BodyError(400, "invalid_gzip", "The body is declared gzip but does not start like gzip.")
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded" or body.startswith(b"data="):
        return _form_decode(body, compression, limit)
    if compression == "base64":
        return base64_decode(body)
    if compression == "lz64":
        return lz64_decompress(body, limit=limit)
    return body


def _event_token(item: Any) -> tuple[str, str] | None:
    """(field, token): the first of the event's ``token``, ``$token``, ``api_key``, ``properties.token``."""
    if not isinstance(item, dict):
        return None
    for key in EVENT_TOKEN_KEYS:
        if isinstance(item.get(key), str) and item[key]:
            return key, item[key]
    properties = item.get("properties")
    if isinstance(properties, dict) and isinstance(properties.get("token"), str) and properties["token"]:
        return "properties.token", properties["token"]
    return None


def _sent_at(envelope: dict, query: Mapping[str, str]) -> datetime | None:
    if envelope.get("sent_at") is not None:
        sent_at = timestamp_parse(envelope["sent_at"])
        if sent_at is None:
            raise BodyError(400, "invalid_sent_at", "sent_at must be an ISO-8601 date-time.")
        return sent_at
    for name in ("sent_at", "_"):  # posthog-js puts the send time (ms) in the query
        if query.get(name):
            sent_at = epoch_ms_parse(query[name])
            if sent_at is None:
                raise BodyError(400, "invalid_sent_at", f"The query parameter {name} must be milliseconds since the epoch.")
            return sent_at
    return None


def request_parse(*, body: bytes, headers: Mapping[str, str], query: Mapping[str, str], limits: Limits) -> Parsed:
    document = json_parse(body_decode(body, headers=headers, query=query, limits=limits))
    envelope: dict = {}
    if isinstance(document, list):
        items = items_check(document, field="body", noun="event", limits=limits)
    elif isinstance(document, dict) and "batch" in document:
        envelope, items = document, items_check(document["batch"], field="batch", noun="event", limits=limits)
    elif isinstance(document, dict):
        envelope, items = document, [document]
    else:
        raise BodyError(400, "invalid_body", "The body must be a list of events, {\"batch\": [...]}, or one event.")

    api_key = next((envelope[k] for k in ("api_key", "token") if isinstance(envelope.get(k), str) and envelope[k]), None)
    if api_key is None:
        api_key = next((found[1] for found in map(_event_token, items) if found), None)
    return Parsed(items=items, api_key=api_key, idempotency_key=headers.get("idempotency-key"), sent_at=_sent_at(envelope, query))


def _timestamp(item: dict, properties: dict, *, sent_at: datetime | None, now: datetime, problems: list) -> datetime | None:
    """``timestamp`` corrected by ``now - sent_at``; else ``now - offset``; else None (now)."""
    if item.get("timestamp") is not None:
        timestamp = timestamp_parse(item["timestamp"])
        if timestamp is None:
            problems.append(("timestamp", "must be an ISO-8601 date-time, e.g. 2026-11-22T10:00:00Z"))
            return None
        if properties.get("$ignore_sent_at") is True:
            sent_at = None
        corrected = skew_corrected(timestamp, sent_at=sent_at, now=now)
        if corrected is None:
            problems.append(("timestamp", "is out of range"))
        return corrected
    if item.get("offset") is not None:
        timestamp = millis_before(now, item["offset"])
        if timestamp is None:
            problems.append(("offset", "must be a whole number of milliseconds, 0 or more"))
        return timestamp
    return None


def event_convert(item: Any, *, api_key: str | None, sent_at: datetime | None, now: datetime) -> Converted:
    """One PostHog event as a native event."""
    if not isinstance(item, dict):
        return Converted(problems=[("event", "each event must be a JSON object")])
    problems: list[tuple[str, str]] = []
    fields: dict[str, str] = {}

    raw_properties = item.get("properties")
    if raw_properties is None:
        raw_properties = {}
    elif not isinstance(raw_properties, dict):
        problems.append(("properties", "must be a JSON object"))
        raw_properties = {}
    properties = {k: v for k, v in raw_properties.items() if k not in ("token", "$token")}
    for key in ("$set", "$set_once"):  # person properties may ride at the top level
        if item.get(key) is not None and key not in properties:
            properties[key] = item[key]

    token = _event_token(item)
    if token is not None and token[1] != api_key:
        problems.append((token[0], "differs from the token of the request"))

    name = item.get("event")
    if isinstance(name, str) and name in UNSUPPORTED_EVENTS:
        problems.append(("event", UNSUPPORTED_EVENTS[name]))

    distinct_id = item.get("distinct_id")
    if distinct_id is None and raw_properties.get("distinct_id") is not None:
        distinct_id = raw_properties["distinct_id"]
        fields["distinct_id"] = "properties.distinct_id"
    if distinct_id is None:
        problems.append(("distinct_id", "is required (distinct_id, or properties.distinct_id)"))

    timestamp = _timestamp(item, properties, sent_at=sent_at, now=now, problems=problems)
    if problems:
        return Converted(problems=problems)

    event: dict[str, Any] = {"event": name, "distinct_id": distinct_id, "properties": properties}
    if timestamp is not None:
        event["timestamp"] = timestamp.isoformat()
    if item.get("uuid") is not None:
        event["event_id"] = item["uuid"]
        fields["event_id"] = "uuid"
    for prop, column in PROPERTY_COLUMNS.items():
        value = column_text(properties.get(prop), STRING_LIMITS[column])
        if value is not None and not (prop == "$referrer" and value == NO_REFERRER):
            event[column] = value

    # Identity: the id that stays is user_id, the id merged into it anonymous_id.
    if name == "$identify":
        event["user_id"] = distinct_id
        fields["user_id"] = fields.get("distinct_id", "distinct_id")
        if properties.get("$anon_distinct_id") not in (None, ""):
            event["anonymous_id"] = properties["$anon_distinct_id"]
            fields["anonymous_id"] = "properties.$anon_distinct_id"
    elif name == "$create_alias":
        if properties.get("alias") in (None, ""):
            return Converted(problems=[("properties.alias", "is required for $create_alias")])
        event["user_id"] = properties["alias"]
        fields["user_id"] = "properties.alias"
        event["anonymous_id"] = distinct_id
        fields["anonymous_id"] = fields.get("distinct_id", "distinct_id")
    return Converted(event=event, fields=fields)


def events_convert(parsed: Parsed, *, project_id: int, now: datetime) -> list[Converted]:
    return [event_convert(item, api_key=parsed.api_key, sent_at=parsed.sent_at, now=now) for item in parsed.items]


def answer(status: int, body: dict) -> tuple[int, dict]:
    """PostHog's answers: ``200 {"status": 1}``; errors as ``{"type", "code", "detail"}``."""
    if status in (200, 202):
        out: dict[str, Any] = {"status": 1}
        if body.get("errors"):
            out.update(accepted=body["accepted"], errors=body["errors"])
        return 200, out
    if "error" not in body:  # no event was valid
        return status, {"type": "validation_error", "code": "invalid_events", "detail": "No event in the request is valid.", "errors": body.get("errors", [])}
    kind = "authentication_error" if status == 401 else "server_error" if status >= 500 else "validation_error"
    return status, {"type": kind, "code": body["error"], "detail": body["message"]}


DOOR = Door("posthog", request_parse, events_convert, answer, missing_key="Send the project API key as api_key or token, in the batch or in each event.")


# --- Feature flags and remote config: PostHog features PulseBoard does not have -------------


def remote_config(token: str) -> dict[str, Any]:
    """posthog-js's remote config with every server-side feature off: events only."""
    return {
        "token": token,
        "supportedCompression": ["gzip", "gzip-js"],
        "hasFeatureFlags": False,
        "autocapture_opt_out": False,
        "autocaptureExceptions": False,
        "errorTracking": {"autocaptureExceptions": False, "suppressionRules": []},
        "capturePerformance": False,
        "captureDeadClicks": False,
        "heatmaps": False,
        "elementsChainAsString": True,
        "sessionRecording": False,
        "productTours": False,
        "conversations": False,
        "logs": {"captureConsoleLogs": False},
        "siteApps": [],
        "toolbarParams": {},
        "isAuthenticated": False,
        "defaultIdentifiedOnly": True,
    }


def remote_config_js(token: str) -> str:
    """The script form of :func:`remote_config` (``/array/<token>/config.js``)."""
    config = orjson.dumps({"config": remote_config(token), "siteApps": []}).decode()
    key = orjson.dumps(token).decode()
    return f"(function(){{var w=window;w._POSTHOG_REMOTE_CONFIG=w._POSTHOG_REMOTE_CONFIG||{{}};w._POSTHOG_REMOTE_CONFIG[{key}]={config};}})();\n"


def flags_answer(token: str) -> dict[str, Any]:
    """``/flags/`` and ``/decide/``: no feature flag is defined, so none is enabled."""
    return {
        **remote_config(token),
        "flags": {},
        "featureFlags": {},
        "featureFlagPayloads": {},
        "errorsWhileComputingFlags": False,
        "quotaLimited": [],
        "requestId": str(uuid.uuid4()),
    }


def flags_token(*, body: bytes, headers: Mapping[str, str], query: Mapping[str, str], limits: Limits) -> str | None:
    """The project token of a flags request: ``token`` or ``api_key`` in its body, or ``token`` in the query."""
    document: Any = {}
    if body.strip():
        document = json_parse(body_decode(body, headers=headers, query=query, limits=limits))
    if not isinstance(document, dict):
        raise BodyError(400, "invalid_body", "The body must be a JSON object.")
    for token in (document.get("token"), document.get("api_key"), query.get("token")):
        if isinstance(token, str) and token:
            return token
    return None
