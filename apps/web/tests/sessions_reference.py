"""A pure-Python reference of sessions, written from the definition (README, "Sessions").

Events are dicts as :func:`apps.persons.tests.histories.history_annotated` gives them:
an aware ``timestamp``, ``event_id``, ``person`` (the root id of its person), and
optionally ``session_id``, ``event`` and ``page_url``.
"""

from __future__ import annotations

import statistics
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

REACH = timedelta(hours=24)  # how far before and after the range events are looked at


def order(e: dict) -> tuple:
    """Time, then event id as ClickHouse orders UUIDs: the low 64 bits, then the high ones."""
    number = uuid.UUID(e["event_id"]).int
    return e["timestamp"], number & (2**64 - 1), number >> 64


@dataclass(frozen=True)
class Session:
    started_at: datetime
    ended_at: datetime
    events: int
    pageviews: int
    entry_page: str
    exit_page: str
    bounced: bool
    person: str

    @property
    def duration(self) -> float:
        return (self.ended_at - self.started_at).total_seconds()


def _session(events: list[dict]) -> Session:
    events = sorted(events, key=order)
    pages = [e.get("page_url", "") for e in events if e["event"] == "$pageview"]
    return Session(
        started_at=events[0]["timestamp"],
        ended_at=events[-1]["timestamp"],
        events=len(events),
        pageviews=len(pages),
        entry_page=pages[0] if pages else "",
        exit_page=pages[-1] if pages else "",
        bounced=len(events) == 1 and events[0]["event"] in ("$pageview", "$screen"),
        person=events[0]["person"],
    )


def session_groups(events: list[dict], *, date_from: datetime, date_to: datetime, gap: timedelta) -> list[list[dict]]:
    """The events of each session whose first event is in ``[date_from, date_to)``, in
    order, judged on the events within :data:`REACH` of the range."""
    seen = [e for e in events if date_from - REACH <= e["timestamp"] < date_to + REACH]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    per_person: dict[str, list[dict]] = defaultdict(list)
    for e in seen:
        if e.get("session_id"):
            groups[("id", e["session_id"])].append(e)
        else:
            per_person[e["person"]].append(e)
    for person, own in per_person.items():
        number, previous = 0, None
        for e in sorted(own, key=order):
            if previous is None or e["timestamp"] - previous > gap:
                number += 1
            groups[(person, number)].append(e)
            previous = e["timestamp"]
    ordered = [sorted(group, key=order) for group in groups.values()]
    return [group for group in ordered if date_from <= group[0]["timestamp"] < date_to]


def sessions(events: list[dict], *, date_from: datetime, date_to: datetime, gap: timedelta) -> list[Session]:
    """The sessions whose first event is in ``[date_from, date_to)``."""
    found = (_session(group) for group in session_groups(events, date_from=date_from, date_to=date_to, gap=gap))
    return sorted(found, key=lambda s: (s.started_at, s.ended_at, s.events, s.entry_page))


def summary(found: list[Session]) -> dict:
    """The figures of a set of sessions, as the sessions insight's cards give them."""
    count = len(found)
    durations = [s.duration for s in found]
    return {
        "sessions": count,
        "mean_duration": statistics.fmean(durations) if count else 0.0,
        "median_duration": statistics.median(durations) if count else 0.0,
        "bounce_rate": sum(s.bounced for s in found) / count * 100 if count else 0.0,
        "pageviews_per_session": sum(s.pageviews for s in found) / count if count else 0.0,
    }
