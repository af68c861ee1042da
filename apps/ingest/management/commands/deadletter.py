"""``manage.py deadletter``: the events ClickHouse refused, listed, replayed or dropped."""

from __future__ import annotations

from datetime import datetime, timezone

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.ingest import stream


class Command(BaseCommand):
    help = (
        "Events that ClickHouse refused are kept in the dead-letter stream, never dropped. "
        "`list` shows them with the error; after fixing the cause, `replay` sends them through the batch writer "
        "again (refused again, they come back here); `drop` deletes them for good. Works while the server runs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["list", "replay", "drop"])
        parser.add_argument("--project", type=int, help="Only this project's events.")
        parser.add_argument("--id", action="append", dest="ids", default=[], help="A dead-letter entry id (repeatable).")
        parser.add_argument("--limit", type=int, default=100, help="At most this many (default 100; list and replay-all).")
        parser.add_argument("--all", action="store_true", help="With replay or drop: every entry (of --project, if given).")

    def handle(self, *args, **options) -> None:
        action = options["action"]
        if action == "list":
            return self._list(options)
        if not options["ids"] and not options["all"]:
            raise CommandError(f"Say which entries to {action}: --id ID (repeatable), or --all (with --project to narrow it).")
        ids = options["ids"] or [
            letter.id for letter in stream.deadletters(project_id=options["project"], limit=options["limit"] if options["limit"] > 0 else 10**9)
        ]
        if action == "replay":
            moved = stream.deadletters_replay(entry_ids=ids)
            self.stdout.write(self.style.SUCCESS(f"Sent {moved} event(s) back to the event stream; the next flush writes them."))
        else:
            dropped = stream.deadletters_drop(entry_ids=ids)
            self.stdout.write(self.style.SUCCESS(f"Deleted {dropped} event(s) from the dead-letter stream."))

    def _list(self, options) -> None:
        letters = stream.deadletters(project_id=options["project"], limit=options["limit"])
        total = stream.deadletter_count()
        if not letters:
            self.stdout.write("No refused events." if not total else f"No refused events of project {options['project']} ({total} in all).")
            return
        for letter in letters:
            when = datetime.fromtimestamp(letter.refused_at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
            row = letter.row
            self.stdout.write(
                f"{letter.id}  project {letter.project_id}  {when}  {row.get('event')!r} at {row.get('timestamp')}  "
                f"id {row.get('event_id')}\n    code {letter.code}: {letter.error.splitlines()[0][:300] if letter.error else ''}"
            )
        self.stdout.write(f"{len(letters)} shown, {total} in the dead-letter stream.")
