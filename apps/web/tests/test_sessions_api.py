"""The sessions insight through its API: the figures against the pure-Python reference
(around midnight and a change of summer time in the project's timezone), the shape, the
per-project gap, and bad input."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.analytics.tests.reference import bucket_of
from apps.persons.tests.histories import history_annotated, history_ingest
from apps.query.dates import date_range_resolve
from apps.web.tests import sessions_reference as ref
from apps.web.tests.test_sessionize import visits
from conftest import MembershipFactory, flush, post_events

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


def last_dst_change(tz: ZoneInfo) -> datetime:
    """The latest change of ``tz``'s UTC offset at least two days ago, to the hour."""
    moment = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
    while (moment - timedelta(hours=1)).astimezone(tz).utcoffset() == moment.astimezone(tz).utcoffset():
        moment -= timedelta(hours=1)
    return moment


# Four hours before the change (01:00 UTC): the visits cross local midnight, then the change.
DST_START = last_dst_change(BERLIN) - timedelta(hours=4)


def insight(client, project, **params):
    response = client.get(f"/api/v1/projects/{project.id}/insights/sessions", params)
    assert response.status_code == 200, response.content
    return response.json()


def expected_figures(found: list[ref.Session]) -> dict:
    figures = ref.summary(found)
    return {
        "sessions": figures["sessions"],
        "mean_duration": pytest.approx(figures["mean_duration"], abs=1e-3),
        "median_duration": pytest.approx(figures["median_duration"], abs=1e-3),
        "bounce_rate": pytest.approx(figures["bounce_rate"], abs=0.01),
        "pageviews_per_session": pytest.approx(figures["pageviews_per_session"], abs=0.01),
    }


def top_pages(found: list[ref.Session], attribute: str) -> list[dict]:
    counts = Counter(getattr(s, attribute) for s in found if getattr(s, attribute))
    return [{"page_url": page, "sessions": n} for page, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]]


@settings(max_examples=15)
@given(events=visits(DST_START), data=st.data(), interval=st.sampled_from(["day", "hour"]), first_day=st.sampled_from([0, 1]))
def test_the_insight_equals_the_reference_across_midnight_and_summer_time(client, ingest_client, events, data, interval, first_day):
    membership = MembershipFactory(project__timezone="Europe/Berlin", project__session_gap_minutes=30)
    project = membership.project
    history_ingest(ingest_client, project, events, data)
    client.force_login(membership.user)
    day = DST_START.astimezone(BERLIN).date()
    params = {"date_from": (day + timedelta(days=first_day)).isoformat(), "date_to": (day + timedelta(days=1)).isoformat(), "interval": interval}
    body = insight(client, project, **params)
    # A filter every event meets: the sessions are worked out from the events themselves,
    # not from their stored quarter hours, and the answer is the same.
    everything = '[{"key": "nowhere", "operator": "not_equals", "value": "x"}]'
    assert insight(client, project, **params, filters=everything) == body

    r = date_range_resolve(params=params, tz_name=project.timezone)
    previous = r.previous()
    both = ref.sessions(history_annotated(events), date_from=previous.date_from, date_to=r.date_to, gap=timedelta(minutes=30))
    current = [s for s in both if s.started_at >= r.date_from]
    before = [s for s in both if s.started_at < r.date_from]
    now, then = expected_figures(current), expected_figures(before)
    assert {m: (c["value"], c["previous"]) for m, c in body["cards"].items()} == {m: (now[m], then[m]) for m in now}
    per_bucket = {start: [s for s in current if bucket_of(s.started_at, interval, BERLIN) == start] for start in r.bucket_starts()}
    expected_series = [expected_figures(found) if found else dict.fromkeys(now, 0) for found in per_bucket.values()]
    assert [dict(zip(body["series"], values)) for values in zip(*body["series"].values())] == expected_series
    assert body["entry_pages"] == top_pages(current, "entry_page")
    assert body["exit_pages"] == top_pages(current, "exit_page")


# --- Worked cases ------------------------------------------------------------------------------

HOUR = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)


