"""Trends of a numeric property (sum, avg, min, max, p50 .. p99 of ``math_property``) against
the pure-Python reference (``reference.metric_trend``), on events whose property is every
kind of value: integers, negative and fractional numbers, numeric strings, and what is left
out (missing, null, booleans, other strings, lists, objects, numbers beyond a float).

The events go through the real ingest path (persons and their properties included), so a
breakdown by a person property and person filters read what production reads.
"""

from __future__ import annotations

import csv
import re
import io
import random
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from apps.analytics.tests import reference as ref
from apps.persons.tests.histories import history_annotated
from apps.projects.models import Project
from apps.projects.services import personal_api_key_create
from apps.query.dates import date_range_resolve
from conftest import PASSWORD, MembershipFactory, flush, post_events

pytestmark = pytest.mark.django_db

TZ = "America/New_York"
PROPERTY_MATHS = ["sum", "avg", "min", "max", "p50", "p90", "p95", "p99"]
# Midnight UTC 20 days back: every range of these tests is built from it, never from a date.
BASE = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=20)
BROWSERS = ["Chrome", "Firefox", "Safari", "Edge", "Opera", "Brave", "Vivaldi", "Arc", "Samsung", "UC", "Yandex", "Tor", "Lynx"]
# Values of duration_ms: what counts, and what is left out.
COUNTED = [0, 7, -3, 12.5, -0.25, 1e6, "42", "-7.5", "1e3", "0012", 99.99, 250, 3, 18]
LEFT_OUT = [None, True, False, "abc", " 5", "+5", ".5", "5.", "nan", "inf", "1e999", "", [1], {"ms": 3}]


def day(offset: int) -> str:
    return (BASE + timedelta(days=offset)).date().isoformat()


DAYS = {"date_from": day(1), "date_to": day(14), "interval": "day"}
HOURS = {"date_from": (BASE + timedelta(days=3)).isoformat(), "date_to": (BASE + timedelta(days=4, hours=6)).isoformat(), "interval": "hour"}
WEEKS = {"date_from": day(0), "date_to": day(19), "interval": "week"}
RANGES = [DAYS, HOURS, WEEKS]


def generate(seed: int = 11) -> list[dict]:
    """Events of 40 people over 19 days: "request" with duration_ms of every kind (or none),
    "purchase" with an amount; persons get a tier by $set."""
    rng = random.Random(seed)
    people = [{"user_id": f"user-{i}"} if i % 2 else {"anonymous_id": f"anon-{i}"} for i in range(40)]
    events = []
    for n in range(1500):
        who = dict(rng.choice(people[: rng.choice([10, 25, 40])]))
        ts = BASE + timedelta(seconds=rng.uniform(0, 19 * 86400))
        name = rng.choices(["request", "purchase", "view"], weights=[6, 2, 2])[0]
        props: dict = {"plan": rng.choice(["free", "pro", "team"])}
        if rng.random() < 0.85:
            props["browser"] = rng.choices(BROWSERS, weights=range(len(BROWSERS), 0, -1))[0]
        kind = rng.random()
        if kind < 0.55:
            props["duration_ms"] = round(rng.uniform(-50, 5000), rng.choice([0, 1, 3])) if rng.random() < 0.7 else rng.choice(COUNTED)
        elif kind < 0.85:
            props["duration_ms"] = rng.choice(LEFT_OUT)
        if name == "purchase":
            props["amount"] = rng.choice([9.99, 19.99, 49, 99, "15.50"])
        if rng.random() < 0.1:
            props["$set"] = {"tier": rng.choice(["gold", "silver", "bronze"])}
        events.append({"event": name, "event_id": str(uuid.UUID(int=rng.getrandbits(128))), "timestamp": ts.isoformat(), "properties": props, **who})
    return events


def ingest(client, project, events: list[dict]) -> None:
    for start in range(0, len(events), 500):
        response = post_events(client, project.api_key, {"events": events[start : start + 500]})
        assert response.status_code == 202, response.json()
        flush()


