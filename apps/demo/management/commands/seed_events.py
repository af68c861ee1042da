"""``manage.py seed_events``: realistic demo traffic for a project, straight into ClickHouse."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta, timezone

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from apps.demo.selectors import people_count, persons_with_ids
from apps.demo.services import events_seed
from apps.projects.models import Project
from pulseboard import clickhouse
from pulseboard.clickhouse.migrate import migrations_apply

BUSY_HELP = (
    "To seed events:\n"
    "  1. stop the server (Ctrl-C in the terminal running `make run`),\n"
    "  2. run this command again,\n"
    "  3. start the server again with `make run`; it shows the new events at once."
)


def clickhouse_open() -> None:
    """Open ClickHouse and apply its schema, or fail with what to do about it."""
    try:
        clickhouse.backend()
        migrations_apply()
    except clickhouse.ClickHouseBusy as exc:
        raise CommandError(f"{exc}\n\n{BUSY_HELP}") from exc
    except clickhouse.ClickHouseError as exc:
        raise CommandError(f"ClickHouse is not usable: {exc}") from exc


def positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


def seed_with_progress(
    command: BaseCommand, *, project: Project, days: int, events: int, seed: int, batch_size: int, verbosity: int
) -> None:
    """Seed with a progress bar and print a summary: events, distinct users, time, rate."""
    end = datetime.now(timezone.utc)
    started = time.monotonic()
    with tqdm(total=events, unit="event", unit_scale=True, file=sys.stderr, disable=verbosity == 0) as bar:
        try:
            written = events_seed(
                project_id=project.id, days=days, events=events, seed=seed, end=end, batch_size=batch_size, progress=bar.update
            )
        except clickhouse.ClickHouseError as exc:
            raise CommandError(f"Writing to ClickHouse failed: {exc}") from exc
    elapsed = time.monotonic() - started
    users = people_count(project_id=project.id, start=end - timedelta(days=days), end=end)
    persons, merged = persons_with_ids(project_id=project.id)
    command.stdout.write(
        command.style.SUCCESS(f"Wrote {written:,} events")
        + f" to project {project.name!r} (id {project.id}) over the last {days} days (seed {seed})"
        + f" in {elapsed:.1f} s ({written / max(elapsed, 1e-9):,.0f} events/s);"
        + f" the project has {users:,} distinct users in those days"
        + f" ({merged:,} of its {persons:,} persons have two ids or more)."
    )


class Command(BaseCommand):
    help = (
        "Write realistic demo traffic for a project straight into ClickHouse: returning and anonymous "
        "users, sessions, a signup -> activation -> purchase journey, weekly and daily cycles in the "
        "project's timezone. Needs the embedded ClickHouse to itself: "
        "stop `make run` first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", type=int, required=True, help="Id of the project to seed.")
        parser.add_argument("--events", type=positive, required=True, help="How many events to write.")
        parser.add_argument("--days", type=positive, default=30, help="Spread them over this many days up to now (default 30).")
        parser.add_argument(
            "--seed", type=int, default=0, help="Random seed (default 0); the same seed and period give the same events."
        )
        parser.add_argument(
            "--batch-size", type=positive, default=200_000, help="Events per ClickHouse insert (default 200000)."
        )

    def handle(self, *args, **options) -> None:
        project = Project.objects.filter(id=options["project"]).first()
        if project is None:
            raise CommandError(
                f"There is no project with id {options['project']}. "
                "Create one with `manage.py bootstrap --username U --password P --project NAME --json`, "
                "which prints its project_id."
            )
        clickhouse_open()
        seed_with_progress(
            self,
            project=project,
            days=options["days"],
            events=options["events"],
            seed=options["seed"],
            batch_size=options["batch_size"],
            verbosity=options["verbosity"],
        )
