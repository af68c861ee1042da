"""``manage.py seed_demo``: the demo login, its "Demo Shop" project and two months of traffic."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from apps.demo.management.commands.seed_events import clickhouse_open, positive, seed_with_progress
from apps.demo.selectors import events_stored
from apps.demo.services import demo_funnels_ensure, demo_project_ensure


class Command(BaseCommand):
    help = (
        "Create (or reuse) the demo user and its 'Demo Shop' project (America/New_York) and, if the "
        "project has no events yet, seed it with realistic traffic. Safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--events", type=positive, default=settings.DEMO_EVENTS, help="Events to seed (default DEMO_EVENTS, 300000)."
        )
        # 60 days: the default 30-day view then compares with a previous period as full as itself.
        parser.add_argument("--days", type=positive, default=60, help="Spread them over this many days up to now (default 60).")
        parser.add_argument(
            "--seed", type=int, default=0, help="Random seed (default 0); the same seed and period give the same events."
        )
        parser.add_argument(
            "--password",
            help=(
                "Password of the demo user, set on every run. Default: DEMO_PASSWORD; without either, a new demo "
                "user gets a generated one (kept in var/demo_password) and an existing one keeps its own."
            ),
        )

    def handle(self, *args, **options) -> None:
        clickhouse_open()
        demo = demo_project_ensure(password=options["password"] or settings.DEMO_PASSWORD)
        project = demo.project
        password = demo.password if demo.password is not None else "(its password, unchanged)"
        self.stdout.write(
            f"Log in as  {demo.username} / {password}\n"
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
