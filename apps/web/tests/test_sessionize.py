"""The session building block against the pure-Python reference, on random histories sent
through the real ingest path: events with and without a session id, gaps of exactly the
setting, merged persons, and ranges that cut sessions at either end; computed from the
events, and from the stored quarter hours of the sessions with an id."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.persons.tests.histories import BASE, history_annotated, history_event, history_ingest
from apps.web.sessionize import sessionize_params, sessions, stored_sessions, stored_sessions_serve
from apps.web.tests import sessions_reference as ref
from conftest import MembershipFactory, flush, post_events
from pulseboard import clickhouse

pytestmark = pytest.mark.django_db

NAMES = ["$pageview", "$pageview", "$screen", "clicked"]
PAGES = ["https://shop.test/", "https://shop.test/pricing", "https://shop.test/cart"]


# Minutes between one event and the next: exactly the gap (30 or 45), just over it, ties,
# and long pauses.
STEPS = [0, 1, 15, 30, 30, 31, 45, 45, 46, 90, 300]
START = BASE - timedelta(days=2)


@st.composite
def visit_event(draw) -> dict:
    """An event of one of few ids (a1 and a2 merge into u1 when an event carries both), with
    a session id or none, and the minutes since the event before it."""
    event = draw(history_event())
    event.pop("user_id", None)
    event["anonymous_id"] = draw(st.sampled_from(["a1", "a2"]))
    if draw(st.integers(0, 3)) == 0:
        event["user_id"] = "u1"
    event["event"] = draw(st.sampled_from(NAMES))
    event["page_url"] = draw(st.sampled_from(PAGES))
    session = draw(st.sampled_from(["", "", "", "s1", "s2"]))
    if session:
        event["session_id"] = session
    return draw(st.sampled_from(STEPS)), event


@st.composite
def visits(draw, start=START) -> list[dict]:
    """A timeline from ``start``: each event some STEPS after the one before."""
    moment, events = start, []
    for step, event in draw(st.lists(visit_event(), min_size=3, max_size=24)):
        moment += timedelta(minutes=step)
        events.append({**event, "timestamp": moment.isoformat()})
    return events


def found_sessions(project_id: int, *, date_from, date_to, gap_minutes: int, stored: bool = False) -> list[ref.Session]:
    """The sessions of the range, from :func:`sessions`, or from :func:`stored_sessions`
    with their page hashes named again."""
    params = sessionize_params(project_id=project_id, date_from=date_from, date_to=date_to, gap_minutes=gap_minutes)
    if stored:
        assert stored_sessions_serve(params)
        names = dict(clickhouse.query("SELECT cityHash64(arrayJoin({pages:Array(String)}) AS page), page", {"pages": PAGES}).rows)
        rows = clickhouse.query(stored_sessions(pages_from="date_from"), params).dicts()
        for row in rows:
            row["entry_page"], row["exit_page"] = (names.get(row[column], "") for column in ("entry_page", "exit_page"))
    else:
        rows = clickhouse.query(sessions(), params).dicts()
    found = [
        ref.Session(
            started_at=row["started_at"], ended_at=row["ended_at"], events=row["events"], pageviews=row["pageviews"],
            entry_page=row["entry_page"], exit_page=row["exit_page"], bounced=bool(row["bounced"]), person="",
        )
        for row in rows
    ]
    for row, session in zip(rows, found):
        assert row["duration"] == pytest.approx(session.duration)
    return sorted(found, key=lambda s: (s.started_at, s.ended_at, s.events, s.entry_page))


@settings(max_examples=30)
@given(events=visits(), data=st.data(), gap=st.sampled_from([30, 45]), start=st.sampled_from([0, 30, 31, 75]))
def test_sessions_equal_the_reference(ingest_client, events, data, gap, start):
    membership = MembershipFactory()
    history_ingest(ingest_client, membership.project, events, data)
    # From the first event, or from later (sessions begun before are not the range's), to
    # a few hours on (sessions go on past the end).
    date_from, date_to = START + timedelta(minutes=start), START + timedelta(hours=5)
    expected = ref.sessions(history_annotated(events), date_from=date_from, date_to=date_to, gap=timedelta(minutes=gap))
    expected = [ref.Session(**{**s.__dict__, "person": ""}) for s in expected]
    found = found_sessions(membership.project.id, date_from=date_from, date_to=date_to, gap_minutes=gap)
    assert found == expected
    if start % 15 == 0:  # the stored quarter hours serve whole quarter hours only
        assert found_sessions(membership.project.id, date_from=date_from, date_to=date_to, gap_minutes=gap, stored=True) == expected


def test_events_of_the_same_millisecond_are_in_the_order_of_their_ids(ingest_client):
    """A tie in time is broken by event id as ClickHouse orders UUIDs (not as their text
    sorts): the entry and exit pages are those of the first and last event in that order."""
    membership = MembershipFactory()
    at = (START + timedelta(minutes=5)).isoformat()
    # In the reference's order (and ClickHouse's) "ffff…8000…" comes before "0000…9000…",
    # although its text sorts after.
    first, last = "ffffffff-ffff-4fff-8000-000000000000", "00000000-0000-4000-9000-000000000000"
    events = [
        {"event": "$pageview", "distinct_id": "a1", "session_id": "s1", "timestamp": at, "event_id": last, "page_url": "https://shop.test/cart"},
        {"event": "$pageview", "distinct_id": "a1", "session_id": "s1", "timestamp": at, "event_id": first, "page_url": "https://shop.test/"},
    ]
    assert post_events(ingest_client, membership.project.api_key, {"events": events}).status_code == 202
    flush()
    ordered = sorted(({"timestamp": START, "event_id": e["event_id"], "page_url": e["page_url"]} for e in events), key=ref.order)
    assert [e["event_id"] for e in ordered] == [first, last]
    for stored in (False, True):
        found = found_sessions(membership.project.id, date_from=START, date_to=START + timedelta(hours=1), gap_minutes=30, stored=stored)
        assert [(s.entry_page, s.exit_page) for s in found] == [("https://shop.test/", "https://shop.test/cart")]
