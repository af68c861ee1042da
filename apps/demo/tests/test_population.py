"""The demo traffic generator: deterministic, in the ingest row format, and realistic."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from statistics import mean
from zoneinfo import ZoneInfo

import orjson
import pytest

from apps.demo import catalog, population
from apps.demo.catalog import ACTIVATION_EVENT, CAMPAIGNS, EVENT_NAMES, PURCHASE_EVENT, SIGNUP_EVENT
from apps.demo.population import traffic_chunks, traffic_rows
from apps.ingest.formats import native
from apps.ingest.validation import EVENT_COLUMNS, Limits, RequestContext, converted_validate

END = datetime(2026, 11, 2, 5, tzinfo=timezone.utc)  # midnight in New York
START = END - timedelta(days=30)
NEW_YORK = ZoneInfo("America/New_York")
EVENTS = 20_000
CLIENT_FIELDS = ("event", "event_id", "distinct_id", "user_id", "anonymous_id", "session_id", "source", "page_url", "referrer")


def generate(events: int = EVENTS, seed: int = 0, **kwargs) -> list[dict]:
    return list(traffic_rows(project_id=7, start=START, end=END, events=events, seed=seed, **kwargs))


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return generate()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def test_the_same_seed_gives_the_same_rows():
    assert generate(5_000, seed=3) == generate(5_000, seed=3)
    assert generate(5_000, seed=3) != generate(5_000, seed=4)


def test_exactly_the_requested_number_of_rows_in_day_chunks():
    chunks = list(traffic_chunks(project_id=7, start=START, end=END, events=12_345))
    assert sum(len(chunk) for chunk in chunks) == 12_345
    assert 30 <= len(chunks) <= 31
    assert list(traffic_chunks(project_id=7, start=START, end=END, events=0)) == []


def test_rows_have_the_ingest_row_format(rows):
    for row in rows:
        assert tuple(row) == EVENT_COLUMNS
        assert row["project_id"] == 7
        assert row["received_at"] == row["timestamp"]
        assert row["distinct_id"] == (row["user_id"] or row["anonymous_id"])
        assert START <= utc(row["timestamp"]) < END
    assert len({row["event_id"] for row in rows}) == len(rows)


def test_rows_pass_the_ingest_validation(rows):
    """Sent to the ingest endpoint (its own door: read, converted, validated), each row would
    be accepted and stored unchanged."""
    limits = Limits()
    for row in rows:
        raw = {key: row[key] for key in CLIENT_FIELDS if row[key]}
        raw["timestamp"] = row["timestamp"].replace(" ", "T") + "Z"
        raw["properties"] = orjson.loads(row["properties"])
        parsed = native.DOOR.request_parse(body=orjson.dumps(raw), headers={}, query={}, limits=limits)
        converted = native.DOOR.events_convert(parsed, project_id=7, now=END)
        context = RequestContext(project_id=7, received_at=END, user_agent=row["user_agent"], ip_hash=row["ip_hash"], country=row["country"])
        validated = converted_validate(converted, items=parsed.items, context=context, limits=limits, ip_hash_of=str)
        assert validated.errors == []
        assert {**validated.rows[0], "received_at": row["timestamp"]} == row


def test_properties_are_small_json_objects_with_good_breakdowns(rows):
    countries = Counter()
    for row in rows:
        properties = orjson.loads(row["properties"])
        assert isinstance(properties, dict) and len(row["properties"].encode()) < 32 * 1024
        assert orjson.dumps(properties).decode() == row["properties"]  # compact
        countries[properties["country"]] += 1
    assert len(countries) > 10  # a top 10 breakdown has an "Other"
    purchases = [orjson.loads(row["properties"]) for row in rows if row["event"] == PURCHASE_EVENT]
    assert all({"plan", "amount", "currency"} <= set(p) for p in purchases)


def test_sessions_pages_referrers_and_sources(rows):
    assert set(Counter(row["event"] for row in rows)) <= set(EVENT_NAMES)
    assert {row["source"] for row in rows} == {"web", "ios", "android"}
    pages = {row["page_url"].split("?")[0] for row in rows if row["event"] == "$pageview"}
    assert 10 <= len(pages) <= 15 and all(page.startswith("https://shop.example.com/") for page in pages)
    # Visits from a campaign's referrer land on a link with its UTM parameters.
    landings = {(row["referrer"], row["page_url"].partition("?")[2]) for row in rows if "?" in row["page_url"]}
    assert {referrer for referrer, _ in landings} == set(CAMPAIGNS)
    assert all(CAMPAIGNS[referrer] == query for referrer, query in landings)
    assert "" in {row["referrer"] for row in rows} and "https://www.google.com/" in {row["referrer"] for row in rows}
    per_session = Counter(row["session_id"] for row in rows)
    assert 4 <= mean(per_session.values()) <= 9
    assert len({row["user_agent"] for row in rows}) <= 20 and len({row["ip_hash"] for row in rows}) <= 400


def test_anonymous_and_identified_people(rows):
    identified = {row["anonymous_id"] for row in rows if row["user_id"]}
    everyone = {row["anonymous_id"] for row in rows}
    assert identified and everyone - identified
    # About `users` (events / 100) people show up.
    assert 0.7 * EVENTS / 100 <= len(everyone) <= 1.1 * EVENTS / 100
    signups = [row for row in rows if row["event"] == SIGNUP_EVENT]
    assert signups and all(row["user_id"] and row["distinct_id"] == row["user_id"] for row in signups)
    # Before their signup, people who sign up during the period are anonymous.
    first_signup = {row["anonymous_id"]: row["timestamp"] for row in sorted(signups, key=lambda r: r["timestamp"], reverse=True)}
    before = [row for row in rows if row["anonymous_id"] in first_signup and row["timestamp"] < first_signup[row["anonymous_id"]]]
    assert before and all(row["user_id"] == "" and row["distinct_id"] == row["anonymous_id"] for row in before)


def test_the_journey_drops_off(rows):
    counts = Counter(row["event"] for row in rows)
    assert counts[SIGNUP_EVENT] > counts[ACTIVATION_EVENT] > counts[PURCHASE_EVENT] > 0


def test_weekends_are_quieter_and_people_come_back(rows):
    per_day = Counter()
    days_of = defaultdict(set)
    for row in rows:
        day = utc(row["timestamp"]).astimezone(NEW_YORK).date()
        per_day[day] += 1
        days_of[row["anonymous_id"]].add(day)
    full_days = sorted(per_day)[1:-1]
    weekdays = mean(per_day[d] for d in full_days if d.weekday() < 5)
    weekends = mean(per_day[d] for d in full_days if d.weekday() >= 5)
    assert weekends < 0.75 * weekdays
    returning = [person for person, days in days_of.items() if len(days) >= 3]
    assert len(returning) >= 0.2 * len(days_of)
    per_person = sorted(Counter(row["anonymous_id"] for row in rows).values())
    assert per_person[-1] > 20 * per_person[len(per_person) // 2]  # a few heavy users


def test_daily_cycle_follows_the_local_clock(rows):
    hours = Counter(utc(row["timestamp"]).astimezone(NEW_YORK).hour for row in rows)
    assert hours[14] > 3 * hours[4]


def test_never_in_the_future_of_the_period_end():
    end = datetime(2026, 11, 2, 17, 42, 10, 500000, tzinfo=timezone.utc)  # mid-day: the busiest hours are cut
    rows = list(traffic_rows(project_id=1, start=end - timedelta(days=2), end=end, events=5_000))
    assert len(rows) == 5_000
    assert all(end - timedelta(days=2) <= utc(row["timestamp"]) < end for row in rows)


@pytest.mark.parametrize("module", [catalog, population])
def test_the_generator_is_pure(module):
    source = Path(module.__file__).read_text()
    assert "django" not in source and "datetime.now" not in source and "import numpy" not in source
