"""The page shell in a real browser, wide and phone-sized, with a long project name: the
project switcher, Log out and each page's controls stay on screen. Screenshots of each page
at both widths are saved under test-artifacts/screenshots/ (layout-<page>-<width>)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from apps.funnels.services import funnel_create
from conftest import MembershipFactory, browser_login, flush, post_events

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_NAME = (
    "Northwind Traders International — Customer Analytics for the Web Shop, the iOS and Android Apps, and Partners"
).ljust(120, "!")

WIDTHS = {1280: 860, 390: 844}  # an iPhone 12-15 is 390 × 844


@pytest.fixture
def long_named(ingest_client):
    membership = MembershipFactory(project__name=LONG_NAME, project__timezone="Europe/Berlin")
    MembershipFactory(user=membership.user, project__name="Second project")
    events = [{"event": name, "distinct_id": f"user-{i % 7}", "page_url": "https://shop.example.com/pricing"} for i, name in enumerate(["$pageview", "signed_up", "purchase"] * 8)]
    assert post_events(ingest_client, membership.project.api_key, {"events": events}).status_code == 202
    flush()
    funnel_create(project=membership.project, name="Signup → purchase", steps=[{"event": "signed_up"}, {"event": "purchase"}])
    return membership


def off_screen(page, selector: str) -> list[str]:
    """The elements matching ``selector`` that are not wholly inside the viewport's width."""
    return page.evaluate(
        """selector => [...document.querySelectorAll(selector)]
            .filter(e => e.getClientRects().length)
            .filter(e => { const r = e.getBoundingClientRect(); return r.left < 0 || r.right > window.innerWidth; })
            .map(e => `${e.tagName.toLowerCase()}.${e.className}: ${e.textContent.trim().slice(0, 40)}`)""",
        selector,
    )


def test_pages_fit_the_screen_with_a_long_project_name(page, long_named):
    project = long_named.project
    browser_login(page, long_named.user.username)
    today = datetime.now(ZoneInfo(project.timezone)).date()
    custom = f"date_from={today - timedelta(days=6)}&date_to={today}"
    pages = {
        "overview": f"/projects/{project.id}/",
        "trends": f"/projects/{project.id}/trends/?{custom}",  # a custom range: its Apply button is in use
        "explorer": f"/projects/{project.id}/explorer/",
        "funnels": f"/projects/{project.id}/funnels/",
        "settings": f"/projects/{project.id}/settings/",
    }
    # Everything that must stay reachable without scrolling sideways.
    controls = [
        ".topbar .switcher-button",
        ".topbar form[action='/logout/'] button",
        ".sidebar-link",
        "form.date-controls button, form.date-controls input, form.date-controls select",
        ".page-actions .btn",
        "form.trend-form button[type=submit]",
        "form.filter-bar button[type=submit]",
    ]
    for width, height in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        for name, url in pages.items():
            page.goto(url)
            page.wait_for_load_state("networkidle")
            page.screenshot_as(f"layout-{name}-{width}")
            assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} at {width} px scrolls sideways"
            for selector in controls:
                assert off_screen(page, selector) == [], f"{name} at {width} px: {selector}"
            switcher = page.locator(".topbar .switcher-button").bounding_box()
            assert switcher["width"] < width / 2 or width < 600, f"{name}: the switcher takes {switcher['width']} px"
    # The switcher still opens and names the project in full in its menu.
    page.click(".topbar .switcher-button")
    assert page.locator(".dropdown-menu .dropdown-item.current .dropdown-item-name").text_content().strip() == LONG_NAME
    assert off_screen(page, ".dropdown-menu") == []
    page.screenshot_as("layout-switcher-390")
