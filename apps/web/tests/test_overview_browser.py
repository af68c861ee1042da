"""The web overview in a real browser: it loads with the API's figures, a click on a row
filters the whole page, and the filter's chip removes it again; at 390 px too."""

from datetime import datetime, timezone

import pytest
from django.test import Client

from apps.web.tests.test_overview import _events
from conftest import PASSWORD, MembershipFactory, browser_login, flush, post_events

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(ingest_client):
    membership = MembershipFactory()
    for event, user_agent, ip in _events(datetime.now(timezone.utc)):
        response = post_events(ingest_client, membership.project.api_key, event, HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
        assert response.status_code == 202
    flush()
    api = Client()
    assert api.login(username=membership.user.username, password=PASSWORD)
    return membership, api


def _figures(page) -> tuple[int, int]:
    return tuple(int(page.inner_text(f"[data-card={key}] [data-value]").replace(",", "")) for key in ("visitors", "pageviews"))


def test_the_web_overview_loads_and_a_row_filters_the_page(page, site, ingest_client):
    membership, api = site
    project = membership.project
    browser_login(page, membership.user.username)
    page.click("a.sidebar-link:has-text('Web')")
    page.wait_for_selector("[data-card=visitors]")
    everything = api.get(f"/api/v1/projects/{project.id}/insights/web").json()
    assert _figures(page) == (everything["totals"]["visitors"], everything["totals"]["pageviews"]) == (4, 7)
    assert page.locator("[data-list=pages] tbody tr").first.inner_text().split("\t")[0] == "/pricing"
    page.wait_for_selector("[data-list=exit_pages] tbody tr")
    assert page.locator("[data-list=exit_pages] tbody tr").first.inner_text() == "/pricing\t2\t2\t5"
    page.screenshot_as("web-overview")

    page.click("[data-list=browsers] a[data-filter-link]:has-text('Firefox')")
    page.wait_for_selector("[data-filter-chip]")
    page.wait_for_load_state("networkidle")
    assert "browser=Firefox" in page.url
    assert _figures(page) == (1, 1)
    assert page.locator("[data-list=pages] tbody tr").all_inner_texts() == ["/docs\t1\t1"]
    page.wait_for_selector("[data-list=entry_pages] tbody tr")
    assert page.locator("[data-list=entry_pages] tbody tr").all_inner_texts() == ["/docs\t1\t1\t1"]
    page.click("[data-list=countries] a[data-filter-link]:has-text('Unknown')")
    page.wait_for_selector("[data-filter-chip] >> nth=1")
    assert _figures(page) == (1, 1)

    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_function("document.documentElement.scrollWidth <= 390", timeout=5000)  # once the page has reflowed
    page.screenshot_as("web-overview-filtered-390")
    page.set_viewport_size({"width": 1280, "height": 860})

    for _ in range(2):
        page.locator("[data-filter-chip] a").first.click()
        page.wait_for_load_state("networkidle")
    page.wait_for_selector("[data-filter-chip]", state="detached")
    assert _figures(page) == (4, 7)

    # A long path on a phone: its label is cut, and every list's figures stay inside its card.
    long_path = {"event": "$pageview", "distinct_id": "dee", "page_url": "https://shop.example.com/products/a-rather-long-product-name/reviews"}
    assert post_events(ingest_client, project.api_key, long_path).status_code == 202
    flush()
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.wait_for_selector("[data-list=exit_pages] tbody tr")
    assert any(row.startswith("/products/") for row in page.locator("[data-list=exit_pages] tbody tr").all_inner_texts())
    beyond = page.evaluate("""() => [...document.querySelectorAll('[data-list]')]
        .filter((list) => list.querySelector('table') && list.querySelector('table').getBoundingClientRect().right > list.getBoundingClientRect().right + 0.5)
        .map((list) => list.dataset.list)""")
    assert beyond == [], f"lists wider than their card at 390 px: {beyond}"
    page.screenshot_as("web-overview-long-path-390")
