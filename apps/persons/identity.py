"""Who is who: the rules that merge ids into persons, as pure functions.

An event whose ``user_id`` and ``anonymous_id`` are both set and differ asks to merge the
anonymous id into the person of the user id. Every front door stores identify and alias
calls that way. The facts are applied in the order of the events' time (ties by event id),
whatever order they arrive in, so the outcome never depends on batching:

* an id that is illegal (:data:`ILLEGAL_IDS`, compared trimmed and case-insensitively)
  never merges;
* a merge of an anonymous id that had already been seen as a ``user_id`` (an identified
  person) is refused: two identified persons are never joined;
* a merge of an anonymous id that already belongs to another person is refused for the
  same reason; the first merge of an anonymous id wins, later ones into the same person
  change nothing;
* a person is named by its root id: the user id the anonymous ids were merged into, or,
  if that user id was itself an anonymous id merged into someone before it was ever a user
  id, that someone. Several anonymous ids (devices) may merge into one person.

``apps/persons/services.py`` applies these rules to the facts ClickHouse keeps, and
``tests/reference.py`` checks them against a simulation event by event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

# Ids that clients send when they have none (as PostHog lists them): never merged.
ILLEGAL_IDS = frozenset(
    {
        "anonymous",
        "null",
        "undefined",
        "none",
        "nan",
        "0",
        "true",
        "false",
        "[object object]",
        "guest",
        "distinct_id",
        "id",
        "not_authenticated",
        "email",
        "",
    }
)

# (event time as ClickHouse text or datetime, event id): the order facts are applied in.
Moment = tuple


def id_legal(value: str) -> bool:
    return value.strip().lower() not in ILLEGAL_IDS


@dataclass(frozen=True)
class Merge:
    """An event asked to merge ``anonymous_id`` into the person of ``user_id`` at ``at``."""

    anon_key: int
    user_key: int
    anonymous_id: str
    user_id: str
    at: Moment


@dataclass(frozen=True)
class Refusal:
    merge: Merge
    reason: str  # "illegal_id", "identified", "other_person"


@dataclass(frozen=True)
class Decision:
    """The person an anonymous key belongs to (``target``, 0 when none: it is its own),
    and the merges of it that were refused."""

    target: int
    refused: list[Refusal]


def override_decide(
    *, merges: list[Merge], identified_at: Moment | None, root_of: Callable[[int], int]
) -> Decision:
    """Decide the person of one anonymous key from every merge that names it.

    ``identified_at`` is when the key was first seen as a user id (None: never);
    ``root_of(user_key)`` names the person a user key belongs to."""
    target = 0
    refused: list[Refusal] = []
    for merge in sorted(merges, key=lambda m: m.at):
        if not (id_legal(merge.anonymous_id) and id_legal(merge.user_id)):
            refused.append(Refusal(merge, "illegal_id"))
        elif identified_at is not None and identified_at < merge.at:
            refused.append(Refusal(merge, "identified"))
        elif target == 0:
            target = root_of(merge.user_key)
            if target == merge.anon_key:  # the user's person is this very id: nothing to merge
                target = 0
        elif root_of(merge.user_key) != target:
            refused.append(Refusal(merge, "other_person"))
    return Decision(target=target, refused=refused)


REFUSAL_MESSAGES = {
    "illegal_id": "{anonymous_id!r} was not merged into {user_id!r}: one of them is an id that clients send when they "
    "have none ({illegal}), which never merges.",
    "identified": "{anonymous_id!r} was not merged into {user_id!r}: it had already been seen as a user id, and two "
    "identified persons are never joined.",
    "other_person": "{anonymous_id!r} was not merged into {user_id!r}: it already belongs to another person, and two "
    "identified persons are never joined.",
}


def refusal_message(refusal: Refusal) -> str:
    merge = refusal.merge
    illegal = ", ".join(repr(v) for v in (merge.anonymous_id, merge.user_id) if not id_legal(v))
    return REFUSAL_MESSAGES[refusal.reason].format(anonymous_id=merge.anonymous_id, user_id=merge.user_id, illegal=illegal)
