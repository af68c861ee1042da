"""The dashboards in a real browser: log in, overview, a trends breakdown, an explorer filter
with a row expanded. Visible numbers are checked against the JSON API."""

import random
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from apps.analytics.views import NEW_EVENTS_POLL_SECONDS
from conftest import PASSWORD, MembershipFactory, browser_login, flush, post_events

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BROWSERS = ["Chrome", "Firefox", "Safari", "Edge", "Opera", "Brave", "Arc", "Vivaldi", "Samsung", "UC", "Yandex", "Lynx"]


@pytest.fixture
def shop(ingest_client):
    """A project with a few hundred events of the last days, sent through the ingest API."""
    membership = MembershipFactory(project__timezone="Europe/Berlin")
    rng = random.Random(3)
    events = []
    for i in range(400):
        events.append(
            {
                "event": rng.choice(["$pageview", "$pageview", "signed_up", "purchase"]),
                "distinct_id": f"visitor-{rng.randrange(60)}",
                "page_url": f"https://shop.example.com/{rng.choice(['', 'pricing', 'docs'])}",
                "session_id": f"s{rng.randrange(90)}",
                "properties": {"browser": rng.choice(BROWSERS), "plan": rng.choice(["free", "pro"])},
            }
        )
    for start in range(0, len(events), 100):
        assert post_events(ingest_client, membership.project.api_key, {"events": events[start : start + 100]}).status_code == 202
    flush()
    api = Client()
    assert api.login(username=membership.user.username, password=PASSWORD)
    return membership, api


def test_dashboards_show_the_api_numbers(page, shop):
    membership, api = shop
    project = membership.project
    browser_login(page, membership.user.username)

    # Overview: the cards are the API's figures.
    page.goto(f"/projects/{project.id}/?range=7d")
    page.wait_for_selector("canvas[data-chart=active-chart]")
    overview = api.get(f"/api/v1/projects/{project.id}/insights/overview?range=7d").json()
    for key in ["events", "users", "sessions"]:
        shown = page.inner_text(f"[data-card={key}] [data-value]").replace(",", "")
        assert int(shown) == overview["cards"][key]["value"] > 0
    top_row = page.inner_text("#top-events tbody tr:first-child td:first-child")
    assert top_row == overview["top_events"][0]["event"]
    page.screenshot_as("overview")

    # Trends: a breakdown by browser, built with the form.
    page.click("a.sidebar-link:has-text('Trends')")
    page.wait_for_selector("form.trend-form")
    page.fill("input[name=event] >> nth=0", "$pageview")
    page.fill("input[name=breakdown]", "browser")
    page.click("form.trend-form button[type=submit]")
    page.wait_for_selector("#trend-table th[data-series='10']")
    page.wait_for_load_state("networkidle")
    query = page.url.split("?", 1)[1]
    trends = api.get(f"/api/v1/projects/{project.id}/insights/trends?events=$pageview&breakdown=browser&range=30d").json()
    assert "range=30d" in query or "date_from" in query
    totals = [int(t.replace(",", "")) for t in page.locator("#trend-table tfoot [data-total]").all_inner_texts()]
    assert totals == [s["total"] for s in trends["series"]]
    headers = page.locator("#trend-table thead th[data-series]").all_text_contents()
    assert headers[-1].endswith("Other") and len(headers) == 11
    page.screenshot_as("trends-breakdown")

    # Explorer: filter by event, expand a row.
    page.click("a.sidebar-link:has-text('Explorer')")
    page.wait_for_selector("form.filter-bar")
    page.fill("form.filter-bar input[name=event]", "purchase")
    page.click("form.filter-bar button[type=submit]")
    page.wait_for_selector(".event-row")
    page.wait_for_load_state("networkidle")
    listed = api.get(f"/api/v1/projects/{project.id}/events?event=purchase&limit=1000").json()["results"]
    rows = page.locator(".event-row")
    shown = rows.count()
    if page.locator("#load-more").count():
        assert shown == 50 and len(listed) > 50
    else:
        assert shown == len(listed)
    assert set(page.locator(".event-row .event-name").all_inner_texts()) == {"purchase"}
    rows.first.locator("summary").click()
    detail = rows.first.locator(".event-detail")
    detail.wait_for(state="visible")
    assert listed[0]["event_id"] in detail.inner_text()
    assert '"browser"' in detail.locator("pre.properties").inner_text()
    page.screenshot_as("explorer-expanded")


