"""Funnels in a real browser: create one with the editor (add a row, run it unsaved, save),
land on its results, and check the visible numbers against the results API."""

import re
from datetime import datetime, timedelta, timezone

import pytest
from django.test import Client

from apps.funnels.models import Funnel
from conftest import PASSWORD, MembershipFactory, browser_login, flush, post_events

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

JOURNEYS = [
    # person, browser, steps done, minutes between steps
    *[(f"buyer-{i}", "Chrome", ["signed_up", "created_project", "purchase"], 4 + i) for i in range(4)],
    *[(f"maker-{i}", "Firefox" if i % 2 else "Safari", ["signed_up", "created_project"], 12) for i in range(5)],
    *[(f"visitor-{i}", "Safari", ["signed_up"], 0) for i in range(6)],
]


@pytest.fixture
def shop(ingest_client):
    membership = MembershipFactory(project__timezone="Europe/Berlin")
    start = datetime.now(timezone.utc) - timedelta(days=3)
    events = []
    for n, (person, browser, steps, minutes) in enumerate(JOURNEYS):
        first = start + timedelta(hours=n)
        for i, name in enumerate(steps):
            moment = first + timedelta(minutes=minutes * i, seconds=20 * i)
            events.append({"event": name, "distinct_id": person, "timestamp": moment.isoformat(), "properties": {"browser": browser}})
    assert post_events(ingest_client, membership.project.api_key, {"events": events}).status_code == 202
    flush()
    api = Client()
    assert api.login(username=membership.user.username, password=PASSWORD)
    return membership, api


def screenshot(page, name):
    """A full-page screenshot from the top (the sticky bars would otherwise be drawn mid-page)."""
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot_as(name)


def visible_counts(page, scope=""):
    return [int(t.replace(",", "")) for t in page.locator(f"{scope} [data-step-count]").all_inner_texts()]


def test_create_a_funnel_and_read_its_results(page, shop):
    membership, api = shop
    project = membership.project
    browser_login(page, membership.user.username)

    # The sidebar leads to the (empty) list.
    page.goto(f"/projects/{project.id}/")
    page.click("a.sidebar-link:has-text('Funnels')")
    page.wait_for_selector(".empty-state")
    screenshot(page, "funnels-empty")
    page.click("text=Create your first funnel")
    page.wait_for_selector("form.funnel-form")

    page.fill("input[name=name]", "Signup → purchase")
    page.fill("textarea[name=description]", "New users who go on to buy")
    for i, event in enumerate(["signed_up", "created_project", "purchase"], start=1):
        page.fill(f"input[aria-label='Step {i} event']", event)
    page.fill("input[aria-label='Step 2 label']", "Created a project")

    # "+ add step" goes to the server and comes back with one more row, the others kept.
    page.click("[data-add-step]")
    page.wait_for_selector("[data-step-row='4']")
    assert page.input_value("input[aria-label='Step 3 event']") == "purchase"
    assert page.input_value("input[name=name]") == "Signup → purchase"

    # Run it unsaved first.
    page.select_option("select[name=adhoc_range]", "7d")
    page.click("[data-run]")
    page.wait_for_selector("#adhoc-results [data-step-count]")
    page.wait_for_load_state("networkidle")
    assert visible_counts(page, "#adhoc-results") == [15, 9, 4]
    assert not Funnel.objects.exists()
    screenshot(page, "funnel-editor-run")

    # Save: the browser lands on the funnel's results.
    page.click("[data-save]")
    page.wait_for_url(re.compile(r"/funnels/\d+/$"))
    page.wait_for_selector("canvas[data-chart=funnel-chart]")
    page.wait_for_load_state("networkidle")
    funnel = Funnel.objects.get()
    assert [s.event for s in funnel.steps.all()] == ["signed_up", "created_project", "purchase"]
    assert page.locator(".alert-success").inner_text().startswith("Funnel “Signup → purchase” created.")

    api_results = api.get(f"/api/v1/projects/{project.id}/funnels/{funnel.id}/results?range=30d").json()
    assert visible_counts(page) == [s["count"] for s in api_results["steps"]] == [15, 9, 4]
    shown = page.locator("[data-step-conversion]").all_inner_texts()
    assert shown == [f"{s['conversion_from_start']:g}%" for s in api_results["steps"]]
    assert page.inner_text("[data-step-median='2']") == "12m 20s"
    assert page.inner_text("[data-overall-conversion]") == "26.67%"
    screenshot(page, "funnel-results")

    # A breakdown, through the toolbar form.
    page.fill("input[name=breakdown]", "browser")
    page.click(".funnel-breakdown-form button[type=submit]")
    page.wait_for_selector("[data-breakdown-value='Chrome']")
    page.wait_for_load_state("networkidle")
    by_browser = api.get(f"/api/v1/projects/{project.id}/funnels/{funnel.id}/results?range=30d&breakdown=browser").json()
    for value in by_browser["breakdown_values"]:
        row = page.locator(f"[data-breakdown-value='{value['value']}'] [data-breakdown-count]").all_inner_texts()
        assert [int(c) for c in row] == [s["count"] for s in value["steps"]]
    assert "breakdown=browser" in page.url
    screenshot(page, "funnel-breakdown")

    # The list shows it.
    page.click("a.sidebar-link:has-text('Funnels')")
    page.wait_for_selector("#funnel-table")
    assert page.inner_text("#funnel-table [data-step-total]") == "3"
    screenshot(page, "funnels-list")