def reader_of(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {personal_api_key_create(user=user, label='metric').secret}")
    return client


@pytest.fixture(scope="module")
def dataset(django_db_setup, django_db_blocker):
    """A project with the generated events stored through ingest, its member's API client,
    and the events as the reference reads them (with persons and person properties)."""
    events = generate()
    with django_db_blocker.unblock():
        membership = MembershipFactory(project__timezone=TZ)
        ingest(APIClient(), membership.project, events)
        client = reader_of(membership.user)
    yield membership.project, client, history_annotated(events)
    with django_db_blocker.unblock():
        Project.objects.filter(pk=membership.project.pk).delete()
        membership.user.delete()


def trends(client, project, **params) -> dict:
    response = client.get(f"/api/v1/projects/{project.id}/insights/trends", params)
    assert response.status_code == 200, response.content
    return response.json()


def expected(events, params, **kwargs) -> list[dict]:
    r = date_range_resolve(params=params, tz_name=TZ)
    return ref.metric_trend(events, buckets=r.bucket_starts(), date_from=r.date_from, date_to=r.date_to, interval=r.interval, tz=ZoneInfo(TZ), **kwargs)


def assert_lines(got: list[dict], want: list[dict], how: str) -> None:
    """The API's lines equal the reference's: exactly for min, max and percentiles (a value
    of the data), to float rounding for sum and avg (ClickHouse adds in its own order)."""
    assert [line["breakdown_value"] for line in got] == [line["breakdown_value"] for line in want]
    for line, reference in zip(got, want):
        assert line["property_events"] == reference["property_events"]
        assert line["property_events_total"] == reference["property_events_total"]
        values, wanted = [*line["data"], line["total"]], [*reference["data"], reference["total"]]
        assert [v is None for v in values] == [w is None for w in wanted]
        if how in ("sum", "avg"):
            assert [v for v in values if v is not None] == pytest.approx([w for w in wanted if w is not None], rel=1e-9, abs=1e-6)
        else:
            assert values == wanted


# --- Against the reference ------------------------------------------------------------------------


@pytest.mark.parametrize("params", RANGES, ids=["day", "hour", "week"])
@pytest.mark.parametrize("how", PROPERTY_MATHS)
def test_each_math_per_bucket_equals_the_reference(dataset, params, how):
    project, client, events = dataset
    body = trends(client, project, events="request", math=how, math_property="duration_ms", **params)
    want = expected(events, params, event="request", how=how, key="duration_ms")
    assert_lines(body["series"], want, how)
    line = body["series"][0]
    assert line["math"] == how and line["math_property"] == "duration_ms" and line["breakdown_value"] is None
    assert line["property_events_total"] == sum(line["property_events"]) > 0


def test_left_out_values_and_numeric_strings(dataset):
    """The rule itself, on the data: numeric strings count, the rest of LEFT_OUT does not."""
    for value in COUNTED:
        assert ref.property_number({"x": value}, "x") == float(value)
    for value in LEFT_OUT:
        assert ref.property_number({"x": value}, "x") is None, value
    project, client, events = dataset
    whole = {"date_from": day(-1), "date_to": day(20)}
    body = trends(client, project, events="request", math="max", math_property="duration_ms", **whole)
    present = [e for e in events if e["event"] == "request" and "duration_ms" in e["properties"]]
    usable = [e for e in present if ref.property_number(e["properties"], "duration_ms") is not None]
    assert body["series"][0]["property_events_total"] == len(usable) < len(present)


@pytest.mark.parametrize("how", ["avg", "p95", "sum", "min"])
def test_with_event_and_person_filters(dataset, how):
    project, client, events = dataset
    filters = [{"key": "plan", "operator": "not_equals", "value": "team"}, {"key": "tier", "operator": "is_set", "type": "person"}]
    body = trends(client, project, events="request", math=how, math_property="duration_ms", filters=orjson.dumps(filters).decode(), **DAYS)
    want = expected(events, DAYS, event="request", how=how, key="duration_ms", filters=filters)
    assert want[0]["property_events_total"] > 0
    assert_lines(body["series"], want, how)


@pytest.mark.parametrize("params", [DAYS, WEEKS], ids=["day", "week"])
@pytest.mark.parametrize("how", ["avg", "p90", "max", "sum"])
def test_event_breakdown_keeps_ten_values_and_folds_the_rest(dataset, params, how):
    project, client, events = dataset
    filters = [{"key": "plan", "operator": "not_equals", "value": "free"}]
    body = trends(
        client, project, events="request", math=how, math_property="duration_ms", breakdown="browser", filters=orjson.dumps(filters).decode(), **params
    )
    want = expected(events, params, event="request", how=how, key="duration_ms", breakdown="browser", filters=filters)
    assert_lines(body["series"], want, how)
    values = [line["breakdown_value"] for line in body["series"]]
    assert len(values) == 11 and values[-1] == "$other" and "" in values
    assert all(line["label"].startswith(f"request · ") and "duration_ms" in line["label"] for line in body["series"])


@pytest.mark.parametrize("how", ["avg", "p50", "min"])
def test_person_breakdown(dataset, how):
    project, client, events = dataset
    body = trends(client, project, events="request", math=how, math_property="duration_ms", breakdown="tier", breakdown_type="person", **DAYS)
    want = expected(events, DAYS, event="request", how=how, key="duration_ms", breakdown="tier", breakdown_type="person")
    assert {line["breakdown_value"] for line in want} >= {"gold", "silver", "bronze", ""}
    assert_lines(body["series"], want, how)


def test_several_series_mix_counts_and_properties(dataset):
    """One property for all the property maths; the count keeps its shape."""
    project, client, events = dataset
    body = trends(client, project, events="request,purchase,view", math="total,p99,avg", math_property="amount", **DAYS)
    assert [(s["event"], s["math"], s["math_property"]) for s in body["series"]] == [
        ("request", "total", None), ("purchase", "p99", "amount"), ("view", "avg", "amount")
    ]
    count = body["series"][0]
    assert count["property_events"] is None and count["total"] == sum(count["data"]) > 0
    assert_lines([body["series"][1]], expected(events, DAYS, event="purchase", how="p99", key="amount"), "p99")
    # No view has an amount: every bucket is empty, and says so.
    view = body["series"][2]
    assert view["data"] == [None] * len(body["buckets"]) and view["total"] is None and view["property_events_total"] == 0
    # One property per series, empty for the count.
    per_series = trends(client, project, events="request,purchase", math="total,sum", math_property=",amount", **DAYS)
    assert per_series["series"][0]["data"] == count["data"]
    assert_lines([per_series["series"][1]], expected(events, DAYS, event="purchase", how="sum", key="amount"), "sum")


def test_sum_of_nothing_is_zero_and_empty_buckets_are_null(dataset):
    project, client, events = dataset
    far = {"date_from": day(30), "date_to": day(33), "interval": "day"}  # after every event
    for how in PROPERTY_MATHS:
        line = trends(client, project, events="request", math=how, math_property="duration_ms", **far)["series"][0]
        empty = 0.0 if how == "sum" else None
        assert line["data"] == [empty] * 4 and line["total"] == empty and line["property_events"] == [0] * 4, how


# The same key nested, in a string, next to a longer key: where a scan of the text for
# "v": could find another value than the top-level one, the answer is still the top-level one.
NESTED_CASES = [
    ({"meta": {"v": 1}, "v": 2}, 2.0),
    ({"v": 3, "meta": {"v": 100}}, 3.0),
    ({"meta": {"v": 5}}, None),
    ({"note": '"v":9', "v": 4}, 4.0),
    ({"note": "{", "v": 6}, 6.0),
    ({"v": "7", "list": [1, {"v": 8}]}, 7.0),
    ({"vv": 1, "v": 10}, 10.0),
    ({"xv": 12}, None),
    ({"v": True, "w": {"v": 13}}, None),
]


def test_the_top_level_value_whatever_else_holds_the_key(ingest_client):
    membership = MembershipFactory(project__timezone=TZ)
    moment = (BASE + timedelta(days=2, hours=5)).isoformat()
    events = [
        {"event": f"case_{i}", "anonymous_id": "a", "timestamp": moment, "properties": props}
        for i, (props, _) in enumerate(NESTED_CASES)
    ]
    ingest(ingest_client, membership.project, events)
    client = reader_of(membership.user)
    for i, (props, value) in enumerate(NESTED_CASES):
        line = trends(client, membership.project, events=f"case_{i}", math="max", math_property="v", date_from=day(1), date_to=day(4))["series"][0]
        assert line["total"] == value, props
        assert line["property_events_total"] == (value is not None), props
        assert ref.property_number(props, "v") == value


def test_a_key_that_json_escapes(ingest_client):
    membership = MembershipFactory(project__timezone=TZ)
    moment = (BASE + timedelta(days=2, hours=5)).isoformat()
    keys = ['say "hi"', "back\\slash"]
    ingest(ingest_client, membership.project, [{"event": "odd", "anonymous_id": "a", "timestamp": moment, "properties": {key: 7 + i}} for i, key in enumerate(keys)])
    client = reader_of(membership.user)
    for i, key in enumerate(keys):
        line = trends(client, membership.project, events="odd", math="max", math_property=key, date_from=day(1), date_to=day(4))["series"][0]
        assert (line["total"], line["property_events_total"]) == (7.0 + i, 1), key


# --- Hypothesis: any values, any times ----------------------------------------------------------

# Magnitudes up to 1e6, so that sums in another order differ by far less than assert_lines allows.
VALUES = st.one_of(
    st.integers(-10**6, 10**6),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.integers(-10**6, 10**6).map(str),
    st.floats(-1e6, 1e6, allow_nan=False).map(repr),
    st.sampled_from(LEFT_OUT[:-2]),
    st.text(max_size=6),
    st.booleans(),
    st.none(),
)
HYPOTHESIS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def metric_events(draw) -> list[dict]:
    count = draw(st.integers(1, 40))
    events = []
    for _ in range(count):
        props = {"variant": draw(st.sampled_from(["a", "b", "c"]))}
        if draw(st.integers(0, 5)):
            props["v"] = draw(VALUES)
        events.append(
            {
                "event": "tick",
                "event_id": str(draw(st.uuids(version=4))),
                "timestamp": (BASE + timedelta(minutes=draw(st.integers(0, 9 * 24 * 60)))).isoformat(),
                "anonymous_id": draw(st.sampled_from(["a1", "a2", "a3"])),
                "properties": props,
            }
        )
    return events


@HYPOTHESIS
@given(
    events=metric_events(),
    how=st.sampled_from(PROPERTY_MATHS),
    params=st.sampled_from([{"date_from": day(0), "date_to": day(9), "interval": "day"}, {"date_from": day(0), "date_to": day(9), "interval": "week"},
                            {"date_from": (BASE + timedelta(days=2)).isoformat(), "date_to": (BASE + timedelta(days=3)).isoformat(), "interval": "hour"}]),
    breakdown=st.sampled_from([None, "variant"]),
)
def test_any_values_equal_the_reference(ingest_client, events, how, params, breakdown):
    membership = MembershipFactory(project__timezone=TZ)
    ingest(ingest_client, membership.project, events)
    query = {"breakdown": breakdown} if breakdown else {}
    body = trends(reader_of(membership.user), membership.project, events="tick", math=how, math_property="v", **query, **params)
    annotated = history_annotated(events)
    want = expected(annotated, params, event="tick", how=how, key="v", breakdown=breakdown)
    if breakdown:
        want = [line for line in want if line["property_events_total"]]
    assert_lines(body["series"], want, how)


# --- Bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, field",
    [
        ({"events": "a", "math": "median", "math_property": "x"}, "math"),
        ({"events": "a", "math": "avg"}, "math_property"),
        ({"events": "a", "math": "p95", "math_property": " "}, "math_property"),
        ({"events": "a,b", "math": "avg,total", "math_property": "x,"}, None),  # fine: one each
        ({"events": "a,b", "math": "avg,total", "math_property": "x,y"}, "math_property"),
        ({"events": "a", "math": "total", "math_property": "x"}, "math_property"),
        ({"events": "a", "math": "unique", "math_property": "x"}, "math_property"),
        ({"events": "a,b", "math": "avg", "math_property": "x,y,z"}, "math_property"),
        ({"events": "a,b", "math": "avg,sum", "math_property": "x,"}, "math_property"),
        ({"events": "a", "math": "avg", "math_property": "k" * 201}, "math_property"),
        ({"events": "a", "math": "avg", "math_property": "dur\x00ation"}, "math_property"),
        ({"events": "a", "math": "avg", "math_property": "dur\nation"}, "math_property"),
        ({"events": "a", "math": "avg", "math_property": "x", "breakdown": "b", "interval": "month"}, "interval"),
    ],
)
def test_bad_input_is_400_naming_the_field(member, reader, params, field):
    response = reader.get(f"/api/v1/projects/{member.project.id}/insights/trends", params)
    if field is None:
        assert response.status_code == 200, response.content
        return
    assert response.status_code == 400, response.content
    assert field in orjson.dumps(response.json()).decode()


