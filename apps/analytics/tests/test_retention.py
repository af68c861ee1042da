"""Retention through the API against the pure-Python reference, and worked cases.

Random identity histories (merged ids, refused merges, illegal ids) go through the real
ingest path; the cohorts of the API equal the reference's over the persons the persons
reference says each event belongs to, in timezones with quarter-hour offsets (Kathmandu),
at day and week periods, for both types; and histories across New York's end of summer
time, a month's end and a week's, with the clock pinned after them.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta, timezone
from html import unescape
from zoneinfo import ZoneInfo

import orjson
import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from django.test import Client
from rest_framework.test import APIClient

from apps.analytics.tests import reference as ref
from apps.persons.tests.histories import BASE, NAMES, history_annotated, history_ingest, histories, histories_from
from apps.projects.services import personal_api_key_create
from conftest import PASSWORD, MembershipFactory, flush, post_events

pytestmark = pytest.mark.django_db

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
# The histories span three days from BASE; the figures are asked for as of a moment inside them.
NOW = BASE + timedelta(days=2, hours=7)


def client_for(membership) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {personal_api_key_create(user=membership.user, label='t').secret}")
    return client


def get_retention(client, project, now=NOW, **params):
    with time_machine.travel(now, tick=False):
        return client.get(f"/api/v1/projects/{project.id}/insights/retention", params)


def first_day(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1) if period == "month" else day


@FAST
@given(
    events=histories,
    data=st.data(),
    tz_name=st.sampled_from(["America/New_York", "Asia/Kathmandu", "UTC"]),
    period=st.sampled_from(["day", "week"]),
    retention_type=st.sampled_from(["recurring", "first_time"]),
    start_event=st.sampled_from([*NAMES, "$any_event"]),
    return_event=st.sampled_from([*NAMES, "$any_event"]),
    # from before the data, or from its second day: first start events before the range
    from_offset=st.sampled_from([-1, 1]),
    start_filters=st.sampled_from([[], [{"key": "plan", "operator": "equals", "value": "pro"}], [{"key": "tier", "operator": "is_set", "type": "person"}]]),
)
def test_retention_equals_the_reference(ingest_client, events, data, tz_name, period, retention_type, start_event, return_event, from_offset, start_filters):
    membership = MembershipFactory(project__timezone=tz_name)
    project = membership.project
    history_ingest(ingest_client, project, events, data)
    tz = ZoneInfo(tz_name)
    date_from = (BASE + timedelta(days=from_offset)).astimezone(tz).date()
    date_to = (BASE + timedelta(days=3)).astimezone(tz).date()
    response = get_retention(
        client_for(membership), project, start_event=start_event, return_event=return_event, period=period, periods=4,
        retention_type=retention_type, date_from=date_from.isoformat(), date_to=date_to.isoformat(), start_filters=orjson.dumps(start_filters).decode(),
    )
    assert response.status_code == 200, response.content
    body = response.json()
    first = first_day(date_from, period)
    cohorts = len(body["cohorts"])
    assert cohorts == ref._periods_between(first, first_day(date_to, period), period) + 1
    expected = ref.retention(
        history_annotated(events), start_event=start_event, return_event=return_event, period=period, periods=4, retention_type=retention_type,
        first_cohort=first, cohorts=cohorts, tz=tz, now=NOW, start_filters=start_filters,
    )
    assert body["cohorts"] == expected


# --- Worked cases ----------------------------------------------------------------------------------

# Mondays in UTC: the cohorts of these cases are whole weeks well in the past.
WEEK0 = first_day((datetime.now(timezone.utc) - timedelta(weeks=10)).date(), "week")


def at(week: int, day: int = 0, hour: int = 12) -> str:
    return datetime.combine(WEEK0 + timedelta(weeks=week, days=day), datetime.min.time(), tzinfo=timezone.utc).replace(hour=hour).isoformat()


def send(ingest_client, project, events):
    response = post_events(ingest_client, project.api_key, {"events": [{"event_id": str(uuid.uuid4()), **e} for e in events]})
    assert response.status_code == 202, response.json()
    flush()


@pytest.fixture
def weekly(ingest_client, member):
    """Ann signs up in week 0 after browsing anonymously, comes back in week 1 on her old
    anonymous id and in week 3 as herself; Bob signed up before the range and comes back in
    weeks 0 and 1; Cy signs up in week 1 and views again only that same week."""
    project = member.project
    send(ingest_client, project, [
        {"event": "$pageview", "anonymous_id": "ann-anon", "timestamp": at(0, 0)},
        {"event": "signed_up", "user_id": "ann", "anonymous_id": "ann-anon", "timestamp": at(0, 1)},
        {"event": "$pageview", "anonymous_id": "ann-anon", "timestamp": at(1, 2)},
        {"event": "$pageview", "user_id": "ann", "timestamp": at(3, 4)},
        {"event": "signed_up", "user_id": "bob", "timestamp": at(-2)},
        {"event": "$pageview", "user_id": "bob", "timestamp": at(0, 3)},
        {"event": "signed_up", "user_id": "bob", "timestamp": at(1, 1)},
        {"event": "signed_up", "user_id": "cy", "timestamp": at(1, 0)},
        {"event": "$pageview", "user_id": "cy", "timestamp": at(1, 5)},
    ])
    return project, client_for(member)


def cohorts(body):
    return [(c["date"], c["values"]) for c in body["cohorts"]]


def test_a_merged_person_comes_back_under_either_id(weekly):
    project, client = weekly
    body = get_retention(client, project, now=datetime.now(timezone.utc), start_event="signed_up", return_event="$pageview", period="week",
                         periods=4, date_from=at(0)[:10], date_to=at(1)[:10]).json()
    # week 0: Ann (back in weeks 1 and 3); week 1: Bob (no pageview after week 1) and Cy (same week only)
    assert cohorts(body) == [(WEEK0.isoformat(), [1, 1, 0, 1]), ((WEEK0 + timedelta(weeks=1)).isoformat(), [2, 0, 0, 0])]
    assert all(all(c["complete"]) for c in body["cohorts"])


def test_first_time_cohorts_leave_out_who_started_before(weekly):
    project, client = weekly
    params = {"start_event": "signed_up", "return_event": "$pageview", "period": "week", "periods": 2, "date_from": at(0)[:10], "date_to": at(1)[:10]}
    recurring = get_retention(client, project, now=datetime.now(timezone.utc), **params).json()
    first_time = get_retention(client, project, now=datetime.now(timezone.utc), retention_type="first_time", **params).json()
    assert [c["size"] for c in recurring["cohorts"]] == [1, 2]  # Bob signs up again in week 1
    assert [c["size"] for c in first_time["cohorts"]] == [1, 1]  # Bob's first sign-up is week -2


def test_a_return_in_the_start_period_is_not_a_return(weekly):
    project, client = weekly
    body = get_retention(client, project, now=datetime.now(timezone.utc), start_event="signed_up", return_event="$pageview", period="week",
                         periods=3, date_from=at(1)[:10], date_to=at(1)[:10]).json()
    assert cohorts(body) == [((WEEK0 + timedelta(weeks=1)).isoformat(), [2, 0, 0])]  # Cy viewed in week 1 only


def test_periods_that_have_not_begun_are_left_out_and_the_current_one_is_incomplete(weekly):
    project, client = weekly
    now = datetime.fromisoformat(at(1, 2))  # the Wednesday of week 1
    body = get_retention(client, project, now=now, start_event="signed_up", return_event="$any_event", period="week", periods=4,
                         date_from=at(0)[:10], date_to=at(1)[:10]).json()
    assert [c["values"] for c in body["cohorts"]] == [[1, 1], [2]]
    assert [c["complete"] for c in body["cohorts"]] == [[True, False], [False]]


def test_without_dates_the_cohorts_are_the_last_periods(weekly):
    project, client = weekly
    body = get_retention(client, project, now=datetime.now(timezone.utc), start_event="signed_up", period="day", periods=5).json()
    today = datetime.now(ZoneInfo(project.timezone)).date()
    assert [c["date"] for c in body["cohorts"]] == [(today - timedelta(days=4 - i)).isoformat() for i in range(5)]
    assert body["buckets"] == [c["date"] for c in body["cohorts"]]
    assert body["return_event"] == "signed_up" and body["period"] == "day" and body["retention_type"] == "recurring"


@pytest.mark.parametrize(
    "params, field",
    [
        ({}, "start_event"),
        ({"start_event": "a", "period": "year"}, "period"),
        ({"start_event": "a", "periods": "0"}, "periods"),
        ({"start_event": "a", "periods": "31"}, "periods"),
        ({"start_event": "a", "retention_type": "sometimes"}, "retention_type"),
        ({"start_event": "a", "period": "day", "date_from": "2020-01-01", "date_to": "2026-01-01"}, "date_from"),
        ({"start_event": "a", "date_from": "2026-02-01"}, "date_to"),
        ({"start_event": "a", "start_filters": "[{}]"}, "start_filters"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(member, params, field):
    response = get_retention(client_for(member), member.project, **params)
    assert response.status_code == 400
    body = response.json()
    assert field in str(body), body
    if field == "date_from" and "period" in params:
        assert "at most 366 day cohorts" in str(body)


def cell(client, project, **params):
    base = {"start_event": "signed_up", "return_event": "$pageview", "period": "week", "periods": 4, "date_from": at(0)[:10], "date_to": at(1)[:10]}
    response = client.get(f"/api/v1/projects/{project.id}/insights/retention/persons", {**base, **params})
    assert response.status_code == 200, response.content
    return sorted(sorted(p["distinct_ids"]) for p in response.json()["results"])


def test_a_cell_lists_who_came_back_and_who_did_not(weekly):
    project, client = weekly
    week0, week1 = WEEK0.isoformat(), (WEEK0 + timedelta(weeks=1)).isoformat()
    assert cell(client, project, cohort=week0, index=0) == [["ann", "ann-anon"]]
    assert cell(client, project, cohort=week0, index=1, returned="true") == [["ann", "ann-anon"]]  # on her anonymous id
    assert cell(client, project, cohort=week0, index=2, returned="false") == [["ann", "ann-anon"]]
    assert cell(client, project, cohort=week1, index=1, returned="false") == [["bob"], ["cy"]]
    assert cell(client, project, cohort=week1, index=1, returned="true") == []
    # any day of the cohort's week names it
    assert cell(client, project, cohort=(WEEK0 + timedelta(days=3)).isoformat(), index=3) == [["ann", "ann-anon"]]


@pytest.mark.parametrize("params, field", [({"cohort": "soon"}, "cohort"), ({"cohort": "2001-01-01"}, "cohort"), ({"index": "9"}, "index"), ({"returned": "maybe"}, "returned")])
def test_a_bad_cell_is_a_400(weekly, params, field):
    project, client = weekly
    base = {"start_event": "signed_up", "period": "week", "periods": 4, "date_from": at(0)[:10], "date_to": at(1)[:10], "cohort": WEEK0.isoformat()}
    response = client.get(f"/api/v1/projects/{project.id}/insights/retention/persons", {**base, **params})
    assert response.status_code == 400 and response.json()["field"] == field


def test_the_table_links_each_cell_to_its_persons(weekly, member):
    project, _ = weekly
    browser = Client()
    assert browser.login(username=member.user.username, password=PASSWORD)
    query = {"start_event": "signed_up", "return_event": "$pageview", "period": "week", "periods": 4, "date_from": at(0)[:10], "date_to": at(1)[:10]}
    html = browser.get(f"/projects/{project.id}/retention/", query).content.decode()
    links = re.findall(r'<a class="cell-link" href="([^"]+)">', html)
    assert len(links) == 8  # two cohorts, four weeks each
    page = browser.get(unescape(links[1])).content.decode()  # week 0's cohort, a week later
    assert "Came back in week 1" in page and ">ann</a>" in page
    other = re.search(r'<a class="btn btn-secondary btn-sm" href="([^"]+)">Who did not come back</a>', page).group(1)
    assert "No one" in browser.get(unescape(other)).content.decode()


# New York's summer time ends on Sunday 2026-11-01 at 06:00 UTC, on the first day of a month
# and the last of a week: histories of the three days from 2026-10-30 cross all three. The
# clock is pinned a week later, so that which periods have ended does not depend on today.
DST_BASE = datetime(2026, 10, 30, 4, tzinfo=timezone.utc)
DST_NOW = datetime(2026, 11, 6, 15, tzinfo=timezone.utc)


@FAST
@given(
    events=histories_from(DST_BASE),
    data=st.data(),
    tz_name=st.sampled_from(["America/New_York", "Asia/Kathmandu"]),
    period=st.sampled_from(["day", "week", "month"]),
    retention_type=st.sampled_from(["recurring", "first_time"]),
    start_event=st.sampled_from([*NAMES, "$any_event"]),
    return_event=st.sampled_from([*NAMES, "$any_event"]),
    from_day=st.sampled_from([date(2026, 10, 30), date(2026, 10, 31), date(2026, 11, 1)]),
)
def test_retention_across_summer_time_and_period_ends(ingest_client, events, data, tz_name, period, retention_type, start_event, return_event, from_day):
    with time_machine.travel(DST_NOW, tick=True):
        membership = MembershipFactory(project__timezone=tz_name)
        project = membership.project
        history_ingest(ingest_client, project, events, data)
        response = get_retention(
            client_for(membership), project, now=DST_NOW, start_event=start_event, return_event=return_event, period=period, periods=3,
            retention_type=retention_type, date_from=from_day.isoformat(), date_to="2026-11-02",
        )
    assert response.status_code == 200, response.content
    body = response.json()
    first = first_day(from_day, period)
    expected = ref.retention(
        history_annotated(events), start_event=start_event, return_event=return_event, period=period, periods=3, retention_type=retention_type,
        first_cohort=first, cohorts=len(body["cohorts"]), tz=ZoneInfo(tz_name), now=DST_NOW,
    )
    assert body["cohorts"] == expected


def test_the_page_filters_both_events_with_its_filter_rows(ingest_client, member):
    """A filter row of the page (here on the person) applies to the start and the return
    event alike, as `filters` does in the API; a row without a value is a 400 naming it."""
    project = member.project
    send(ingest_client, project, [
        {"event": "signed_up", "user_id": "pro", "timestamp": at(0), "properties": {"$set": {"plan": "pro"}}},
        {"event": "$pageview", "user_id": "pro", "timestamp": at(1)},
        {"event": "signed_up", "user_id": "free", "timestamp": at(0), "properties": {"$set": {"plan": "free"}}},
        {"event": "$pageview", "user_id": "free", "timestamp": at(1)},
    ])
    browser = Client()
    assert browser.login(username=member.user.username, password=PASSWORD)
    query = {"start_event": "signed_up", "return_event": "$pageview", "period": "week", "periods": 2, "date_from": at(0)[:10], "date_to": at(0)[:10],
             "ftype": "person", "fkey": "plan", "fop": "equals", "fvalue": "pro"}
    html = browser.get(f"/projects/{project.id}/retention/", query).content.decode()
    assert re.search(r'<td class="num">1</td>\s*<td class="num retention-cell dark"', html)  # one person: pro
    assert 'name="fkey" value="plan"' in html  # the row is shown again
    api = client_for(member).get(f"/api/v1/projects/{project.id}/insights/retention", {
        **{k: v for k, v in query.items() if not k.startswith("f")}, "filters": '[{"key": "plan", "operator": "equals", "value": "pro", "type": "person"}]'}).json()
    assert api["cohorts"][0]["values"] == [1, 1]
    response = browser.get(f"/projects/{project.id}/retention/", {**query, "fvalue": ""})
    assert response.status_code == 400 and "filters" in response.content.decode()


def test_the_date_controls_keep_the_filters(weekly, member):
    project, _ = weekly
    browser = Client()
    assert browser.login(username=member.user.username, password=PASSWORD)
    html = browser.get(f"/projects/{project.id}/retention/", {"start_event": "signed_up", "fkey": "plan", "fop": "equals", "fvalue": "pro"}).content.decode()
    controls = html.split('class="toolbar date-controls"')[1].split("</form>")[0]
    assert 'name="filters" value="[{&quot;key&quot;:&quot;plan&quot;' in controls
