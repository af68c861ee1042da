"""The browser SDK (sdk/, built into static/sdk/pulseboard.js) in Chromium, against the real
ingest endpoint of the test server, down to the rows stored in ClickHouse.

Each test opens a customer's page: a small HTML document that Playwright serves at the test
server's origin (so the SDK's own origin is the ingest host) and that loads the built SDK
from the server's static files with one script tag, like the snippet of the settings page.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from django.test import override_settings

from pulseboard import clickhouse
from conftest import MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[3]
BUNDLE = ROOT / "static" / "sdk" / "pulseboard.js"
SIZE_LIMIT = 3 * 1024  # gzipped bytes

# Every `pulseboard:send` the SDK reports, and a promise for the n-th one: waiting on an
# event instead of polling keeps the tests independent of timers (which some tests fake).
# `__posts` counts the requests as they start, so a test can tell that none was made.
RECORDER = """
window.__posts = 0;
const realFetch = window.fetch;
window.fetch = (...args) => (__posts++, realFetch(...args));
window.__sent = [];
window.__waiters = [];
addEventListener("pulseboard:send", (e) => {
  __sent.push(e.detail);
  __waiters = __waiters.filter(([n, resolve]) => __sent.length >= n ? (resolve(__sent), false) : true);
});
window.__waitSent = (n) => __sent.length >= n ? __sent : new Promise((resolve) => __waiters.push([n, resolve]));
"""


def built_bundle() -> Path:
    """The SDK built from the current sources (`make sdk` does the same before the tests)."""
    sources = [*ROOT.joinpath("sdk", "src").glob("*.js"), ROOT / "sdk" / "build.mjs"]
    if not BUNDLE.exists() or BUNDLE.stat().st_mtime < max(p.stat().st_mtime for p in sources):
        subprocess.run(["node", "sdk/build.mjs"], cwd=ROOT, check=True, capture_output=True)
    return BUNDLE


@pytest.fixture
def shop(page, live_server):
    """Open a customer's page that loads the SDK with a project's key; returns the project."""
    built_bundle()
    project = MembershipFactory().project
    page.add_init_script(RECORDER)

    def open_page(path: str = "/shop/", *, referer: str | None = None):
        html = (
            "<!doctype html><html><head><title>Shop</title>"
            f'<script src="/static/sdk/pulseboard.js" data-api-key="{project.api_key}"></script>'
            "</head><body><h1>Shop</h1></body></html>"
        )
        page.route(f"{live_server.url}{path}", lambda route: route.fulfill(status=200, content_type="text/html", body=html))
        page.goto(path, referer=referer)

    project.open = open_page
    return project


def sent(page, count: int) -> list[dict]:
    """The first ``count`` batches the SDK sent (waits for them; later ones may be in too)."""
    return page.evaluate("(n) => __waitSent(n)", count)[:count]


def stored(project_id: int) -> list[dict]:
    rows = clickhouse.query(
        "SELECT toString(event_id) AS event_id, event, distinct_id, user_id, anonymous_id, session_id, source,"
        " page_url, referrer, properties, timestamp FROM events WHERE project_id = {p:UInt64}",
        {"p": project_id},
    ).dicts()
    for row in rows:
        row["properties"] = json.loads(row["properties"])
    return rows


def storage(page, key: str):
    return page.evaluate("(k) => localStorage.getItem(k)", key)


def pause_clock(page) -> datetime:
    """Fake the page's timers and clock, paused at about now: time moves only when a test moves it."""
    start = datetime.now(timezone.utc)
    page.clock.install(time=start)
    page.clock.pause_at(start + timedelta(seconds=1))
    return start + timedelta(seconds=1)


