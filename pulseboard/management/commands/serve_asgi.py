"""The WebSocket tier of the server deployment (docker-compose.yml's ``asgi``): Django's
ASGI application under uvicorn, with the configuration of ``manage.py serve``."""

import uvicorn
from django.core.management.base import BaseCommand

from pulseboard.servers import uvicorn_config


class Command(BaseCommand):
    help = "Serve pulseboard.asgi:application (WebSockets and HTTP) under uvicorn, for the server deployment's asgi service."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8001)

    def handle(self, *args, **options):
        uvicorn.Server(uvicorn_config("pulseboard.asgi:application", host=options["host"], port=options["port"], log_level="info")).run()
