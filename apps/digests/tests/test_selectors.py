"""A digest's period and figures: local days and Monday weeks of the project's timezone, the
overview cards against the period before, the top events and each funnel's conversion."""

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import time_machine
from rest_framework.test import APIClient

from apps.analytics import selectors as analytics
from apps.digests.models import Frequency
from apps.digests.selectors import (
    digest_build,
    digest_next_send,
    digest_period_due,
    digest_period_last,
    unsubscribe_token,
    unsubscribe_token_read,
)
from apps.funnels.services import funnel_create
from conftest import flush, post_events

pytestmark = pytest.mark.django_db

NY = ZoneInfo("America/New_York")  # UTC-5 in November
# A Tuesday.
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def seed(project, events):
    assert post_events(APIClient(), project.api_key, {"events": events}).status_code == 202
    flush()


def ev(name, who, at, session=None):
    event = {"event": name, "distinct_id": who, "timestamp": at}
    return {**event, "session_id": session} if session else event


# --- Periods ------------------------------------------------------------------------------------


def test_the_last_day_and_week_are_local():
    # 03:00 UTC on Tuesday is still Monday evening in New York.
    early = datetime(2026, 11, 24, 3, 0, tzinfo=timezone.utc)
    assert digest_period_last(frequency=Frequency.DAILY, tz=NY, now=early).first == date(2026, 11, 22)
    assert digest_period_last(frequency=Frequency.DAILY, tz=ZoneInfo("UTC"), now=early).first == date(2026, 11, 23)
    # Monday 02:00 UTC is Sunday in New York: the last complete week is the one before.
    monday = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)
    week = digest_period_last(frequency=Frequency.WEEKLY, tz=NY, now=monday)
    assert (week.first, week.last) == (date(2026, 11, 16), date(2026, 11, 22))
    week = digest_period_last(frequency=Frequency.WEEKLY, tz=ZoneInfo("UTC"), now=monday)
    assert (week.first, week.last) == (date(2026, 11, 23), date(2026, 11, 29))
    # The range is local midnight to local midnight, in UTC.
    day = digest_period_last(frequency=Frequency.DAILY, tz=NY, now=NOW).date_range()
    assert (day.date_from, day.date_to) == (datetime(2026, 11, 23, 5, tzinfo=timezone.utc), datetime(2026, 11, 24, 5, tzinfo=timezone.utc))


@pytest.mark.parametrize(
    ("frequency", "now", "expected"),
    [
        # Daily: due from 08:00 local on the next day, until that day ends.
        ("daily", datetime(2026, 11, 24, 12, 59, tzinfo=timezone.utc), None),  # 07:59 in New York
        ("daily", datetime(2026, 11, 24, 13, 0, tzinfo=timezone.utc), date(2026, 11, 23)),  # 08:00
        ("daily", datetime(2026, 11, 25, 4, 59, tzinfo=timezone.utc), date(2026, 11, 23)),  # 23:59
        ("daily", datetime(2026, 11, 25, 5, 0, tzinfo=timezone.utc), None),  # the next midnight: before 08:00
        # Weekly: due on Monday from 08:00 local, for the Monday-Sunday week before.
        ("weekly", datetime(2026, 11, 30, 12, 59, tzinfo=timezone.utc), None),
        ("weekly", datetime(2026, 11, 30, 13, 0, tzinfo=timezone.utc), date(2026, 11, 23)),
        ("weekly", datetime(2026, 12, 1, 4, 59, tzinfo=timezone.utc), date(2026, 11, 23)),  # Monday 23:59
        ("weekly", datetime(2026, 12, 1, 13, 0, tzinfo=timezone.utc), None),  # Tuesday
        ("off", datetime(2026, 11, 30, 13, 0, tzinfo=timezone.utc), None),
    ],
)
def test_due_periods_in_the_project_timezone(frequency, now, expected):
    period = digest_period_due(frequency=frequency, tz=NY, now=now, send_hour=8)
    assert (period.first if period else None) == expected


def test_unsubscribe_tokens_are_signed():
    token = unsubscribe_token(project_id=12, user_id=34)
    assert unsubscribe_token_read(token) == (12, 34)
    assert unsubscribe_token_read(token[:-2] + "xx") is None
    assert unsubscribe_token_read("12:34") is None


