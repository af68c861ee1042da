"""``manage.py reconcile``: compare every rollup with events, and repair what drifted."""

from __future__ import annotations

import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from apps.ingest.models import ReconcileRun
from apps.ingest.reconcile import reconcile_run
from apps.projects.models import Project
from pulseboard import clickhouse


class Command(BaseCommand):
    help = (
        "Compare each rollup (event counts, active persons, sessions, funnel events) with the events table, "
        "per project and hour (or day), and rebuild every bucket that differs. Beat runs this every night. "
        "While the embedded server runs (it holds the embedded ClickHouse), the run is handed to it and this "
        "command waits for the result."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", type=int, help="Only this project id (default: every project).")
        parser.add_argument("--check", action="store_true", help="Only report drift; repair nothing.")
        parser.add_argument("--wait", type=int, default=3600, help="Seconds to wait for a run handed to the server (default 3600).")

    def handle(self, *args, **options) -> None:
        project_id = options["project"]
        if project_id is not None and not Project.objects.filter(id=project_id).exists():
            raise CommandError(f"No project with id {project_id}.")
        repair = not options["check"]
        try:
            clickhouse.backend()
        except clickhouse.ClickHouseBusy as exc:
            if not settings.EMBEDDED:
                raise CommandError(str(exc)) from exc
            run = self._through_server(project_id=project_id, repair=repair, wait=options["wait"])
        except clickhouse.ClickHouseError as exc:
            raise CommandError(f"ClickHouse is not usable: {exc}") from exc
        else:
            with tqdm(unit="project", file=sys.stderr, disable=options["verbosity"] == 0) as bar:

                def progress(done: int, total: int) -> None:
                    bar.total = total
                    bar.update(done - bar.n)

                try:
                    run = reconcile_run(project_id=project_id, repair=repair, progress=progress)
                except clickhouse.ClickHouseError as exc:
                    raise CommandError(f"Reconciling failed: {exc}") from exc
        self._report(run)

    def _through_server(self, *, project_id: int | None, repair: bool, wait: int) -> ReconcileRun:
        """The running server holds chdb: queue the run for its worker and wait for it."""
        from apps.ingest.tasks import reconcile_rollups

        run = ReconcileRun.objects.create(project_id=project_id, repair=repair)
        reconcile_rollups.delay(run.id)
        self.stderr.write(f"The server holds the embedded ClickHouse: run #{run.id} is queued for it. Waiting...")
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.status in (ReconcileRun.Status.DONE, ReconcileRun.Status.FAILED):
                return run
            time.sleep(1)
        raise CommandError(
            f"Run #{run.id} did not finish within {wait} s (status: {run.status}). Is the server running? "
            "It will still run when the server picks it up; /healthz shows the last run."
        )

    def _report(self, run: ReconcileRun) -> None:
        if run.status == ReconcileRun.Status.FAILED:
            raise CommandError(f"Run #{run.id} failed: {run.error}")
        summary = f"Run #{run.id}: {run.projects} project(s), {run.buckets:,} buckets compared, {run.drift} drifting"
        if run.repair:
            summary += f", {run.repaired} repaired"
        self.stdout.write((self.style.SUCCESS if run.drift == run.repaired else self.style.WARNING)(summary + "."))
        for item in run.details:
            self.stdout.write(f"  {item['table']}  project {item['project_id']}  {item['bucket']}: events say {item['events']}, rollup has {item['rollup']}")
