"""Every insight figure of the API against the pure-Python reference, on generated data.

The same events are checked in two projects: one in America/New_York, whose data spans the
end of summer time there (2026-11-01, when 01:00-02:00 happens twice), so day and hour
buckets are checked across a 25-hour day; and one in Asia/Kathmandu, 5:45 ahead of UTC, so
local days start at a quarter hour.
"""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import orjson
import pytest
import time_machine
from rest_framework.test import APIClient

from apps.analytics import sql as analytics_sql
from apps.analytics.tests import reference as ref
from apps.ingest.validation import EVENT_COLUMNS, Limits, RequestContext, event_validate
from apps.projects.models import Project
from apps.projects.services import personal_api_key_create
from apps.query.dates import date_range_resolve
from apps.query.filters import filter_value_text
from conftest import MembershipFactory
from pulseboard import clickhouse

pytestmark = pytest.mark.django_db

TIMEZONES = ["America/New_York", "Asia/Kathmandu"]
UTC = timezone.utc
START = datetime(2026, 9, 20, tzinfo=UTC)
END = datetime(2026, 11, 20, tzinfo=UTC)
# The data are of autumn 2026, around New York's end of summer time: the whole stack (ingest's
# limit on past timestamps, presets that end now) runs as of two days after them.
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
BROWSERS = ["Chrome", "Firefox", "Safari", "Edge", "Opera", "Brave", "Vivaldi", "Arc", "Samsung", "UC", "Yandex", "Tor", "Lynx"]


def generate(seed: int = 7) -> list[dict]:
    """Events of 80 people: identified, anonymous and distinct-id-only; some clustered
    around the repeated hour of 2026-11-01 and around local midnights."""
    rng = random.Random(seed)
    people = []
    for i in range(80):
        kind = i % 3
        people.append(
            {"user_id": f"user-{i}"} if kind == 0 else {"anonymous_id": f"anon-{i}"} if kind == 1 else {"distinct_id": f"device-{i}"}
        )
    events = []
    span = (END - START).total_seconds()
    hotspots = [datetime(2026, 11, 1, 5, 30, tzinfo=UTC), datetime(2026, 11, 1, 6, 30, tzinfo=UTC), datetime(2026, 10, 31, 4, 0, tzinfo=UTC)]
    for n in range(4000):
        who = dict(rng.choice(people[: rng.choice([20, 50, 80])]))  # some people are far more active
        if n % 10 == 0:
            ts = rng.choice(hotspots) + timedelta(minutes=rng.uniform(-40, 40))
        else:
            ts = START + timedelta(seconds=rng.uniform(0, span))
        name = rng.choices(["$pageview", "signed_up", "purchase", "clicked"], weights=[6, 1, 1, 3])[0]
        props = {"plan": rng.choice(["free", "pro", "team"]), "price": rng.choice([0, 9.99, 19.99, 49]), "beta": rng.random() < 0.3}
        if rng.random() < 0.85:
            props["browser"] = rng.choices(BROWSERS, weights=range(len(BROWSERS), 0, -1))[0]
        if rng.random() < 0.2:
            props["path"] = rng.choice(["/Pricing", "/pricing/teams", "/docs", "/blog/Pricing-update"])
        events.append(
            {
                "event": name,
                "timestamp": ts.isoformat(),
                "session_id": f"s-{rng.randrange(300)}",
                "properties": props,
                "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
                **who,
            }
        )
    return events


@pytest.fixture(scope="module", autouse=True)
def clock():
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture(scope="module", params=TIMEZONES)
def dataset(request, django_db_setup, django_db_blocker):
    """A project in one of TIMEZONES with the generated events stored, its member's API
    client, and the events as the reference reads them."""
    with django_db_blocker.unblock():
        membership = MembershipFactory(project__timezone=request.param)
        secret = personal_api_key_create(user=membership.user, label="insights").secret
    project = membership.project
    context = RequestContext(project_id=project.id, received_at=datetime.now(UTC), user_agent="", ip_hash="")
    rows, events = [], []
    for raw in generate():
        row, errors = event_validate(raw, context=context, limits=Limits())
        assert not errors, errors
        rows.append(row)
        events.append({**raw, "distinct_id": row["distinct_id"], "timestamp": datetime.fromisoformat(raw["timestamp"]).astimezone(UTC)})
    clickhouse.insert_json_each_row("events", EVENT_COLUMNS, b"\n".join(orjson.dumps(r) for r in rows))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    yield project, client, events
    with django_db_blocker.unblock():
        Project.objects.filter(pk=project.pk).delete()
        membership.user.delete()


