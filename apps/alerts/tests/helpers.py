"""What the alert tests share: storing events through ingest and the flush, evaluating as
beat does at a frozen moment, and a webhook receiver on 127.0.0.1 that checks signatures."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import time_machine
from rest_framework.test import APIClient

from apps.alerts.tasks import evaluate_due
from conftest import flush, post_events

UTC = timezone.utc


def store(project, events: list[dict], *, at: datetime) -> None:
    """Send ``events`` (``timestamp`` an aware datetime) through the ingest API and flush them,
    the clock at ``at``."""
    with time_machine.travel(at, tick=True):
        client = APIClient()
        for start in range(0, len(events), 500):
            body = {"events": [{**e, "timestamp": e["timestamp"].astimezone(UTC).isoformat()} for e in events[start : start + 500]]}
            response = post_events(client, project.api_key, body)
            assert response.status_code == 202, response.content
        flush()


def evaluate(at: datetime, capture) -> dict:
    """One beat of the alerts at ``at`` (the clock frozen there), the notices it queues sent
    (Celery runs eagerly in these tests; ``capture`` runs the on-commit callbacks)."""
    with time_machine.travel(at, tick=False), capture(execute=True):
        return evaluate_due()


@dataclass
class Hit:
    headers: dict  # names in lower case (HTTP header names are case-insensitive)
    body: bytes
    signature_ok: bool

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str
    secret: str = ""
    status: int = 200
    hits: list[Hit] = field(default_factory=list)


@contextmanager
def webhook_receiver(status: int = 200):
    """An HTTP server on 127.0.0.1 in a thread: it records every POST and checks its
    ``X-PulseBoard-Signature`` against ``receiver.secret`` (set it once the alert exists),
    answering ``receiver.status``."""
    receiver = Receiver(url="", status=status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            expected = "sha256=" + hmac.new(receiver.secret.encode(), body, hashlib.sha256).hexdigest()
            given = self.headers.get("X-PulseBoard-Signature", "")
            receiver.hits.append(Hit({k.lower(): v for k, v in self.headers.items()}, body, bool(receiver.secret) and hmac.compare_digest(expected, given)))
            self.send_response(receiver.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
