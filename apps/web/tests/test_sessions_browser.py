"""The Sessions page in a real browser: it loads with the API's figures and drawn charts,
the date controls reload it, and it fits 390 px."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from django.test import Client

from conftest import PASSWORD, MembershipFactory, browser_login, flush, post_events

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def site(ingest_client):
    """Two days of visits: today's three sessions and yesterday's one."""
    membership = MembershipFactory()
    now = datetime.now(timezone.utc) - timedelta(minutes=30)
    events = [
        {"event": "$pageview", "session_id": "s1", "user_id": "ann", "page_url": "https://a.test/", "timestamp": now},
        {"event": "$pageview", "session_id": "s1", "user_id": "ann", "page_url": "https://a.test/pricing", "timestamp": now + timedelta(minutes=4)},
        {"event": "$pageview", "session_id": "s2", "user_id": "bob", "page_url": "https://a.test/docs", "timestamp": now},
        {"event": "$screen", "anonymous_id": "phone", "timestamp": now + timedelta(minutes=1)},
        {"event": "$pageview", "session_id": "s0", "user_id": "cy", "page_url": "https://a.test/", "timestamp": now - timedelta(days=1)},
    ]
    body = {"events": [{**e, "event_id": str(uuid.uuid4()), "timestamp": e["timestamp"].isoformat()} for e in events]}
    assert post_events(ingest_client, membership.project.api_key, body).status_code == 202
    flush()
    api = Client()
    assert api.login(username=membership.user.username, password=PASSWORD)
    return membership, api


def test_the_sessions_page_loads_and_follows_the_date_controls(page, site):
    membership, api = site
    project = membership.project
    browser_login(page, membership.user.username)
    page.click("a.sidebar-link:has-text('Sessions')")
    page.wait_for_selector("[data-card=sessions]")
    expected = api.get(f"/api/v1/projects/{project.id}/insights/sessions").json()
    assert page.inner_text("[data-card=sessions] [data-value]") == str(expected["cards"]["sessions"]["value"]) == "4"
    assert page.inner_text("[data-card=bounce_rate] [data-value]") == "75.0%"
    assert page.locator("#entry_pages tbody tr").first.inner_text().split("\t") == ["https://a.test/", "2"]
    assert page.evaluate("Chart.getChart(document.querySelector('[data-chart=sessions-chart]')) !== undefined")
    # Today is not over: its bar is paler than the days before it.
    first, today = page.evaluate(
        """() => { const bars = Chart.getChart(document.querySelector('[data-chart=sessions-chart]')).getDatasetMeta(0).data;
                   return [bars[0].options.backgroundColor, bars[bars.length - 1].options.backgroundColor]; }"""
    )
    assert first.endswith(",0.85)") and today.endswith(",0.4)"), (first, today)
    page.screenshot_as("sessions")

    page.click(".date-controls button[value='24h']")
    page.wait_for_function("document.querySelector('[data-card=sessions] [data-value]').innerText === '3'")
    assert "preset=24h" in page.url

    page.set_viewport_size({"width": 390, "height": 844})
    # Chart.js redraws its canvases on the resize, a frame or two later: then nothing is wider than the phone.
    page.wait_for_function("document.documentElement.scrollWidth <= 390", timeout=5000)
    page.screenshot_as("sessions-390")