def get(client, project, insight, **params):
    response = client.get(f"/api/v1/projects/{project.id}/insights/{insight}", params)
    assert response.status_code == 200, response.content
    return response.json()


def resolved(params, project=None):
    return date_range_resolve(params=params, tz_name=project.timezone if project else "America/New_York")


# 445 days: more days than one 256-day set holds, so its windows are split over queries.
LONG_RANGE = {"date_from": "2025-09-01", "date_to": "2026-11-19", "interval": "day"}
CUSTOM_RANGES = [
    {"date_from": "2026-10-25", "date_to": "2026-11-07", "interval": "day"},
    {"date_from": "2026-10-31", "date_to": "2026-11-01", "interval": "hour"},
    {"date_from": "2026-10-01", "date_to": "2026-11-19", "interval": "week"},
]


@pytest.mark.parametrize("params", [*(p for p in CUSTOM_RANGES if p["interval"] != "hour"), LONG_RANGE])
def test_active_users(dataset, params):
    project, client, events = dataset
    body = get(client, project, "active-users", **params)
    r = resolved(params, project)
    buckets = r.bucket_starts()
    assert body["buckets"] == r.labels()
    chosen = ref.in_range(events, r.date_from, r.date_to)
    assert body["dau"] == ref.count_by_bucket(chosen, buckets, r.interval, ZoneInfo(project.timezone), unique=True)
    days = ref.last_days(buckets, r.date_to, ZoneInfo(project.timezone))
    assert body["wau"] == ref.trailing_actives(events, days, 7, ZoneInfo(project.timezone))
    assert body["mau"] == ref.trailing_actives(events, days, 30, ZoneInfo(project.timezone))
    assert max(body["mau"]) >= max(body["wau"]) >= max(body["dau"]) > 0


@pytest.mark.parametrize("params", CUSTOM_RANGES)
@pytest.mark.parametrize("math", ["total", "unique"])
def test_trends_per_event(dataset, params, math):
    project, client, events = dataset
    body = get(client, project, "trends", events="$pageview,purchase,clicked", math=math, **params)
    r = resolved(params, project)
    assert [s["event"] for s in body["series"]] == ["$pageview", "purchase", "clicked"]
    for line in body["series"]:
        expected = ref.trend(events, event=line["event"], math=math, buckets=r.bucket_starts(), date_from=r.date_from, date_to=r.date_to, interval=r.interval, tz=ZoneInfo(project.timezone))
        assert [line["data"]] == [e["data"] for e in expected]
        assert sum(line["data"]) > 0
        if math == "total":
            assert line["total"] == sum(line["data"])


FILTER_CASES = [
    [{"key": "plan", "operator": "equals", "value": "pro"}],
    [{"key": "plan", "operator": "not_equals", "value": "pro"}],
    [{"key": "path", "operator": "contains", "value": "pricing"}],
    [{"key": "browser", "operator": "is_set"}],
    [{"key": "price", "operator": "equals", "value": 19.99}],
    [{"key": "beta", "operator": "equals", "value": True}, {"key": "plan", "operator": "not_equals", "value": "free"}],
]


@pytest.mark.parametrize("filters", FILTER_CASES)
@pytest.mark.parametrize("math", ["total", "unique", "wau"])
def test_trends_with_property_filters(dataset, filters, math):
    project, client, events = dataset
    params = CUSTOM_RANGES[0]
    body = get(client, project, "trends", events="$pageview", math=math, filters=orjson.dumps(filters).decode(), **params)
    r = resolved(params, project)
    parsed = [{**f, "value": filter_value_text(f.get("value", ""))} for f in filters]
    expected = ref.trend(events, event="$pageview", math=math, buckets=r.bucket_starts(), date_from=r.date_from, date_to=r.date_to, interval=r.interval, tz=ZoneInfo(project.timezone), filters=parsed)
    assert body["series"][0]["data"] == expected[0]["data"]
    assert sum(body["series"][0]["data"]) > 0


@pytest.mark.parametrize("math", ["total", "unique"])
def test_a_breakdown_of_an_event_never_sent_has_no_lines(dataset, math):
    """No event of the name in the range: nothing to sample for the key, and no line."""
    project, client, _ = dataset
    body = get(client, project, "trends", events="never_sent", math=math, breakdown="browser", **CUSTOM_RANGES[0])
    assert body["series"] == []