def test_wau_and_unique_keep_their_shape(member, reader):
    body = reader.get(f"/api/v1/projects/{member.project.id}/insights/trends", {"events": "a,a", "math": "wau,unique"}).json()
    for line in body["series"]:
        assert line["math_property"] is None and line["property_events"] is None and line["property_events_total"] is None
        assert all(isinstance(v, int) for v in line["data"])


# --- Page, CSV, saved insights, schema ------------------------------------------------------------


@pytest.fixture
def page_client(dataset):
    project, _, _ = dataset
    browser = APIClient()
    membership = project.memberships.first()
    assert browser.login(username=membership.user.username, password=PASSWORD)
    return project, browser


def test_page_shows_the_property_math_and_offers_numeric_keys(dataset, page_client):
    project, browser = page_client
    _, client, events = dataset
    query = f"event=request&math=p95&math_property=duration_ms&event=request&math=total&math_property=ignored&date_from={DAYS['date_from']}&date_to={DAYS['date_to']}"
    response = browser.get(f"/projects/{project.id}/trends/?{query}")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="math_property" value="duration_ms"' in html
    assert '<option value="p95" selected>' in html
    assert re.search(r'<datalist id="numeric-properties"><option value="duration_ms"></datalist>', html)  # the numeric keys of request
    assert '<option value="plan">' not in html  # text only: never offered
    api = trends(client, project, events="request", math="p95", math_property="duration_ms", **DAYS)["series"][0]
    assert f'data-property-events="0">{api["property_events_total"]:,}<' in html
    assert "request · p95 of duration_ms" in html


