"""Random identity histories for the tests of figures that count persons.

A history is a few days of events of a handful of ids: anonymous visitors, users, devices
merged into users, refused merges and illegal ids, with person properties set on the way.
:func:`history_ingest` sends it through the real ingest path in random batches and order and
flushes; :func:`history_annotated` gives the events as the figure references read them: each
with ``person`` (its person's root id, by the persons reference) and ``person_properties``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

from apps.persons.tests.reference import Persons
from conftest import flush, post_events

USERS = ["u1", "u2", "u3"]
ANONS = ["a1", "a2", "a3", "a4", "a5"]
# A fixed hour a few days back: every figure's range is built around it.
BASE = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(days=4)
NAMES = ["view", "signup", "buy"]
PLANS = ["free", "pro", "team"]


@st.composite
def history_event(draw, base: datetime = BASE) -> dict:
    user = draw(st.sampled_from(["", "", "", *USERS, "null"]))
    anon = draw(st.sampled_from(["", *ANONS, "undefined"]))
    if not user and not anon:
        anon = draw(st.sampled_from(ANONS))
    event = {
        "event": draw(st.sampled_from(NAMES)),
        "event_id": str(draw(st.uuids(version=4))),
        # within three days, at whole minutes: ties in time happen, and go by event id
        "timestamp": (base + timedelta(minutes=draw(st.integers(0, 3 * 24 * 60)))).isoformat(),
        "properties": {"plan": draw(st.sampled_from(PLANS))},
    }
    if draw(st.integers(0, 3)) == 0:
        event["properties"]["$set"] = {"tier": draw(st.sampled_from(PLANS))}
    if draw(st.integers(0, 5)) == 0:
        event["properties"]["$set_once"] = {"tier": draw(st.sampled_from(PLANS)), "source": draw(st.sampled_from(["ad", "seo"]))}
    if user:
        event["user_id"] = user
    if anon:
        event["anonymous_id"] = anon
    return event


histories = st.lists(history_event(), min_size=1, max_size=24)


def histories_from(base: datetime):
    """Histories of the three days from ``base`` (histories start a few days back)."""
    return st.lists(history_event(base), min_size=1, max_size=24)


def history_ingest(client, project, events: list[dict], data) -> None:
    """Send the events in random order and batches through the native door, flushing after each."""
    order = data.draw(st.permutations(events))
    cuts = data.draw(st.lists(st.integers(1, max(1, len(order) - 1)), max_size=3))
    bounds = sorted({0, len(order), *(c for c in cuts if c < len(order))})
    for start, end in zip(bounds, bounds[1:]):
        response = post_events(client, project.api_key, {"events": order[start:end]})
        assert response.status_code == 202, response.json()
        flush()


def history_annotated(events: list[dict]) -> list[dict]:
    """The events as the references read them: aware timestamps, and each event's person
    and that person's current properties."""
    persons = Persons(events)
    annotated = []
    for event in events:
        root = persons.person(event)
        annotated.append(
            {
                **event,
                "distinct_id": event.get("user_id") or event.get("anonymous_id"),
                "timestamp": datetime.fromisoformat(event["timestamp"]),
                "person": root,
                "person_properties": persons.properties(root),
            }
        )
    return annotated