@pytest.mark.parametrize("params", [CUSTOM_RANGES[0], CUSTOM_RANGES[2]])
@pytest.mark.parametrize("math", ["total", "unique"])
@pytest.mark.parametrize("keyed_share", [0.0, 1.01], ids=["one-pass", "rare-key-two-passes"])
def test_trends_breakdown_top_ten_and_other(dataset, params, math, keyed_share, monkeypatch):
    """Both ways of reading the property (one pass; or, for a key few events have, its JSON
    where the key's bit is set and '' from the bit elsewhere) give the reference's lines."""
    monkeypatch.setattr(analytics_sql, "KEYED_SHARE", keyed_share)
    project, client, events = dataset
    filters = [{"key": "plan", "operator": "not_equals", "value": "team"}]
    body = get(client, project, "trends", events="$pageview", math=math, breakdown="browser", filters=orjson.dumps(filters).decode(), **params)
    r = resolved(params, project)
    expected = ref.trend(events, event="$pageview", math=math, buckets=r.bucket_starts(), date_from=r.date_from, date_to=r.date_to, interval=r.interval, tz=ZoneInfo(project.timezone), filters=filters, breakdown="browser")
    got = [(s["breakdown_value"], s["data"]) for s in body["series"]]
    assert got == [(e["breakdown_value"], e["data"]) for e in expected]
    values = [s["breakdown_value"] for s in body["series"]]
    assert len(values) == 11 and values[-1] == "$other" and "" in values  # 10 values (one is "no browser") + Other


@pytest.mark.parametrize("math", ["wau", "mau"])
@pytest.mark.parametrize("params", [CUSTOM_RANGES[0], CUSTOM_RANGES[2]])
def test_trends_trailing_windows(dataset, math, params):
    project, client, events = dataset
    body = get(client, project, "trends", events="clicked", math=math, **params)
    r = resolved(params, project)
    expected = ref.trend(events, event="clicked", math=math, buckets=r.bucket_starts(), date_from=r.date_from, date_to=r.date_to, interval=r.interval, tz=ZoneInfo(project.timezone))
    assert body["series"][0]["data"] == expected[0]["data"]


@pytest.mark.parametrize("params", CUSTOM_RANGES)
def test_top_events(dataset, params):
    project, client, events = dataset
    r = resolved(params, project)
    body = get(client, project, "top-events", limit=3, **params)
    assert body["results"] == ref.top_events(ref.in_range(events, r.date_from, r.date_to), 3)


def test_overview(dataset):
    project, client, events = dataset
    params = {"date_from": "2026-10-29", "date_to": "2026-11-04", "interval": "day"}
    body = get(client, project, "overview", **params)
    r = resolved(params, project)
    assert body["cards"] == ref.overview_cards(events, r.date_from, r.date_to, r.previous().date_from)
    assert body["cards"]["events"]["change_pct"] is not None
    assert body["active_users"]["dau"] == ref.count_by_bucket(ref.in_range(events, r.date_from, r.date_to), r.bucket_starts(), "day", ZoneInfo(project.timezone), unique=True)
    assert body["events_over_time"]["data"] == ref.count_by_bucket(ref.in_range(events, r.date_from, r.date_to), r.bucket_starts(), "day", ZoneInfo(project.timezone), unique=False)
    top = ref.top_events(ref.in_range(events, r.date_from, r.date_to), 10)
    assert body["top_events"] == [{"event": row["event"], "count": row["count"]} for row in top]


def test_overview_cards_of_a_period_longer_than_a_day_set(dataset):
    project, client, events = dataset
    params = {"date_from": "2026-01-01", "date_to": "2026-11-19", "interval": "week"}
    body = get(client, project, "overview", **params)
    r = resolved(params, project)
    assert body["cards"] == ref.overview_cards(events, r.date_from, r.date_to, r.previous().date_from)
    assert body["cards"]["users"]["value"] == len({ref.person(e) for e in ref.in_range(events, r.date_from, r.date_to)}) > 0


def test_overview_of_hours_counts_persons_to_the_hour(dataset):
    project, client, events = dataset
    params = {"date_from": "2026-11-01T00:00", "date_to": "2026-11-01T07:00", "interval": "hour"}
    body = get(client, project, "overview", **params)
    r = resolved(params, project)
    assert body["cards"] == ref.overview_cards(events, r.date_from, r.date_to, r.previous().date_from)
    assert body["cards"]["users"]["value"] > 0 and body["cards"]["users"]["previous"] > 0
    days = r.days()
    assert body["active_users"]["buckets"] == [day.isoformat() for day in days]


def test_overview_of_24_hours_shows_daily_active_users(dataset):
    project, client, _ = dataset
    body = get(client, project, "overview", range="24h")
    assert len(body["buckets"]) == 24
    assert body["active_users"]["interval"] == "day"