def test_a_reversed_range_is_corrected_by_the_date_controls_without_losing_the_query(page, shop):
    membership, api = shop
    project = membership.project
    page.tolerate("400")  # the reversed range, asked for on purpose
    browser_login(page, membership.user.username)
    today = datetime.now(ZoneInfo(project.timezone)).date()
    day = lambda n: (today - timedelta(days=n)).isoformat()  # noqa: E731
    page.goto(f"/projects/{project.id}/trends/?event=%24pageview&math=unique&breakdown=browser&date_from={day(2)}&date_to={day(9)}")
    error = page.locator("form.date-controls [data-date-error]")
    assert error.inner_text() == "date_to: must be after date_from."
    assert page.input_value("form.trend-form input[name=event] >> nth=0") == "$pageview"
    assert page.input_value("form.trend-form input[name=breakdown]") == "browser"

    # Fix the end: the same trend, over the corrected range.
    page.fill("form.date-controls input[name=date_to]", day(0))
    page.click("form.date-controls [data-custom-apply]")
    page.wait_for_selector("#trend-table")
    assert f"date_to={day(0)}" in page.url and "breakdown=browser" in page.url
    assert page.input_value("form.trend-form input[name=event] >> nth=0") == "$pageview"
    assert page.locator("form.date-controls [data-date-error]").count() == 0
    assert page.input_value("form.trend-form select[name=math] >> nth=0") == "unique"
    trends = api.get(f"/api/v1/projects/{project.id}/insights/trends?events=$pageview&math=unique&breakdown=browser&date_from={day(2)}&date_to={day(0)}").json()
    today_row = page.locator("#trend-table tbody tr").last.locator("td.num").all_inner_texts()
    assert [int(v) for v in today_row] == [s["data"][-1] for s in trends["series"]] and sum(map(int, today_row)) > 0

    # Move both dates before the old start: each date bounds the other as it changes, so the
    # end may now go below the start the page was loaded with.
    page.fill("form.date-controls input[name=date_from]", day(6))
    page.fill("form.date-controls input[name=date_to]", day(4))
    page.click("form.date-controls [data-custom-apply]")
    page.wait_for_url(f"**date_to={day(4)}**")
    assert f"date_from={day(6)}" in page.url and "breakdown=browser" in page.url


def test_explorer_polls_for_new_events_without_console_errors(page, shop, ingest_client):
    """The "new events" poll runs every NEW_EVENTS_POLL_SECONDS; the browser's clock is moved
    on instead of waiting. Any console error fails the test (see chromium_tab)."""
    membership, api = shop
    browser_login(page, membership.user.username)
    page.clock.install()
    page.goto(f"/projects/{membership.project.id}/explorer/")
    page.wait_for_selector(".event-row")
    assert post_events(ingest_client, membership.project.api_key, {"event": "late_arrival", "distinct_id": "v1"}).status_code == 202
    flush()
    for _ in range(2):  # two polls: the badge stays right and nothing is logged
        with page.expect_response(lambda response: "/explorer/new" in response.url):
            page.clock.run_for(NEW_EVENTS_POLL_SECONDS * 1000)
    badge = page.locator("#new-events .new-events")
    badge.wait_for()
    assert badge.inner_text().startswith("1 new event since you loaded this page.")


def test_retention_page_shows_the_api_cohorts(page, ingest_client):
    """Visitors who come back on later days: the page, built with its form, shows the API's
    cohort table and draws the curve."""
    membership = MembershipFactory(project__timezone="Asia/Kathmandu")
    project = membership.project
    now = datetime.now(ZoneInfo(project.timezone))
    events = []
    for i in range(12):
        for day in range(0, 9, 1 + i % 3):  # every day, every other day or every third day
            when = (now - timedelta(days=8 - day)).replace(hour=9, minute=i)
            events.append({"event": "$pageview", "distinct_id": f"reader-{i}", "timestamp": when.isoformat()})
    assert post_events(ingest_client, project.api_key, {"events": events}).status_code == 202
    flush()
    api = Client()
    assert api.login(username=membership.user.username, password=PASSWORD)
    browser_login(page, membership.user.username)

    page.goto(f"/projects/{project.id}/")
    page.click("a.sidebar-link:has-text('Retention')")
    page.select_option("select[name=period]", "day")
    page.fill("input[name=periods]", "5")
    page.click("button:has-text('Show retention')")
    page.wait_for_url(re.compile(r"period=day.*periods=5"))  # the state is in the URL
    page.wait_for_selector("#retention-table th:has-text('Day 4')")
    page.wait_for_selector("canvas[data-chart=retention-chart]")
    expected = api.get(f"/api/v1/projects/{project.id}/insights/retention", {"start_event": "$pageview", "period": "day", "periods": 5}).json()
    rows = page.locator("#retention-table tbody tr:not(.retention-mean)")
    assert rows.count() == len(expected["cohorts"]) == 5
    first = expected["cohorts"][0]
    # the cohort of 4 days ago: the everyday and every-other-day readers; the next day, the everyday ones
    assert first["size"] == 8 and first["values"][1] == 4
    cells = rows.nth(0).locator("td")
    assert cells.nth(0).inner_text() == first["date"]
    assert cells.nth(1).inner_text() == "8"
    assert cells.nth(3).inner_text() == "50.0%"
    page.screenshot_as("retention")
