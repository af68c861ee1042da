"""Browsers on other sites send events: the real posthog-js from npm, and a plain fetch with
X-API-Key, each from a page on another origin than PulseBoard (so CORS is exercised)."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest
from django.conf import settings

from conftest import MembershipFactory, flush
from pulseboard import clickhouse

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

POSTHOG_JS = Path(__file__).resolve().parents[3] / "node_modules" / "posthog-js" / "dist" / "array.js"


@contextmanager
def other_origin(files: dict[str, tuple[bytes, str]]):
    """A tiny web server on 127.0.0.1 (PulseBoard's live server is on localhost: another
    origin) that serves ``files``: path -> (body, content type)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            found = files.get(self.path.split("?")[0])
            if found is None:
                self.send_error(404)
                return
            body, content_type = found
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def stored_events(project_id: int) -> list[dict]:
    return clickhouse.query(
        "SELECT event, distinct_id, page_url, session_id, source, properties FROM events "
        "WHERE project_id = {p:UInt64} ORDER BY timestamp",
        {"p": project_id},
    ).dicts()


def json_depth(value) -> int:
    """Objects and lists inside one another: {"a": 1} is 1 deep, {"a": [1]} 2."""
    if isinstance(value, dict):
        return 1 + max(map(json_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(json_depth, value), default=0)
    return 0


def wait_for_events(project_id: int, names: set[str], seconds: float = 30) -> list[dict]:
    """Flush the stream until events with all ``names`` are stored (or give up)."""
    deadline = time.monotonic() + seconds
    while True:
        flush()
        rows = stored_events(project_id)
        if names <= {row["event"] for row in rows} or time.monotonic() > deadline:
            return rows
        time.sleep(0.3)


def test_posthog_js_from_npm_captures_a_pageview_and_a_custom_event(page, live_server):
    if not POSTHOG_JS.exists():
        pytest.fail("posthog-js is missing: run `npm ci` (`make test` does it).")
    project = MembershipFactory().project
    html = f"""<!doctype html><html><head><meta charset="utf-8"><title>Shop</title>
<link rel="icon" href="data:,">
<script src="/posthog.js"></script>
<script>
  posthog.init({orjson.dumps(project.api_key).decode()}, {{
    api_host: {orjson.dumps(live_server.url).decode()},
    opt_out_useragent_filter: true,  // the test browser is headless Chromium, which posthog-js takes for a bot
  }});
</script></head>
<body><button id="buy" onclick="posthog.capture('clicked_buy', {{plan: 'pro'}})">Buy</button></body></html>"""
    files = {"/shop": (html.encode(), "text/html"), "/posthog.js": (POSTHOG_JS.read_bytes(), "application/javascript")}
    with other_origin(files) as origin:
        page.goto(f"{origin}/shop")
        page.wait_for_function("window.posthog && window.posthog.__loaded")
        page.click("#buy")
        rows = wait_for_events(project.id, {"$pageview", "clicked_buy"})
        distinct_id = page.evaluate("posthog.get_distinct_id()")
        # No $pageleave beacon while the test database is being torn down.
        page.evaluate("posthog.set_config({capture_pageleave: false})")

    by_name = {row["event"]: row for row in rows}
    assert {"$pageview", "clicked_buy"} <= set(by_name)
    pageview, custom = by_name["$pageview"], by_name["clicked_buy"]
    assert pageview["distinct_id"] == custom["distinct_id"] == distinct_id
    assert pageview["page_url"] == f"{origin}/shop"
    assert pageview["source"] == "web"
    assert pageview["session_id"] and pageview["session_id"] == custom["session_id"]
    properties = orjson.loads(custom["properties"])
    assert properties["plan"] == "pro"
    assert "token" not in properties
    # What posthog-js really sends ($set, $set_once, autocapture's elements...) nests a few
    # levels at most, far inside the limit a deeper event is refused at.
    depths = {row["event"]: json_depth(orjson.loads(row["properties"])) for row in rows}
    assert max(depths.values()) <= 4 < settings.INGEST_MAX_PROPERTIES_DEPTH, depths


def test_a_page_on_another_origin_posts_to_the_native_api(page, live_server):
    project = MembershipFactory().project
    script = f"""
      const answer = await fetch({orjson.dumps(live_server.url + "/api/v1/events").decode()}, {{
        method: "POST",
        headers: {{"Content-Type": "application/json", "X-API-Key": {orjson.dumps(project.api_key).decode()},
                   "Idempotency-Key": "cross-origin-1"}},
        body: JSON.stringify({{event: "signed_up", distinct_id: "browser-user", properties: {{plan: "pro"}}}}),
      }});
      document.body.dataset.status = answer.status;
      document.body.dataset.accepted = (await answer.json()).accepted;
    """
    html = f'<!doctype html><html><head><link rel="icon" href="data:,"></head><body><script type="module">{script}</script></body></html>'
    with other_origin({"/page": (html.encode(), "text/html")}) as origin:
        assert not origin.startswith(live_server.url)
        page.goto(f"{origin}/page")
        page.wait_for_selector("body[data-status]", state="attached")
        assert page.get_attribute("body", "data-status") == "202"
        assert page.get_attribute("body", "data-accepted") == "1"
    rows = wait_for_events(project.id, {"signed_up"})
    assert [(row["event"], row["distinct_id"]) for row in rows] == [("signed_up", "browser-user")]