@pytest.mark.parametrize(
    ("insight", "params", "field"),
    [
        ("trends", {}, "events"),
        ("trends", {"events": "a", "math": "median"}, "math"),
        ("trends", {"events": "a", "filters": "{bad"}, "filters"),
        ("trends", {"events": "a", "filters": '[{"key": "x", "operator": "like"}]'}, "filters"),
        ("trends", {"events": "a", "math": "wau", "range": "24h"}, "math"),
        ("trends", {"events": "a", "interval": "minute"}, "interval"),
        ("active-users", {"range": "24h"}, "interval"),
        ("top-events", {"range": "1y"}, "range"),
        ("top-events", {"date_from": "2026-11-10", "date_to": "2026-11-01"}, "date_to"),
        ("overview", {"date_from": "2026-11-10"}, "date_to"),
        # Beyond what ClickHouse's DateTime64 holds (1900 to 2299), or Python's datetime.
        ("trends", {"events": "a", "date_from": "0001-01-01", "date_to": "9999-12-31"}, "date_from"),
        ("trends", {"events": "a", "date_from": "2026-11-01", "date_to": "9999-12-31"}, "date_to"),
        ("top-events", {"date_from": "1899-12-31T23:00:00Z", "date_to": "2026-11-01"}, "date_from"),
        ("overview", {"date_from": "2026-11-01", "date_to": "2300-01-01T00:00:00+00:00"}, "date_to"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(dataset, insight, params, field):
    project, client, _ = dataset
    response = client.get(f"/api/v1/projects/{project.id}/insights/{insight}", params)
    assert response.status_code == 400
    assert response.json()["field"] == field


@pytest.mark.parametrize("insight", ["active-users", "trends", "top-events", "overview"])
def test_insights_are_404_for_non_members(dataset, insight, reader):
    project, _, _ = dataset
    response = reader.get(f"/api/v1/projects/{project.id}/insights/{insight}", {"events": "$pageview"})
    assert response.status_code == 404


# --- Retention, stickiness and lifecycle over the end of summer time and month boundaries --------

RETENTION_CASES = [
    # days across New York's 25-hour 2026-11-01; weeks across it; months across Oct/Nov
    {"period": "day", "periods": 6, "date_from": "2026-10-28", "date_to": "2026-11-03"},
    {"period": "week", "periods": 4, "date_from": "2026-10-19", "date_to": "2026-11-08"},
    {"period": "month", "periods": 3, "date_from": "2026-09-15", "date_to": "2026-10-31"},
]


@pytest.mark.parametrize("case", RETENTION_CASES)
@pytest.mark.parametrize("retention_type", ["recurring", "first_time"])
@pytest.mark.parametrize("events", [("signed_up", "$pageview"), ("$any_event", "clicked")])
def test_retention_across_summer_time_and_month_ends(dataset, case, retention_type, events):
    project, client, stored = dataset
    tz = ZoneInfo(project.timezone)
    start_event, return_event = events
    body = get(client, project, "retention", start_event=start_event, return_event=return_event, retention_type=retention_type, **case)
    first = date.fromisoformat(body["cohorts"][0]["date"])
    expected = ref.retention(
        stored, start_event=start_event, return_event=return_event, period=case["period"], periods=case["periods"], retention_type=retention_type,
        first_cohort=first, cohorts=len(body["cohorts"]), tz=tz, now=NOW,
    )
    assert body["cohorts"] == expected
    if retention_type == "recurring":  # (everyone's first event ever is in September)
        assert sum(c["size"] for c in expected) > 0


# (LONG_RANGE: longer than a day set, so they read the events instead)
@pytest.mark.parametrize("params", [*(p for p in CUSTOM_RANGES if p["interval"] != "hour"), LONG_RANGE])
def test_stickiness_and_lifecycle_across_summer_time(dataset, params):
    project, client, stored = dataset
    r = resolved(params, project)
    tz = ZoneInfo(project.timezone)
    body = get(client, project, "stickiness", events="$pageview,clicked", **params)
    for series in body["series"]:
        assert series["data"] == ref.stickiness(stored, event=series["event"], buckets=r.bucket_starts(), date_from=r.date_from, date_to=r.date_to, interval=r.interval, tz=tz)
    for event in ("$pageview", "$any_event"):
        body = get(client, project, "lifecycle", event=event, **params)
        expected = ref.lifecycle(stored, event=event, buckets=r.bucket_starts(), date_to=r.date_to, interval=r.interval, tz=tz)
        assert {kind: body[kind] for kind in expected} == expected
        assert any(expected["resurrecting"]) and any(expected["dormant"])
