"""The Events page in a real browser: it loads with its figures and sparklines, the search
narrows the table as one types, a name opens its trend, and a description written in place
is still there after a reload; on a phone the table scrolls inside its card."""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from apps.ingest.models import EventDefinition
from conftest import MembershipFactory, browser_login, flush, post_events

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("EVENTS_SHOTS", "/tmp/shots"))
NAMES = ["$pageview", "signed_up", "purchase", "invited_teammate"]


def shot(tab, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"events-{name}.png"), full_page=True)


def names_shown(tab) -> list[str]:
    return tab.eval_on_selector_all("#events-table tbody tr", "rows => rows.map(r => r.dataset.event)")


def test_search_open_a_trend_and_describe_an_event(page, ingest_client):
    membership = MembershipFactory(role="member")
    project = membership.project
    now = datetime.now(timezone.utc)
    events = [
        {"event": name, "user_id": f"user-{n % 5}", "timestamp": (now - timedelta(days=d, hours=n)).isoformat()}
        for i, name in enumerate(NAMES)
        for d in range(0, 28, i + 1)
        for n in range(4 - i)
    ]
    assert post_events(ingest_client, project.api_key, {"events": events}).status_code == 202
    flush()
    browser_login(page, membership.user.username)

    page.goto(f"/projects/{project.id}/events/")
    assert names_shown(page) == NAMES  # most events first
    assert page.locator("#events-table svg.sparkline polyline").count() == len(NAMES)
    shot(page, "1280")

    page.fill("#events-search", "sign")
    page.wait_for_function("() => document.querySelectorAll('#events-table tbody tr').length === 1")
    assert names_shown(page) == ["signed_up"]
    assert re.search(r"[?&]search=sign", page.url)
    assert page.evaluate("() => document.activeElement.id") == "events-search"  # typing goes on

    page.click("#events-table a.event-name")
    page.wait_for_url(re.compile(r"/trends/\?events=signed_up"))
    assert page.locator("form.trend-form input[name=event]").first.input_value() == "signed_up"

    page.go_back()
    page.wait_for_url(re.compile(r"/events/\?.*search=sign"))
    page.reload()
    definition = EventDefinition.objects.get(project=project, name="signed_up")
    cell = page.locator(f"#event-definition-{definition.id}")
    cell.get_by_role("link", name="Edit the description of signed_up").click()
    page.fill(f"#event-description-{definition.id}", "A visitor created an account")
    shot(page, "edit-1280")
    page.locator(f"#event-definition-{definition.id} button[type=submit]").click()
    page.wait_for_selector(f"#event-definition-{definition.id} [data-description]")
    page.reload()
    assert page.locator(f"#event-definition-{definition.id} [data-description]").inner_text() == "A visitor created an account"

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/projects/{project.id}/events/")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390  # the table scrolls in its card, not the page
    shot(page, "390")
