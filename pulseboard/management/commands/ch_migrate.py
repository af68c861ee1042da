from django.core.management.base import BaseCommand, CommandError

from pulseboard.clickhouse import ClickHouseError
from pulseboard.clickhouse.migrate import migrations_applied, migrations_apply, migrations_available


class Command(BaseCommand):
    help = "Apply the versioned ClickHouse DDL (idempotent). --list shows what is applied."

    def add_arguments(self, parser):
        parser.add_argument("--list", action="store_true", help="List migrations and whether each is applied.")

    def handle(self, *args, **options):
        try:
            if options["list"]:
                applied = migrations_applied()
                for migration in migrations_available():
                    mark = "[X]" if migration.version in applied else "[ ]"
                    self.stdout.write(f" {mark} {migration.version:04d}_{migration.name}")
                return
            done = migrations_apply()
        except ClickHouseError as exc:
            raise CommandError(str(exc)) from exc
        if done:
            for migration in done:
                self.stdout.write(self.style.SUCCESS(f"Applied {migration.version:04d}_{migration.name}"))
        else:
            self.stdout.write("ClickHouse schema is up to date.")