def test_pageviews_spa_navigation_identify_and_custom_events_are_stored(page, shop, live_server, flush_stream):
    shop.open("/shop/?utm_source=news", referer="https://news.example.com/article")
    page.evaluate("""() => {
        history.pushState({}, "", "/shop/pricing");
        history.replaceState({step: 2}, "", "/shop/pricing");   // same URL: no pageview
        pulseboard.track("clicked_buy", {plan: "pro", price: 19.99});
        pulseboard.identify("user-42", {email: "ada@example.com"});
        pulseboard.track("purchase", {plan: "pro"});
        pulseboard.flush();
    }""")
    batches = sent(page, 1)
    assert [b["status"] for b in batches] == [202]
    page.evaluate("() => new Promise((resolve) => { addEventListener('popstate', resolve, {once: true}); history.back(); })")
    page.evaluate("pulseboard.flush()")
    batches = sent(page, 2)
    assert [b["status"] for b in batches] == [202, 202]

    anonymous_id = storage(page, "pulseboard_anonymous_id")
    session = json.loads(storage(page, "pulseboard_session"))
    assert storage(page, "pulseboard_user_id") == "user-42"
    assert page.context.cookies() == [] and page.evaluate("document.cookie") == ""

    flush_stream()
    by_id = {row["event_id"]: row for row in stored(shop.id)}
    sent_events = [event for batch in batches for event in batch["events"]]
    assert sorted(by_id) == sorted(event["event_id"] for event in sent_events)  # each stored once
    rows = [by_id[event["event_id"]] for event in sent_events]

    shop_url = f"{live_server.url}/shop/?utm_source=news"
    pricing_url = f"{live_server.url}/shop/pricing"
    assert [(r["event"], r["page_url"], r["referrer"]) for r in rows] == [
        ("$pageview", shop_url, "https://news.example.com/article"),
        ("$pageview", pricing_url, shop_url),
        ("clicked_buy", pricing_url, ""),
        ("$identify", pricing_url, ""),
        ("purchase", pricing_url, ""),
        ("$pageview", shop_url, pricing_url),
    ]
    # One visitor in one session; identified from $identify on, which carries both ids.
    assert {(r["anonymous_id"], r["session_id"], r["source"]) for r in rows} == {(anonymous_id, session["id"], "web")}
    assert [r["user_id"] for r in rows] == ["", "", "", "user-42", "user-42", "user-42"]
    assert [r["distinct_id"] for r in rows] == [anonymous_id] * 3 + ["user-42"] * 3
    assert {k: rows[2]["properties"][k] for k in ("plan", "price")} == {"plan": "pro", "price": 19.99}
    assert rows[3]["properties"]["$set"] == {"email": "ada@example.com"}
    assert rows[0]["properties"]["$title"] == "Shop"
    properties = rows[0]["properties"]
    assert properties["$screen_width"] > 0 and properties["$viewport_width"] == 1280
    assert properties["$lib"] == "pulseboard-js"
    for event in sent_events:
        assert uuid.UUID(event["event_id"]).version == 4
        assert abs(datetime.fromisoformat(event["timestamp"]) - datetime.now(timezone.utc)) < timedelta(minutes=5)


def test_reset_and_identifying_another_user_start_a_new_anonymous_id(page, shop, flush_stream):
    shop.open()
    ids = page.evaluate("""() => {
        const ids = () => [localStorage.getItem("pulseboard_anonymous_id"), JSON.parse(localStorage.getItem("pulseboard_session")).id];
        pulseboard.identify("user-7");
        const first = ids();
        pulseboard.identify("user-8");   // another person on this browser
        const second = ids();
        pulseboard.reset();              // logged out
        pulseboard.track("browsed");
        pulseboard.flush();
        return [first, second, ids()];
    }""")
    assert sent(page, 1)[0]["status"] == 202
    assert storage(page, "pulseboard_user_id") is None
    flush_stream()
    rows = {(row["event"], row["user_id"]): (row["anonymous_id"], row["session_id"]) for row in stored(shop.id)}
    assert rows[("$identify", "user-7")] == tuple(ids[0])
    assert rows[("$identify", "user-8")] == tuple(ids[1])
    assert rows[("browsed", "")] == tuple(ids[2])
    anonymous_ids = {anonymous for anonymous, _ in rows.values()}
    sessions = {session for _, session in rows.values()}
    assert len(anonymous_ids) == 3 and len(sessions) == 3  # the pageview's ids are the first ones


def test_batches_go_out_at_ten_events_or_after_two_seconds(page, shop, flush_stream):
    pause_clock(page)
    shop.open()
    page.evaluate("() => { for (let i = 0; i < 9; i++) pulseboard.track('step', {i}); }")  # + the pageview = 10
    assert [len(b["events"]) for b in sent(page, 1)] == [10]
    page.evaluate("() => { pulseboard.track('late'); pulseboard.track('later'); }")
    page.clock.run_for(1999)
    assert page.evaluate("__posts") == 1
    page.clock.run_for(1)
    assert page.evaluate("__posts") == 2
    batches = sent(page, 2)
    assert [(len(b["events"]), b["status"]) for b in batches] == [(10, 202), (2, 202)]
    flush_stream()
    assert len(stored(shop.id)) == 12


def test_a_503_is_retried_with_backoff_and_the_events_are_stored_once(page, shop, live_server, flush_stream):
    page.tolerate(f"HTTP 503 for {live_server.url}/api/v1/events")
    page.tolerate("the server responded with a status of 503")
    pause_clock(page)
    shop.open()
    page.evaluate("pulseboard.track('checkout', {total: 42})")
    # The stream's Redis is unreachable: the view answers 503 and accepts nothing.
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        page.clock.run_for(2000)
        assert [b["status"] for b in sent(page, 1)] == [503]
    # Backoff: nothing before a second has passed, then the same batch again.
    page.clock.run_for(999)
    assert page.evaluate("__posts") == 1
    page.clock.run_for(1000)
    assert page.evaluate("__posts") == 2
    batches = sent(page, 2)
    assert [(b["status"], b["attempt"]) for b in batches] == [(503, 1), (202, 2)]
    assert batches[0]["events"] == batches[1]["events"]
    page.clock.run_for(60_000)
    assert page.evaluate("__posts") == 2

    flush_stream()
    rows = stored(shop.id)
    assert sorted(r["event_id"] for r in rows) == sorted(e["event_id"] for e in batches[1]["events"])
    assert sorted(r["event"] for r in rows) == ["$pageview", "checkout"]


