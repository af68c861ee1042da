"""The seed_events and seed_demo commands, as `make run` and operators use them."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from apps.demo.services import DEMO_PROJECT_NAME
from apps.projects.models import Project
from pulseboard import clickhouse

User = get_user_model()


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


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


@pytest.mark.django_db
def test_a_restart_keeps_the_demo_user_logged_in(var_dir, capsys):
    """`make run` runs seed_demo on every start: the demo login's sessions must survive it."""
    call_command("seed_demo", "--events", "50", "--days", "1")
    password = (var_dir / "demo_password").read_text()
    assert f"demo / {password}" in capsys.readouterr().out
    browser = Client()
    assert browser.login(username="demo", password=password)
    project = Project.objects.get(name=DEMO_PROJECT_NAME, memberships__user__username="demo")
    page = f"/projects/{project.id}/funnels/"
    assert browser.get(page).status_code == 200

    call_command("seed_demo", "--events", "50")  # the next start
    assert f"demo / {password}" in capsys.readouterr().out
    assert browser.get(page).status_code == 200  # still logged in, not sent to the login page


@pytest.mark.django_db
def test_demo_password_from_the_environment_is_applied(var_dir, settings, capsys):
    call_command("seed_demo", "--events", "50", "--days", "1")
    settings.DEMO_PASSWORD = "from-the-env-123"
    call_command("seed_demo", "--events", "50")
    assert "demo / from-the-env-123" in capsys.readouterr().out
    browser = Client()
    assert browser.login(username="demo", password="from-the-env-123")
    call_command("seed_demo", "--events", "50")  # the same password again: sessions survive it too
    assert browser.get("/projects/").status_code == 200