# --- Figures ------------------------------------------------------------------------------------


def test_the_digest_holds_the_overview_figures_of_the_local_day(member):
    project = member.project
    project.timezone = "America/New_York"
    project.save()
    seed(
        project,
        [
            # Sunday 22 Nov in New York (the day before the period).
            ev("pageview", "ann", "2026-11-22T15:00:00Z", session="s0"),
            ev("pageview", "ann", "2026-11-23T04:30:00Z", session="s0"),
            # Monday 23 Nov in New York: 05:00Z to 05:00Z the next day.
            ev("pageview", "ann", "2026-11-23T05:30:00Z", session="s1"),
            ev("pageview", "bob", "2026-11-23T12:00:00Z", session="s2"),
            ev("signed_up", "bob", "2026-11-23T12:01:00Z", session="s2"),
            ev("pageview", "cyd", "2026-11-24T04:59:00Z", session="s3"),
            ev("purchase", "bob", "2026-11-24T04:59:59Z", session="s2"),
            # Tuesday in New York: not in the period.
            ev("pageview", "dan", "2026-11-24T05:01:00Z"),
        ],
    )
    period = digest_period_last(frequency=Frequency.DAILY, tz=NY, now=NOW)
    digest = digest_build(project=project, period=period)
    cards = {card["key"]: card for card in digest["cards"]}
    # Hand-computed from the events above.
    assert cards["events"] == {"key": "events", "label": "Events", "value": 5, "previous": 2, "change_pct": 150.0}
    assert (cards["users"]["value"], cards["users"]["previous"], cards["users"]["change_pct"]) == (3, 1, 200.0)
    assert (cards["sessions"]["value"], cards["sessions"]["previous"]) == (3, 1)
    assert cards["events_per_user"]["value"] == round(5 / 3, 2)
    # The same as the overview's selector answers over that day.
    overview = analytics.overview(project_id=project.id, date_range=period.date_range())
    assert {key: {k: v for k, v in card.items() if k not in ("key", "label")} for key, card in cards.items()} == overview["cards"]
    assert digest["top_events"] == [
        {"event": "pageview", "count": 3, "users": 3},
        {"event": "purchase", "count": 1, "users": 1},
        {"event": "signed_up", "count": 1, "users": 1},
    ]
    assert digest["has_events"] and digest["period"]["label"] == "Mon 23 Nov 2026"
    assert digest["urls"]["overview"].startswith("http") and "date_from=2026-11-23" in digest["urls"]["overview"]


def test_the_weekly_digest_compares_with_the_week_before(member):
    project = member.project
    seed(
        project,
        [
            ev("pageview", "ann", "2026-11-10T10:00:00Z"),  # the week of 9 Nov
            ev("pageview", "ann", "2026-11-16T00:00:00Z"),  # Monday 16 Nov, first instant of the week
            ev("pageview", "bob", "2026-11-22T23:59:59Z"),  # Sunday 22 Nov, last second
            ev("pageview", "ann", "2026-11-23T00:00:00Z"),  # the current week
        ],
    )
    period = digest_period_last(frequency=Frequency.WEEKLY, tz=ZoneInfo("UTC"), now=NOW)
    assert (period.first, period.last) == (date(2026, 11, 16), date(2026, 11, 22))
    digest = digest_build(project=project, period=period)
    events = digest["cards"][0]
    assert (events["value"], events["previous"], events["change_pct"]) == (2, 1, 100.0)
    assert digest["top_events"] == [{"event": "pageview", "count": 2, "users": 2}]
    assert digest["period"]["label"] == "16 – 22 Nov 2026"