def test_a_400_is_not_retried_and_warns_once(page, shop, live_server, flush_stream):
    page.tolerate(f"HTTP 400 for {live_server.url}/api/v1/events")
    page.tolerate("the server responded with a status of 400")
    warnings = []
    page.on("console", lambda message: warnings.append(message.text) if message.type == "warning" else None)
    pause_clock(page)
    shop.open()
    page.evaluate("pulseboard.flush()")
    assert sent(page, 1)[0]["status"] == 202
    # An event name over 200 characters: the server rejects the whole batch with 400.
    for n in (2, 3):
        page.evaluate("() => { pulseboard.track('x'.repeat(201)); pulseboard.flush(); }")
        assert sent(page, n)[-1]["status"] == 400
    page.clock.run_for(60_000)
    assert page.evaluate("__posts") == 3
    assert page.evaluate("__sent.map((b) => [b.status, b.attempt])") == [[202, 1], [400, 1], [400, 1]]
    assert len(warnings) == 1 and "HTTP 400" in warnings[0] and "event" in warnings[0]
    flush_stream()
    assert [r["event"] for r in stored(shop.id)] == ["$pageview"]


def test_the_session_rotates_after_30_minutes_of_inactivity(page, shop, flush_stream):
    start = pause_clock(page)
    shop.open()
    first = json.loads(storage(page, "pulseboard_session"))
    assert first["last"] == int(start.timestamp() * 1000)
    page.clock.fast_forward("29:00")
    page.evaluate("pulseboard.track('still_here')")  # activity within 30 minutes: same session
    page.clock.fast_forward("30:01")
    page.evaluate("() => { pulseboard.track('back_again'); pulseboard.flush(); }")
    # Three batches: the pageview's and still_here's timers fired as the clock moved on.
    batches = sent(page, 3)
    assert [b["status"] for b in batches] == [202, 202, 202]
    flush_stream()
    sessions = {r["event"]: r["session_id"] for r in stored(shop.id)}
    assert sessions["$pageview"] == sessions["still_here"] == first["id"]
    assert sessions["back_again"] not in ("", first["id"])
    assert json.loads(storage(page, "pulseboard_session"))["id"] == sessions["back_again"]


def test_queued_events_go_out_with_sendbeacon_when_the_page_is_hidden_or_left(page, shop, live_server, flush_stream):
    shop.open()
    # The tab is switched away from: the queue goes out at once, through sendBeacon.
    with page.expect_request(f"{live_server.url}/api/v1/events") as beacon:
        page.evaluate("""() => {
            pulseboard.track("opened_menu");
            Object.defineProperty(document, "visibilityState", {value: "hidden", configurable: true});
            document.dispatchEvent(new Event("visibilitychange"));
        }""")
    assert beacon.value.headers["content-type"] == "text/plain;charset=UTF-8"
    assert beacon.value.response().status == 202
    assert [(len(b["events"]), b["status"]) for b in sent(page, 1)] == [(2, None)]  # None: handed to sendBeacon

    # The page is left (pagehide) with an event still queued for 2 s.
    page.evaluate("pulseboard.track('last_click', {button: 'close'})")
    page.goto("about:blank")
    deadline = time.monotonic() + 30
    while len(rows := stored(shop.id)) < 3 and time.monotonic() < deadline:
        flush_stream()
        time.sleep(0.2)
    assert sorted(r["event"] for r in rows) == ["$pageview", "last_click", "opened_menu"]


def test_event_ids_without_crypto_random_uuid_are_still_uuids(page, shop, flush_stream):
    """Plain-http pages have no crypto.randomUUID (secure contexts only)."""
    page.add_init_script("delete Crypto.prototype.randomUUID")
    shop.open()
    page.evaluate("pulseboard.flush()")
    batch = sent(page, 1)[0]
    assert batch["status"] == 202
    flush_stream()
    ids = [r["event_id"] for r in stored(shop.id)]
    assert ids == [batch["events"][0]["event_id"]] and uuid.UUID(ids[0]).version == 4
    assert ids[0] != storage(page, "pulseboard_anonymous_id")


def test_the_bundle_is_at_most_3_kb_gzipped():
    code = built_bundle().read_bytes()
    assert len(gzip.compress(code, compresslevel=9)) <= SIZE_LIMIT
