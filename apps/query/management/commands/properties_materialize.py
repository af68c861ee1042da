"""Give hot event properties columns of their own, so breakdowns by them and filters on them skip the JSON."""

import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from apps.query.materialized import (
    CACHE_SECONDS,
    column_drop,
    materialize_progress,
    materialized_properties,
    property_materialize,
    property_unmark,
)
from pulseboard.clickhouse import ClickHouseError


class Command(BaseCommand):
    help = (
        "Materialise event properties: each KEY gets a column of events that ClickHouse fills on insert "
        "(and for the events stored before, in the background), read by breakdowns instead of the JSON. "
        "Figures do not change, only their speed. Filters (equals, not_equals, contains) read the columns too. --list shows them; --drop KEY removes one."
    )

    def add_arguments(self, parser):
        parser.add_argument("keys", nargs="*", metavar="KEY", help="property keys, as sent (e.g. '$browser' plan)")
        parser.add_argument("--list", action="store_true", help="list the materialised properties and their columns")
        parser.add_argument("--drop", action="store_true", help="remove the columns of the KEYs instead")
        parser.add_argument("--no-wait", action="store_true", help="do not wait while the events stored before are written")

    def handle(self, *args, **options):
        try:
            if options["list"]:
                found = materialized_properties(fresh=True)
                if not found:
                    self.stdout.write("No materialised properties.")
                for key, column in sorted(found.items()):
                    self.stdout.write(f"{key}\t{column}")
                return
            if not options["keys"]:
                raise CommandError("Name at least one property key, or use --list.")
            if options["drop"]:
                self._drop(options["keys"], quiet=options["verbosity"] == 0)
                return
            for key in options["keys"]:
                column, new = property_materialize(key)
                self.stdout.write(f"{key}: {'added' if new else 'already has'} column {column}")
            if not options["no_wait"]:
                self._wait(quiet=options["verbosity"] == 0)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        except ClickHouseError as exc:
            raise CommandError(str(exc)) from exc

    def _wait(self, *, quiet: bool) -> None:
        """Follow the background write of the new columns into the parts stored before."""
        left, parts = materialize_progress()
        with tqdm(total=parts, unit="part", desc="writing the stored events", file=sys.stderr, disable=quiet) as bar:
            while left:
                bar.n = max(0, parts - left)
                bar.refresh()
                time.sleep(0.5)
                left, _ = materialize_progress()
            bar.n = parts
            bar.refresh()
        self.stdout.write(self.style.SUCCESS("Done: breakdowns by and filters on these properties read their columns."))

    def _drop(self, keys: list[str], *, quiet: bool) -> None:
        columns = [(key, property_unmark(key)) for key in keys]
        for key, column in columns:
            if column is None:
                self.stdout.write(f"{key}: not materialised")
        columns = [column for _, column in columns if column]
        if not columns:
            return
        if settings.CLICKHOUSE_URL:
            # Other processes may still read a column for as long as they cache the list.
            wait = int(CACHE_SECONDS) + 5
            for _ in tqdm(range(wait), unit="s", desc="letting every process stop reading the columns", file=sys.stderr, disable=quiet):
                time.sleep(1)
        for column in columns:
            column_drop(column)
            self.stdout.write(f"dropped {column}")
