"""The live page in a real browser, on the application as `make run` serves it (uvicorn,
WebSockets through channels_redis): an event sent to the API appears; pause holds new ones
back and counts them; resume shows them; the filter hides other events."""

import threading

import pytest
from django.db import connections
from rest_framework.test import APIClient

from conftest import MembershipFactory, browser_login, flush, post_events

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PAGES = ["/", "/pricing", "/docs/getting-started", "/checkout"]


def send(project, events: list[dict]) -> list[str]:
    response = post_events(APIClient(), project.api_key, {"events": events})
    assert response.status_code == 202, response.content
    return response.json()["event_ids"]


def flush_now() -> None:
    """Run the flush as the worker does: in a thread of its own (Playwright's sync API keeps
    an event loop in the test's thread, and the broadcast needs a thread without one)."""
    errors = []

    def run():
        try:
            flush()
        except Exception as exc:  # re-raised in the test's thread below
            errors.append(exc)
        finally:
            connections.close_all()

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive() and not errors, errors


def row(event_id: str) -> str:
    return f'.live-row[data-event-id="{event_id}"]'


def test_live_page_streams_pauses_and_resumes(asgi_page):
    page = asgi_page
    membership = MembershipFactory(project__timezone="Europe/Berlin", project__name="Acme Store")
    project = membership.project
    browser_login(page, membership.user.username)

    page.goto(f"/projects/{project.id}/live/")
    page.wait_for_selector("[data-live-status][data-state=live]")
    labels = page.locator("a.sidebar-link span").all_inner_texts()
    assert labels[labels.index("Explorer") + 1] == "Live" == page.locator("a.sidebar-link.active").inner_text()
    assert page.locator("[data-live-empty]").is_visible()
    page.screenshot_as("live-empty")

    # An event sent to the API shows up as the top row.
    [first] = send(project, [{"event": "signed_up", "distinct_id": "user-42", "page_url": "https://acme.example.com/signup"}])
    flush_now()
    page.wait_for_selector(row(first), timeout=10_000)
    assert page.locator(".live-row").first.get_attribute("data-event-id") == first
    assert "signed_up" in page.inner_text(row(first)) and "user-42" in page.inner_text(row(first))
    assert not page.locator("[data-live-empty]").is_visible()

    # Some traffic, newest on top.
    traffic = [
        {"event": "$pageview" if i % 3 else "add_to_cart", "distinct_id": f"visitor-{i % 5}", "page_url": f"https://acme.example.com{PAGES[i % 4]}"}
        for i in range(12)
    ]
    ids = send(project, traffic)
    flush_now()
    page.wait_for_selector(row(ids[-1]))
    assert page.locator(".live-row").first.get_attribute("data-event-id") == ids[-1]
    assert page.inner_text("[data-live-received]") == "13"
    assert page.inner_text("[data-live-shown]") == "13"

    # Pause: what arrives is counted, not shown.
    page.click("[data-live-pause]")
    [held] = send(project, [{"event": "purchase", "distinct_id": "user-42", "page_url": "https://acme.example.com/checkout"}])
    flush_now()
    page.wait_for_selector("[data-live-held-count]:has-text('1 new')")
    assert page.inner_text("[data-live-held-text]") == "1 new event"
    assert page.locator(row(held)).count() == 0
    assert page.inner_text("[data-live-received]") == "14"
    page.screenshot_as("live-paused")

    # Resume: the held event is on top.
    page.click("[data-live-pause]")
    page.wait_for_selector(row(held))
    assert page.locator(".live-row").first.get_attribute("data-event-id") == held
    assert not page.locator("[data-live-held]").is_visible()
    page.screenshot_as("live-streaming")

    # The filter keeps the matching rows and goes into the address.
    page.fill("[data-live-filter]", "cart")
    assert set(page.locator(".live-row:visible .event-name").all_inner_texts()) == {"add_to_cart"}
    assert page.inner_text("[data-live-shown]") == "4"
    assert "event=cart" in page.url
    page.set_viewport_size({"width": 1440, "height": 900})
    page.screenshot_as("live-filtered-1440")


def test_events_from_the_sdk_demo_arrive_on_the_live_page(asgi_page):
    """The whole path a new user tries first: the demo page's buttons fire events through
    the browser SDK, and the live page, open in another tab, shows them arriving."""
    from apps.ingest.tests.test_sdk import built_bundle

    built_bundle()
    live = asgi_page
    membership = MembershipFactory(project__name="Demo Shop")
    project = membership.project
    browser_login(live, membership.user.username)
    live.goto(f"/projects/{project.id}/live/")
    live.wait_for_selector("[data-live-status][data-state=live]")

    demo = live.context.new_page()
    demo.goto(f"/demo/?project={project.id}")
    demo.fill("#demo-event", "clicked_buy")
    demo.click("form[data-demo=track] button")
    demo.click("button[data-demo=flush]")
    demo.wait_for_selector("#demo-log .demo-batch[data-status='202'] .event-row:has-text('clicked_buy')")
    flush_now()

    live.wait_for_selector(".live-row:has-text('clicked_buy')", timeout=10_000)
    names = live.locator(".live-row .event-name").all_inner_texts()
    assert names[0] == "clicked_buy" and "$pageview" in names
    assert live.inner_text("[data-live-received]") == str(len(names))
