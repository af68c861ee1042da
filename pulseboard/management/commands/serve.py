"""``make run``: the whole embedded deployment in one process.

Web (HTTP through WSGI, WebSockets through ASGI) runs under uvicorn in a thread, Celery beat in a thread,
and the Celery worker in the main thread, where it owns the signals (Ctrl-C stops all).
This process opens chdb first and holds it until it exits.
"""

import threading
import warnings

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from pulseboard import embedded
from pulseboard.clickhouse import ClickHouseError, backend
from pulseboard.clickhouse.migrate import migrations_apply
from pulseboard.servers import uvicorn_config


class Command(BaseCommand):
    help = "Run PulseBoard on one machine: web, worker and beat in this process (the embedded deployment)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.HOST)
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--no-demo", action="store_true", help="Do not create the demo login and project.")
        parser.add_argument(
            "--demo-events",
            type=int,
            default=settings.DEMO_EVENTS,
            help="Events seeded into the demo project on first start (default 300000, or DEMO_EVENTS).",
        )

    def handle(self, *args, **options):
        try:
            backend()  # take the chdb lock before anything else, or fail with its message
            migrations_apply()
        except ClickHouseError as exc:
            raise CommandError(str(exc)) from exc
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        url = f"http://{options['host']}:{options['port']}"
        if not options["no_demo"]:
            # The demo login and its project; filled with two months of traffic on first start.
            call_command("seed_demo", events=options["demo_events"], stdout=self.stdout)
        self.stdout.write(
            self.style.SUCCESS(f"PulseBoard is starting on {url}/") + "  (Ctrl-C stops it)\n"
            "  Log in with the demo login above; the ingest key and a curl example are on the project's settings page.\n"
        )
        self.stdout.flush()
        self._serve(options["host"], options["port"])

    def _serve(self, host: str, port: int) -> None:
        import uvicorn
        from celery.beat import EmbeddedService
        from celery.exceptions import SecurityWarning

        from pulseboard.celery import app

        # The embedded worker runs as whoever runs `make run`, root in a container included;
        # it accepts JSON only, so Celery's warning about running as root does not apply.
        warnings.filterwarnings("ignore", category=SecurityWarning)

        web = uvicorn.Server(uvicorn_config("pulseboard.asgi:embedded_application", host=host, port=port))
        web_thread = threading.Thread(target=web.run, name="web", daemon=True)
        web_thread.start()
        beat = EmbeddedService(app, thread=True, schedule_filename=settings.CELERY_BEAT_SCHEDULE_FILENAME)
        beat.start()
        worker = app.Worker(
            pool_cls="solo",
            concurrency=1,
            loglevel="WARNING",
            without_gossip=True,
            without_mingle=True,
            without_heartbeat=True,
            quiet=True,
        )
        try:
            worker.start()
        finally:
            beat.stop()
            web.should_exit = True
            web_thread.join(timeout=10)
            embedded.private_redis_stop()