def test_each_saved_funnel_converts_over_the_period(member):
    project = member.project
    steps = [{"event": "signed_up", "filters": []}, {"event": "purchase", "filters": []}]
    funnel = funnel_create(project=project, name="Signup to purchase", steps=steps, created_by=member.user)
    seed(
        project,
        [
            ev("signed_up", "ann", "2026-11-23T09:00:00Z"),
            ev("purchase", "ann", "2026-11-23T09:30:00Z"),
            ev("signed_up", "bob", "2026-11-23T10:00:00Z"),
            ev("signed_up", "cyd", "2026-11-23T11:00:00Z"),
            ev("purchase", "cyd", "2026-11-23T12:00:00Z"),
            ev("signed_up", "dan", "2026-11-22T11:00:00Z"),  # entered the day before: not counted
        ],
    )
    period = digest_period_last(frequency=Frequency.DAILY, tz=ZoneInfo("UTC"), now=NOW)
    [row] = digest_build(project=project, period=period)["funnels"]
    assert row["id"] == funnel.id and row["name"] == "Signup to purchase"
    assert (row["entered"], row["completed"]) == (3, 2)
    assert row["conversion_pct"] == round(2 / 3 * 100, 2)
    assert [step["count"] for step in row["steps"]] == [3, 2]
    assert row["url"].endswith(f"/projects/{project.id}/funnels/{funnel.id}/?date_from=2026-11-23&date_to=2026-11-23&interval=day")


def test_an_empty_project_has_a_sensible_digest(member):
    period = digest_period_last(frequency=Frequency.DAILY, tz=ZoneInfo("UTC"), now=NOW)
    digest = digest_build(project=member.project, period=period)
    assert not digest["has_events"] and not digest["had_events_before"]
    assert [card["value"] for card in digest["cards"]] == [0, 0, 0, 0.0]
    assert all(card["change_pct"] is None for card in digest["cards"])
    assert digest["top_events"] == [] and digest["funnels"] == []


def test_a_digest_reads_its_own_project_only(member):
    from conftest import ProjectFactory

    other = ProjectFactory()
    seed(other, [ev("pageview", "eve", "2026-11-23T10:00:00Z")])
    period = digest_period_last(frequency=Frequency.DAILY, tz=ZoneInfo("UTC"), now=NOW)
    assert digest_build(project=member.project, period=period)["cards"][0]["value"] == 0
    assert digest_build(project=other, period=period)["cards"][0]["value"] == 1


def test_a_day_with_a_clock_change_is_the_whole_local_day(member):
    """1 Nov 2026 in New York lasts 25 hours (EDT to EST): all of them are in its digest."""
    project = member.project
    project.timezone = "America/New_York"
    project.save()
    seed(
        project,
        [
            ev("pageview", "ann", "2026-11-01T03:59:00Z"),  # 31 Oct, 23:59 EDT
            ev("pageview", "ann", "2026-11-01T04:00:00Z"),  # 1 Nov, 00:00 EDT
            ev("pageview", "bob", "2026-11-02T04:59:00Z"),  # 1 Nov, 23:59 EST
            ev("pageview", "bob", "2026-11-02T05:00:00Z"),  # 2 Nov, 00:00 EST
        ],
    )
    period = digest_period_last(frequency=Frequency.DAILY, tz=NY, now=datetime(2026, 11, 2, 14, tzinfo=timezone.utc))
    assert period.first == date(2026, 11, 1)
    date_range = period.date_range()
    assert date_range.date_to - date_range.date_from == timedelta(hours=25)
    digest = digest_build(project=project, period=period)
    assert (digest["cards"][0]["value"], digest["cards"][1]["value"]) == (2, 2)


@pytest.mark.parametrize(
    ("frequency", "now", "sent", "expected"),
    [
        ("daily", datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc), set(), datetime(2026, 11, 24, 13, 0, tzinfo=timezone.utc)),
        ("daily", datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc), set(), datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc)),
        ("daily", datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc), {date(2026, 11, 23)}, datetime(2026, 11, 25, 13, 0, tzinfo=timezone.utc)),
        ("weekly", datetime(2026, 11, 25, 14, 0, tzinfo=timezone.utc), set(), datetime(2026, 11, 30, 13, 0, tzinfo=timezone.utc)),
        ("weekly", datetime(2026, 11, 30, 14, 0, tzinfo=timezone.utc), {date(2026, 11, 23)}, datetime(2026, 12, 7, 13, 0, tzinfo=timezone.utc)),
        ("off", datetime(2026, 11, 30, 14, 0, tzinfo=timezone.utc), set(), None),
    ],
)
def test_the_next_send(frequency, now, sent, expected):
    assert digest_next_send(frequency=frequency, tz=NY, now=now, sent_first_days=sent, send_hour=8) == expected
