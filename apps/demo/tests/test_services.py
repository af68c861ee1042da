"""Writing the demo traffic (events_seed) and the demo login, its project and funnels."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from django.contrib.auth import get_user_model

from apps.demo.catalog import EVENT_NAMES
from apps.demo.population import traffic_rows
from apps.demo.services import DEMO_USERNAME, demo_funnels_ensure, demo_project_ensure, events_seed, json_each_row
from apps.funnels.models import Funnel
from apps.ingest.models import EventDefinition
from apps.projects.models import Project
from conftest import MembershipFactory
from pulseboard import clickhouse

END = datetime(2026, 11, 2, 5, tzinfo=timezone.utc)  # midnight in New York
START = END - timedelta(days=30)
User = get_user_model()


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return list(traffic_rows(project_id=7, start=START, end=END, events=2_000))


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
def test_an_older_demo_superuser_is_made_an_ordinary_user():
    User.objects.create_user(username=DEMO_USERNAME, password="old", is_staff=True, is_superuser=True)
    demo = demo_project_ensure(password="demo-pass-123")
    user = User.objects.get(username=demo.username)
    assert user.is_staff and not user.is_superuser and user.check_password("demo-pass-123")


@pytest.mark.django_db
def test_demo_funnels_are_created_once():
    project = MembershipFactory().project
    created = demo_funnels_ensure(project=project)
    assert [f.name for f in created] == ["Signup → purchase", "Visit → signup"]
    assert [s.event for s in created[0].steps.all()] == ["signed_up", "created_project", "purchase"]
    assert [s.event for s in created[1].steps.all()] == ["$pageview", "clicked_cta", "signed_up"]
    assert created[0].window_seconds == 7 * 86400
    assert demo_funnels_ensure(project=project) == []
    assert Funnel.objects.filter(project=project).count() == 2


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


@pytest.mark.django_db
def test_a_new_demo_login_gets_a_generated_password_and_the_file_holds_exactly_it(var_dir):
    demo = demo_project_ensure()
    stored = (var_dir / "demo_password").read_text()
    assert demo.password == stored and len(stored) == 16
    assert User.objects.get(username=DEMO_USERNAME).check_password(stored)


@pytest.mark.django_db
def test_an_existing_demo_login_keeps_its_password_unless_one_is_given(var_dir):
    first = demo_project_ensure()
    again = demo_project_ensure()
    assert again.password == first.password and not again.created
    assert User.objects.get(username=DEMO_USERNAME).check_password(first.password)
    chosen = demo_project_ensure(password="chosen-pass-123")
    assert chosen.password == "chosen-pass-123"
    assert User.objects.get(username=DEMO_USERNAME).check_password("chosen-pass-123")


@pytest.mark.django_db
def test_an_older_password_file_still_gives_the_password_it_gave(var_dir):
    """Older versions wrote 64 characters and used the first 16 as the password."""
    old = secrets.token_urlsafe(48)
    (var_dir / "demo_password").write_text(old)
    User.objects.create_user(username=DEMO_USERNAME, password=old[:16])
    demo = demo_project_ensure()
    assert demo.password == old[:16] == (var_dir / "demo_password").read_text()
    assert User.objects.get(username=DEMO_USERNAME).check_password(old[:16])


@pytest.mark.django_db
def test_an_unknown_password_is_not_made_up(var_dir):
    """A demo login made some other way, with no generated password on file: kept, not shown."""
    User.objects.create_user(username=DEMO_USERNAME, password="theirs-123")
    demo = demo_project_ensure()
    assert demo.password is None and not (var_dir / "demo_password").exists()
    assert User.objects.get(username=DEMO_USERNAME).check_password("theirs-123")


@pytest.mark.django_db
def test_seeded_visitors_merge_into_the_users_they_sign_up_as(member):
    """Anonymous visits, then a sign-up that carries the anonymous id, then a second device:
    the demo's persons have several ids, and a visit -> signup funnel converts."""
    from apps.demo.selectors import persons_with_ids
    from apps.funnels.engine import FunnelDefinition, Step, funnel_run
    from apps.persons.selectors import persons_list

    events_seed(project_id=member.project.id, days=30, events=40_000, end=END)
    persons, merged = persons_with_ids(project_id=member.project.id)
    assert 0.1 < merged / persons < 0.9
    listed = persons_list(project_id=member.project.id, limit=1000).results
    assert any(len(p.distinct_ids) >= 3 for p in listed)
    # Identified persons carry the plan and country their identify set; visitors none.
    users = [p for p in listed if any(i.startswith("usr_") for i in p.distinct_ids)]
    assert users and all(p.properties.get("plan") in {"free", "starter", "pro", "enterprise"} and p.properties.get("country") for p in users)
    assert {p.properties["plan"] for p in users} >= {"free", "pro"}
    assert all("plan" not in p.properties for p in listed if p not in users)
    definition = FunnelDefinition(steps=(Step("$pageview"), Step("signed_up")), window_seconds=14 * 86400)
    counts = [s["count"] for s in funnel_run(project_id=member.project.id, definition=definition, date_from=START, date_to=END)["steps"]]
    assert 0.02 < counts[1] / counts[0] < 0.6, counts
