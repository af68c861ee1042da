"""``manage.py seed_demo``: the demo login, its "Demo Shop" project and a month of traffic."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from apps.analytics.management.commands.seed_events import clickhouse_open, positive, seed_with_progress
from apps.analytics.services import demo_funnels_ensure, demo_project_ensure, events_stored
from pulseboard import embedded


class Command(BaseCommand):
    help = (
        "Create (or reuse) the demo user and its 'Demo Shop' project (America/New_York) and, if the "
        "project has no events yet, seed it with realistic traffic. Safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--events", type=positive, default=200_000, help="Events to seed (default 200000).")
        parser.add_argument("--days", type=positive, default=30, help="Spread them over this many days up to now (default 30).")
        parser.add_argument(
            "--seed", type=int, default=0, help="Random seed (default 0); the same seed and period give the same events."
        )
        parser.add_argument(
            "--password",
            help="Password of the demo user, set on every run. Default: DEMO_PASSWORD, else the one `make run` prints.",
        )

    def handle(self, *args, **options) -> None:
        clickhouse_open()
        # The same default as `manage.py serve`, so both print the same demo login.
        password = (
            options["password"]
            or os.environ.get("DEMO_PASSWORD")
            or embedded.local_secret(settings.VAR_DIR, "demo_password")[:16]
        )
        demo = demo_project_ensure(password=password)
        project = demo.project
        self.stdout.write(
            f"Log in as  {demo.username} / {demo.password}\n"
            f"  Project {project.name!r} (id {project.id}, {project.timezone}), ingest key {project.api_key}"
        )
        stored = events_stored(project_id=project.id)
        if stored:
            self.stdout.write(f"  The project already has {stored:,} events; not seeding it again.")
        else:
            seed_with_progress(
                self,
                project=project,
                days=options["days"],
                events=options["events"],
                seed=options["seed"],
                batch_size=200_000,
                verbosity=options["verbosity"],
            )
        demo_funnels_ensure(project=project)  # the two example funnels, once
