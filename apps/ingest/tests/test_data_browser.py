"""The Data page in a real browser, wide and phone-sized: retention, deleting events
(preview, a wrong and a right confirmation, the report) and deleting the project. Screenshots
are saved under test-artifacts/screenshots/ (data-<step>-<width>)."""

from datetime import datetime, timedelta, timezone

import pytest

from apps.projects.models import Project
from conftest import MembershipFactory, browser_login, flush, post_events
from pulseboard.celery import app as celery_app
from rest_framework.test import APIClient

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def owner():
    membership = MembershipFactory(project__name="Northwind Web Shop", project__timezone="Europe/Berlin")
    now = datetime.now(timezone.utc)
    events = [
        {"event": name, "distinct_id": f"user-{i % 7}", "timestamp": (now - timedelta(hours=i)).isoformat()}
        for i, name in enumerate(["$pageview", "click", "purchase"] * 12)
    ]
    assert post_events(APIClient(), membership.project.api_key, {"events": events}).status_code == 202
    flush()
    celery_app.conf.task_always_eager = True
    yield membership
    celery_app.conf.task_always_eager = False


def fits(page) -> list[str]:
    """Elements that stick out of the viewport's width."""
    return page.evaluate(
        """() => [...document.querySelectorAll('main *')].filter(e => e.getClientRects().length)
              .filter(e => { const r = e.getBoundingClientRect(); return r.right > window.innerWidth + 1 && !e.closest('.table-wrap'); })
              .map(e => `${e.tagName.toLowerCase()}.${e.className}`)"""
    )


def test_the_data_page_in_a_browser(page, owner):
    project = owner.project
    browser_login(page, owner.user.username)
    page.goto(f"/projects/{project.id}/settings/")
    page.click("#data a:has-text('Manage data')")
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/projects/{project.id}/settings/data/")
    page.screenshot_as("data-page-1280")

    # retention: a bad value, then a good one
    page.tolerate("400")  # the wrong inputs below are answered 400 on purpose
    page.fill("#retention input[name=retention_days]", "0")
    page.click("#retention button[type=submit]")
    page.wait_for_selector("#retention .field-error")
    assert "Keep between 1 and 3650 days" in page.inner_text("#retention")
    page.fill("#retention input[name=retention_days]", "90")
    page.click("#retention button[type=submit]")
    page.wait_for_selector("#retention .alert-success")
    assert "keep 90 days" in page.inner_text("#retention")

    # deleting events: preview, a wrong confirmation, the right one, the report
    page.fill("#delete-events input[name=event]", "click")
    page.click("#delete-events button:has-text('Preview')")
    page.wait_for_selector("#events-confirm")
    assert "12 events match" in page.inner_text("#delete-events")
    page.screenshot_as("data-preview-1280")
    page.fill("#events-confirm", "Northwind")
    page.click("#delete-events button.btn-danger")
    page.wait_for_selector("#delete-events .field-error")
    page.fill("#events-confirm", project.name)
    page.click("#delete-events button.btn-danger")
    page.wait_for_selector("#delete-events .deletion-status .pill-success")
    report = page.inner_text("#delete-events")
    assert "12 events removed" in report and "event_counts_15m" in report
    page.screenshot_as("data-report-1280")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.wait_for_load_state("networkidle")
    assert fits(page) == []
    page.screenshot_as("data-page-390")
    page.set_viewport_size({"width": 1280, "height": 860})

    # deleting the project
    page.fill("#project-confirm", project.name)
    page.click("#delete-project button.btn-danger")
    page.wait_for_url("**/projects/")
    assert "deleted" in page.inner_text("#messages")
    assert not Project.objects.filter(id=project.id).exists()