def at(minutes: int) -> str:
    return (HOUR + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def visits_sent(ingest_client, member):
    """Ann (an anonymous id, then logged in as ann: one person) views /, then /pricing 30
    minutes later (the same session at a gap of 30), then /docs 31 minutes after that (a new
    one). Bob's session "b1" is a single pageview: a bounce."""
    events = [
        {"event": "$pageview", "anonymous_id": "ann-phone", "page_url": "https://a.test/", "timestamp": at(0)},
        {"event": "$pageview", "user_id": "ann", "anonymous_id": "ann-phone", "page_url": "https://a.test/pricing", "timestamp": at(30)},
        {"event": "$pageview", "user_id": "ann", "page_url": "https://a.test/docs", "timestamp": at(61)},
        {"event": "clicked", "user_id": "ann", "page_url": "https://a.test/docs", "timestamp": at(62)},
        {"event": "$pageview", "user_id": "bob", "session_id": "b1", "page_url": "https://a.test/", "timestamp": at(5)},
    ]
    response = post_events(ingest_client, member.project.api_key, {"events": [{"event_id": str(uuid.uuid4()), **e} for e in events]})
    assert response.status_code == 202, response.json()
    flush()
    return member


def test_the_answer_has_cards_series_and_pages(client, visits_sent):
    client.force_login(visits_sent.user)
    body = insight(client, visits_sent.project, range="7d")
    assert body["gap_minutes"] == 30
    cards = {metric: card["value"] for metric, card in body["cards"].items()}
    assert cards == {"sessions": 3, "mean_duration": 620.0, "median_duration": 60.0, "bounce_rate": 33.33, "pageviews_per_session": 1.33}
    assert body["cards"]["sessions"] == {"value": 3, "previous": 0, "change_pct": None}
    assert len(body["series"]["sessions"]) == len(body["buckets"]) == 7 and sum(body["series"]["sessions"]) == 3
    assert body["entry_pages"] == [{"page_url": "https://a.test/", "sessions": 2}, {"page_url": "https://a.test/docs", "sessions": 1}]
    assert body["exit_pages"] == [
        {"page_url": "https://a.test/", "sessions": 1},
        {"page_url": "https://a.test/docs", "sessions": 1},
        {"page_url": "https://a.test/pricing", "sessions": 1},
    ]
    # A gap of 31 minutes or more keeps Ann's visit whole; the project's setting is the default.
    assert insight(client, visits_sent.project, range="7d", gap="31")["cards"]["sessions"]["value"] == 2
    visits_sent.project.session_gap_minutes = 45
    visits_sent.project.save()
    assert insight(client, visits_sent.project, range="7d")["cards"]["sessions"]["value"] == 2


def test_pages_tied_at_the_tenth_place_are_ranked_by_their_address(client, ingest_client, member):
    """Stored sessions count pages by the hash of their address: every page that can make
    the top 10 is named, and ties are ranked by the address, as from the events."""
    # Sessions with an id, each a single pageview: /p00../p07 begin two each, /p08../p11 one.
    pages = [f"https://a.test/p{i:02d}" for i in range(12)]
    visits = [page for page in pages[:8] for _ in range(2)] + pages[8:]
    events = [
        {"event_id": str(uuid.uuid4()), "event": "$pageview", "distinct_id": f"v{i}", "session_id": f"s{i}", "page_url": page, "timestamp": at(i)}
        for i, page in enumerate(visits)
    ]
    assert post_events(ingest_client, member.project.api_key, {"events": events}).status_code == 202
    flush()
    client.force_login(member.user)
    expected = [{"page_url": page, "sessions": 2} for page in pages[:8]] + [{"page_url": page, "sessions": 1} for page in pages[8:10]]
    body = insight(client, member.project, range="7d")
    assert body["entry_pages"] == body["exit_pages"] == expected
    everything = '[{"key": "nowhere", "operator": "not_equals", "value": "x"}]'
    assert insight(client, member.project, range="7d", filters=everything) == body


@pytest.mark.parametrize(
    "params, field",
    [
        ({"gap": "0"}, "gap"),
        ({"gap": "241"}, "gap"),
        ({"gap": "half an hour"}, "gap"),
        ({"gaps": "30"}, "gaps"),
        ({"preset": "7d"}, "preset"),
        ({"range": "1y"}, "range"),
        ({"interval": "minute"}, "interval"),
        ({"filters": "{nope"}, "filters"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(client, member, params, field):
    client.force_login(member.user)
    response = client.get(f"/api/v1/projects/{member.project.id}/insights/sessions", params)
    assert response.status_code == 400
    assert field in str(response.json())


def test_the_owner_sets_the_gap_in_the_settings(client, member):
    client.force_login(member.user)
    url = f"/projects/{member.project.id}/settings/project/"
    form = {"name": member.project.name, "timezone": "UTC"}
    refused = client.post(url, {**form, "session_gap_minutes": "241"})
    assert "less than or equal to 240" in refused.content.decode()
    member.project.refresh_from_db()
    assert member.project.session_gap_minutes == 30
    client.post(url, {**form, "session_gap_minutes": "90"})
    member.project.refresh_from_db()
    assert member.project.session_gap_minutes == 90
