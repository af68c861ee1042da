"""The demo traffic generator, events_seed and the seed_events / seed_demo commands."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from statistics import mean
from zoneinfo import ZoneInfo

import orjson
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from apps.analytics import seed as seed_module
from apps.analytics.seed import ACTIVATION_EVENT, EVENT_NAMES, PURCHASE_EVENT, SIGNUP_EVENT, traffic_chunks, traffic_rows
from apps.analytics.services import DEMO_PROJECT_NAME, DEMO_USERNAME, demo_project_ensure, events_seed, json_each_row
from apps.ingest.models import EventDefinition
from apps.ingest.validation import EVENT_COLUMNS, Limits, RequestContext, event_validate
from apps.projects.models import Project
from pulseboard import clickhouse

END = datetime(2026, 11, 2, 5, tzinfo=timezone.utc)  # midnight in New York
START = END - timedelta(days=30)
NEW_YORK = ZoneInfo("America/New_York")
EVENTS = 20_000
User = get_user_model()
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
    """Sent to the ingest endpoint, each row would be accepted and stored unchanged."""
    limits = Limits()
    for row in rows:
        raw = {key: row[key] for key in CLIENT_FIELDS if row[key]}
        raw["timestamp"] = row["timestamp"].replace(" ", "T") + "Z"
        raw["properties"] = orjson.loads(row["properties"])
        context = RequestContext(project_id=7, received_at=END, user_agent=row["user_agent"], ip_hash=row["ip_hash"])
        validated, problems = event_validate(raw, context=context, limits=limits)
        assert problems == []
        assert {**validated, "received_at": row["timestamp"]} == row


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
    pages = {row["page_url"] for row in rows if row["event"] == "$pageview"}
    assert 10 <= len(pages) <= 15 and all(page.startswith("https://shop.example.com/") for page in pages)
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


def test_json_each_row_is_one_object_per_line(rows):
    tricky = {**rows[0], "properties": '{"a":[{"b":1},{"project_id":2}]}', "page_url": 'x,{"project_id":3}'}
    sample = [*rows[:500], tricky, rows[500]]
    assert json_each_row(sample) == b"\n".join(orjson.dumps(row) for row in sample)


@pytest.mark.django_db
def test_events_seed_writes_every_row_and_fills_the_catalog(member, count_stored):
    batches = []
    written = events_seed(
        project_id=member.project.id, days=30, events=12_345, end=END, batch_size=5_000, progress=batches.append
    )
    assert written == 12_345 and batches == [5_000, 5_000, 2_345]
    assert count_stored(member.project.id) == 12_345
    definitions = EventDefinition.objects.filter(project=member.project)
    assert {d.name for d in definitions} <= set(EVENT_NAMES)
    assert all(START <= d.first_seen <= d.last_seen < END for d in definitions)
    stored = clickhouse.query(
        "SELECT count(), min(timestamp), max(timestamp) FROM events WHERE project_id = {p:UInt64} AND event = {e:String}",
        {"p": member.project.id, "e": "$pageview"},
    ).rows[0]
    pageviews = definitions.get(name="$pageview")
    assert stored[0] > 0 and stored[1:] == (pageviews.first_seen, pageviews.last_seen)


@pytest.mark.django_db
def test_events_seed_refuses_the_future_and_unknown_projects(member):
    with pytest.raises(ValueError):
        events_seed(project_id=member.project.id, days=1, events=10, end=datetime.now(timezone.utc) + timedelta(hours=1))
    with pytest.raises(Project.DoesNotExist):
        events_seed(project_id=10**9, days=1, events=10)


@pytest.mark.django_db
def test_seed_events_command(member, count_stored, capsys):
    call_command("seed_events", "--project", str(member.project.id), "--days", "7", "--events", "3000", "--seed", "5")
    assert count_stored(member.project.id) == 3000
    out = capsys.readouterr().out
    assert "Wrote 3,000 events" in out and "distinct users" in out and "events/s" in out


@pytest.mark.django_db
def test_seed_events_command_names_an_unknown_project():
    with pytest.raises(CommandError, match="no project with id 999999999"):
        call_command("seed_events", "--project", "999999999", "--events", "10")


@pytest.mark.django_db
def test_seed_events_command_explains_a_busy_chdb(member, monkeypatch):
    def busy():
        raise clickhouse.ClickHouseBusy("The embedded ClickHouse at /x/chdb is in use by PulseBoard process 42.")

    monkeypatch.setattr(clickhouse, "backend", busy)
    with pytest.raises(CommandError) as error:
        call_command("seed_events", "--project", str(member.project.id), "--events", "10")
    message = str(error.value)
    assert "process 42" in message and "stop the server" in message and "make run" in message


@pytest.mark.django_db
def test_seed_demo_creates_the_demo_once(count_stored, capsys):
    call_command("seed_demo", "--events", "2000", "--days", "7", "--password", "demo-pass-123")
    project = Project.objects.get(name=DEMO_PROJECT_NAME, memberships__user__username="demo")
    assert project.timezone == "America/New_York"
    assert count_stored(project.id) == 2000
    assert "demo / demo-pass-123" in capsys.readouterr().out
    demo = User.objects.get(username="demo")
    assert demo.is_staff and not demo.is_superuser  # the admin shows it its own funnels, nothing else
    call_command("seed_demo", "--events", "2000", "--password", "demo-pass-123")
    assert Project.objects.filter(name=DEMO_PROJECT_NAME).count() == 1
    assert count_stored(project.id) == 2000
    assert "not seeding" in capsys.readouterr().out


@pytest.mark.django_db
def test_an_older_demo_superuser_is_made_an_ordinary_user():
    User.objects.create_user(username=DEMO_USERNAME, password="old", is_staff=True, is_superuser=True)
    demo = demo_project_ensure(password="demo-pass-123")
    user = User.objects.get(username=demo.username)
    assert user.is_staff and not user.is_superuser and user.check_password("demo-pass-123")


def test_seed_module_is_pure():
    source = Path(seed_module.__file__).read_text()
    assert "django" not in source and "datetime.now" not in source and "import numpy" not in source