def test_editor_errors_filters_admin_preview_and_delete(page, shop, admin_user):
    membership, api = shop
    project = membership.project
    Membership = type(membership)
    Membership.objects.create(project=project, user=admin_user, role=Membership.Role.OWNER)
    browser_login(page, admin_user.username, "password")  # pytest-django's admin_user

    page.goto(f"/projects/{project.id}/funnels/new/")
    page.fill("input[name=name]", "Pro signups")
    page.fill("input[aria-label='Step 1 event']", "signed_up")
    page.click("[data-step-row='1'] .step-filters summary")
    page.fill("input[aria-label='Step 1 filter 1 property']", "browser")
    page.select_option("select[aria-label='Step 1 filter 1 operator']", "not_equals")
    # No value, and only one step: both are reported, and the filter stays open.
    page.click("[data-save]")
    page.wait_for_selector("[data-steps-error], .field-error")
    page.wait_for_load_state("networkidle")
    assert "Needs a value" in page.inner_text("[data-step-row='1']")
    assert "A funnel needs between 2 and 20 steps." in page.inner_text("[data-steps-error]")
    assert page.locator("[data-step-row='1'] .step-filters[open]").count() == 1
    assert not Funnel.objects.exists()
    screenshot(page, "funnel-editor-errors")

    page.fill("input[aria-label='Step 1 filter 1 value']", "Safari")
    page.fill("input[aria-label='Step 2 event']", "created_project")
    page.click("[data-save]")
    page.wait_for_url(re.compile(r"/funnels/\d+/$"))
    page.wait_for_selector("[data-step-count]")
    funnel = Funnel.objects.get()
    assert funnel.steps.first().filters == [{"key": "browser", "operator": "not_equals", "value": "Safari"}]
    assert visible_counts(page) == [s["count"] for s in api.get(f"/api/v1/projects/{project.id}/funnels/{funnel.id}/results").json()["steps"]] == [6, 6]

    # The admin's change page previews the same numbers.
    page.goto(f"/admin/funnels/funnel/{funnel.id}/change/")
    page.wait_for_selector("table.funnel-preview")
    assert page.locator("table.funnel-preview tbody tr td:nth-child(2)").all_inner_texts() == ["6", "6"]
    screenshot(page, "funnel-admin-change")

    # Delete, with a confirmation page.
    page.goto(f"/projects/{project.id}/funnels/{funnel.id}/")
    page.click(".page-actions >> text=Delete")
    page.wait_for_selector(".funnel-delete")
    screenshot(page, "funnel-delete-confirm")
    page.click(".funnel-delete button[type=submit]")
    page.wait_for_selector(".empty-state")
    assert not Funnel.objects.exists()


def test_editor_buttons_work_before_the_funnel_has_a_name(page, shop):
    """Only saving needs a name: the row buttons and "Run without saving" work without one,
    and saving without one puts the error by the Name field, focused and in view."""
    membership, api = shop
    browser_login(page, membership.user.username)
    page.goto(f"/projects/{membership.project.id}/funnels/new/")
    for i, event in enumerate(["signed_up", "purchase", "created_project"], start=1):
        page.fill(f"input[aria-label='Step {i} event']", event)

    page.click("[data-add-step]")
    page.wait_for_selector("[data-step-row='4']")
    page.click("button[aria-label='Move step 3 up']")
    page.wait_for_function("document.querySelector(\"input[aria-label='Step 2 event']\").value === 'created_project'")
    assert [page.input_value(f"input[aria-label='Step {i} event']") for i in (1, 2, 3)] == ["signed_up", "created_project", "purchase"]

    page.click("[data-run]")
    page.wait_for_selector("#adhoc-results [data-step-count]")
    assert visible_counts(page, "#adhoc-results") == [15, 9, 4]

    page.click("[data-save]")
    error = page.locator(".field.has-error:has(#id_name) .field-error")
    error.wait_for()
    assert error.inner_text() == "Name the funnel to save it."
    assert page.evaluate("document.activeElement && document.activeElement.id") == "id_name"
    box, viewport = page.locator("#id_name").bounding_box(), page.viewport_size
    assert 0 <= box["y"] and box["y"] + box["height"] <= viewport["height"]
    assert not Funnel.objects.exists()

    page.fill("#id_name", "Named at last")
    page.click("[data-save]")
    page.wait_for_url(re.compile(r"/funnels/\d+/$"))
    assert Funnel.objects.get().name == "Named at last"
