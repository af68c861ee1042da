"""Saved insights in a real browser: save the trends page from its Save menu, open it from
the confirmation, change it and Update, then find it in the list; at 1280 and 390 px.

Screenshots: test-artifacts/screenshots/insights-*.png.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from apps.dashboards.models import SavedInsight
from conftest import MembershipFactory, browser_login, flush, post_events

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def project(ingest_client):
    membership = MembershipFactory()
    start = datetime.now(timezone.utc) - timedelta(days=6)
    events = [
        {"event": name, "distinct_id": f"p{i % 4}", "timestamp": (start + timedelta(hours=7 * i)).isoformat()}
        for i, name in enumerate(["$pageview", "signed_up", "$pageview", "purchase"] * 5)
    ]
    assert post_events(ingest_client, membership.project.api_key, {"events": events}).status_code == 202
    flush()
    return membership


def screenshot(page, name):
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot_as(name)


def test_save_open_update_and_list(page, project):
    membership = project
    pid = membership.project.id
    browser_login(page, membership.user.username)

    page.goto(f"/projects/{pid}/trends/?events=%24pageview&range=30d")
    page.click("[data-save-open]")
    page.wait_for_selector(".save-insight-panel input[name=name]", state="visible")
    page.fill(".save-insight-panel input[name=name]", "Pageviews, 30 days")
    page.fill(".save-insight-panel textarea[name=description]", "For the Monday review")
    screenshot(page, "insights-save-menu")
    page.click(".save-insight-panel button[type=submit]")
    page.wait_for_selector("[data-insight-saved]")
    screenshot(page, "insights-saved")
    insight = SavedInsight.objects.get(project_id=pid, name="Pageviews, 30 days")
    assert insight.query == {"events": ["$pageview"], "range": ["30d"]} and insight.description == "For the Monday review"

    # The confirmation links to the saved insight: its page says so, and offers Update.
    page.click("[data-insight-saved] a >> nth=0")
    page.wait_for_selector("[data-saved-insight]")
    assert page.locator(".saved-as").inner_text().startswith("Saved:")
    # Change the page (the editor keeps the insight), then Update.
    page.select_option("select[name=math] >> nth=0", "unique")
    page.click("button:has-text('Show trend')")
    page.wait_for_function("() => new URL(location.href).searchParams.get('math') === 'unique'")
    page.wait_for_selector("[data-saved-insight]")
    page.click("button:has-text('Update')")
    page.wait_for_selector("[data-updated]")
    screenshot(page, "insights-updated")
    insight.refresh_from_db()
    assert insight.query["math"][0] == "unique" and insight.query["range"] == ["30d"]

    # The sidebar leads to the list, where it is.
    page.click("a.sidebar-link:has-text('Insights')")
    page.wait_for_selector(f"tr[data-insight='{insight.id}']")
    screenshot(page, "insights-list")
    page.click(f"tr[data-insight='{insight.id}'] .row-menu summary")
    screenshot(page, "insights-list-menu")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.wait_for_selector(f"tr[data-insight='{insight.id}']")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"the list scrolls sideways at 390 px ({overflow}px)"
    screenshot(page, "insights-list-390")
    page.goto(f"/projects/{pid}/trends/?events=%24pageview&range=30d&insight={insight.id}")
    page.wait_for_selector("[data-saved-insight]")
    page.click("[data-save-open]")
    page.wait_for_selector(".save-insight-panel input[name=name]", state="visible")
    screenshot(page, "insights-trends-390")