def test_page_with_a_property_math_but_no_property_is_400_naming_it(page_client):
    project, browser = page_client
    response = browser.get(f"/projects/{project.id}/trends/?event=request&math=avg&math_property=")
    assert response.status_code == 400 and b"math_property" in response.content


def test_csv_has_the_values_and_the_events_with_the_property(dataset, page_client):
    project, browser = page_client
    _, client, _ = dataset
    query = f"events=request,purchase&math=avg,total&math_property=duration_ms,&date_from={DAYS['date_from']}&date_to={DAYS['date_to']}"
    rows = list(csv.reader(io.StringIO(browser.get(f"/projects/{project.id}/trends.csv?{query}").content.decode())))
    assert rows[0] == ["bucket", "request · average of duration_ms", "purchase · total", "request · average of duration_ms (events with duration_ms)"]
    api = trends(client, project, events="request", math="avg", math_property="duration_ms", **DAYS)["series"][0]
    assert [int(row[3]) for row in rows[1:]] == api["property_events"]
    assert [float(row[1]) if row[1] else None for row in rows[1:]] == pytest.approx(api["data"])


def test_a_saved_trend_keeps_its_property_math(page_client):
    from apps.dashboards.registry import insight_type, query_clean, query_dict

    project, _ = page_client
    from django.http import QueryDict

    params = QueryDict(mutable=True)
    params.update({"events": "request", "math": "max", "math_property": "duration_ms", "date_from": DAYS["date_from"], "date_to": DAYS["date_to"]})
    kind = insight_type("trends")
    kind.validate(project, params)
    header, rows = kind.csv(project, params)
    assert header[1] == "request · max of duration_ms" and any(row[1] != "" for row in rows)
    params["math_property"] = ""
    with pytest.raises(Exception, match="math_property"):
        kind.validate(project, params)
    # The page form's repeated fields, saved and read back: the empty property of the count
    # keeps its place, so the average still reads "amount".
    page = {"event": ["request", "purchase"], "math": ["total", "avg"], "math_property": ["", "amount"], **{k: [v] for k, v in DAYS.items()}}
    header, rows = kind.csv(project, query_dict(query_clean(page)))
    assert header == ["bucket", "request · total", "purchase · average of amount", "purchase · average of amount (events with amount)"]
    assert sum(row[3] for row in rows) > 0


def test_openapi_describes_math_property(member):
    browser = APIClient()
    assert browser.login(username=member.user.username, password=PASSWORD)
    schema = browser.get("/api/schema/?format=json").json()
    trends_get = schema["paths"]["/api/v1/projects/{project_id}/insights/trends"]["get"]
    assert "math_property" in {p["name"] for p in trends_get["parameters"]}
    series = schema["components"]["schemas"]["TrendSeries"]["properties"]
    assert {"math_property", "property_events", "property_events_total"} <= set(series)
    assert series["data"]["items"]["type"] == "number" and series["data"]["items"]["nullable"] is True
