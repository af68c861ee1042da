"""PulseBoard's own format, ``POST /api/v1/events``: the events are already native.

The body is one event object, or ``{"events": [...]}``, as UTF-8 JSON whatever the
Content-Type says (so ``navigator.sendBeacon`` can send it as ``text/plain``). The key is
``X-API-Key`` or ``api_key`` in the body, the idempotency key ``Idempotency-Key`` or
``idempotency_key`` in the body; the header wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from apps.ingest.formats import Converted, Door, Parsed
from apps.ingest.validation import Limits, body_parse


def request_parse(*, body: bytes, headers: Mapping[str, str], query: Mapping[str, str], limits: Limits) -> Parsed:
    envelope = body_parse(body, limits=limits)
    return Parsed(
        items=envelope.events,
        api_key=headers.get("x-api-key") or envelope.api_key,
        idempotency_key=headers.get("idempotency-key") or envelope.idempotency_key,
    )


def events_convert(parsed: Parsed, *, project_id: int, now: datetime) -> list[Converted]:
    return [Converted(event=item) for item in parsed.items]


def answer(status: int, body: dict) -> tuple[int, dict]:
    return status, body


DOOR = Door("native", request_parse, events_convert, answer, missing_key="Send the project API key in X-API-Key or as api_key.")
