"""The origin allowlist in Chromium: the browser SDK on an allowed origin delivers its events;
the same SDK and key on another origin are refused with a 403 the page can read, and nothing
of it is stored. The two origins are the test server's two names, localhost and 127.0.0.1;
each page loads the SDK from its own origin, where the server answers too (Chromium lets a
page on one loopback name reach the other only with a permission prompt)."""

from __future__ import annotations

import pytest

from apps.ingest.tests.test_sdk import RECORDER, built_bundle, sent, stored
from apps.projects.selectors import project_key_cache_clear
from apps.projects.services import project_ingest_guards_update
from conftest import MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def other_name(url: str) -> str:
    return url.replace("localhost", "127.0.0.1") if "localhost" in url else url.replace("127.0.0.1", "localhost")


def test_the_sdk_delivers_on_an_allowed_origin_and_is_refused_on_another(page, live_server, flush_stream):
    built_bundle()
    project_key_cache_clear()
    project = MembershipFactory().project
    allowed, refused = live_server.url, other_name(live_server.url)
    project_ingest_guards_update(
        project=project, rate_per_second=None, burst=None, daily_quota=None, allowed_origins=[allowed], require_server_key=False
    )
    # The customer's page, on either origin, loads the SDK (and sends its events) there.
    html = (
        "<!doctype html><html><head><title>Shop</title>"
        f'<script src="/static/sdk/pulseboard.js" data-api-key="{project.api_key}"></script>'
        "</head><body><h1>Shop</h1></body></html>"
    )
    for origin in (allowed, refused):
        page.route(f"{origin}/shop/", lambda route: route.fulfill(status=200, content_type="text/html", body=html))
    page.add_init_script(RECORDER)

    page.goto(f"{allowed}/shop/")
    page.evaluate("() => { pulseboard.track('bought', {where: 'allowed'}); pulseboard.flush(); }")
    assert [batch["status"] for batch in sent(page, 1)] == [202]

    page.tolerate(f"HTTP 403 for {refused}/api/v1/events")
    page.tolerate("the server responded with a status of 403 (Forbidden)")
    page.goto(f"{refused}/shop/")
    page.evaluate("() => { pulseboard.track('bought', {where: 'refused'}); pulseboard.flush(); }")
    assert [batch["status"] for batch in sent(page, 1)] == [403]
    # The page can read why (cross-origin pages too: the refusal carries CORS headers, see test_gate).
    answer = page.evaluate(
        """async ([url, key]) => {
            const response = await fetch(url, {method: "POST", body: JSON.stringify({api_key: key, event: "probe", distinct_id: "p"})});
            return [response.status, await response.json()];
        }""",
        [f"{refused}/api/v1/events", project.api_key],
    )
    assert answer[0] == 403
    assert answer[1]["error"] == "origin_not_allowed" and refused in answer[1]["message"]

    flush_stream()
    rows = stored(project.id)
    assert rows, "the allowed page's events are stored"
    assert {row["page_url"].split("/shop/")[0] for row in rows} == {allowed}
    assert {row["properties"].get("where") for row in rows if row["event"] == "bought"} == {"allowed"}
    assert not [row for row in rows if row["event"] == "probe"]
    project_key_cache_clear()
