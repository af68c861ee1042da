"""The front doors of ingest: one module per wire format, each turning a request into
native events (the fields of :data:`apps.ingest.validation.EVENT_FIELDS`).

A format is two pure steps, so each is tested without a server:

1. ``request_parse(body=, headers=, query=, limits=)`` reads the request: it decodes the
   body and finds the events, the API key and the idempotency key. A request that cannot
   be read at all raises :class:`~apps.ingest.validation.BodyError` (a 4xx for the whole
   request). ``headers`` keys are lower-case.
2. ``events_convert(parsed, project_id=, now=)`` turns each client event into a
   :class:`Converted`: a native event, or the problems that make it none, named by the
   client's own field.

The ingest service (:func:`apps.ingest.services.request_ingest`) then runs every door
through one path: validation, idempotency, the stream. ``answer`` renders that path's
outcome in the format the door's clients expect.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable


@dataclass
class Parsed:
    """A request as read: the client's events, still in its own shape, and what came with them."""

    items: list[Any]
    api_key: str | None
    idempotency_key: str | None = None
    # When the client sent the request, by its own clock (for clock-skew correction).
    sent_at: datetime | None = None


@dataclass
class Converted:
    """One client event as a native event (``problems`` empty), or why it cannot be one."""

    event: Any = None
    # (client field, message): the event is rejected with these, before validation.
    problems: list[tuple[str, str]] = field(default_factory=list)
    # native field -> the client field it came from, so validation errors name the latter.
    fields: dict[str, str] = field(default_factory=dict)
    # What the client reports of the end user's device, instead of the request's own.
    user_agent: str | None = None
    ip: str | None = None


@dataclass(frozen=True)
class Door:
    """A front door: how to read its requests, convert its events, and answer its clients.

    ``answer(status, body)`` takes the native answer (the status and JSON body of
    ``POST /api/v1/events``) and returns the status and body this door's clients expect.
    ``missing_key`` tells a client that sent no key where this door looks for one.
    """

    name: str
    request_parse: Callable[..., Parsed]
    events_convert: Callable[..., list[Converted]]
    answer: Callable[[int, dict], tuple[int, dict]]
    missing_key: str
