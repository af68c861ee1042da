"""Annotations in a real browser: click a bucket of the trends chart, write a note, see its
marker and read it in the tooltip; then the list page, where its author edits it in place
and deletes it. A viewer's click opens nothing."""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from apps.analytics.annotations import annotation_create
from apps.analytics.models import Annotation
from conftest import MembershipFactory, UserFactory, browser_login, flush, post_events

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("ANNOTATION_SHOTS", "/tmp/shots"))
CHART = "canvas[data-chart=trend-chart]"


def shot(tab, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.evaluate("window.scrollTo(0, 0)")
    tab.screenshot(path=str(SHOTS / f"annot-{name}.png"), full_page=True)


@pytest.fixture
def shop(ingest_client):
    """A Berlin project with pageviews on each of the last 7 days, its member (who writes
    notes) and a viewer."""
    membership = MembershipFactory(project__timezone="Europe/Berlin", role="member")
    now = datetime.now(timezone.utc)
    events = [
        {"event": "$pageview", "distinct_id": f"visitor-{n % 9}", "timestamp": (now - timedelta(days=d, hours=n)).isoformat()}
        for d in range(7)
        for n in range(3 + d)
    ]
    assert post_events(ingest_client, membership.project.api_key, {"events": events}).status_code == 202
    flush()
    viewer = MembershipFactory(project=membership.project, user=UserFactory(), role="viewer")
    return membership, viewer


def bucket_point(tab, index: int) -> dict:
    """Where bucket ``index`` of the trends chart is, in the canvas's CSS pixels."""
    return tab.evaluate(
        """([selector, index]) => {
            const chart = Chart.getChart(document.querySelector(selector));
            return {x: chart.scales.x.getPixelForValue(index), y: (chart.chartArea.top + chart.chartArea.bottom) / 2};
        }""",
        [CHART, index],
    )


def markers(tab) -> dict:
    """The chart's annotation markers (chartjs-plugin-annotation's config), by id."""
    return tab.evaluate(
        """(selector) => {
            const chart = Chart.getChart(document.querySelector(selector));
            const notes = chart.options.plugins.annotation.annotations;
            return Object.fromEntries(Object.entries(notes).map(([id, a]) => [id, {value: a.value, type: a.type, label: a.label.content}]));
        }""",
        CHART,
    )


def test_annotate_a_bucket_of_the_trends_chart(page, shop):
    membership, viewer = shop
    project = membership.project
    tz = ZoneInfo(project.timezone)
    browser_login(page, membership.user.username)
    page.goto(f"/projects/{project.id}/trends/?range=7d")
    page.wait_for_selector(CHART)
    page.wait_for_function("(s) => window.Chart && Chart.getChart(document.querySelector(s))", arg=CHART)
    assert page.evaluate("() => !!Chart.registry.plugins.get('annotation')"), "chartjs-plugin-annotation is not loaded"
    assert markers(page) == {}

    # The dialog keeps working after an HTMX history restore (which brings back markup only):
    # open it once, run the form (the URL is pushed), then go back.
    page.locator(CHART).click(position=bucket_point(page, 1))
    page.locator("dialog#annotation-dialog [data-cancel]").click()
    page.click("form.trend-form button[type=submit]")
    page.wait_for_url(re.compile(r"[?&]event="))
    page.wait_for_load_state("networkidle")
    page.go_back()
    page.wait_for_url(re.compile(r"/trends/\?range=7d$"))
    page.wait_for_function("(s) => window.Chart && Chart.getChart(document.querySelector(s))", arg=CHART)

    # A click on the fifth day opens the form, prefilled with that day's start in Berlin.
    spec = page.evaluate("() => JSON.parse(document.getElementById('trend-chart').textContent)")
    index = 4
    point = bucket_point(page, index)
    page.locator(CHART).click(position=point)
    dialog = page.locator("dialog#annotation-dialog")
    dialog.wait_for(state="visible")
    assert page.input_value("#annotation-at") == spec["annotate"]["starts"][index] == f"{spec['labels'][index]}T00:00"
    assert "Europe/Berlin" in dialog.inner_text()
    shot(page, "dialog-1280")

    # Empty text: the API's 400, named by the field, shown by it.
    page.tolerate(f"/api/v1/projects/{project.id}/annotations")  # the answer, and the console's line about it
    page.tolerate("the server responded with a status of 400")
    dialog.locator("button[type=submit]").click()
    error = dialog.locator("[data-error=text]")
    error.wait_for(state="visible")
    assert error.inner_text() == "Write the annotation's text."

    # Save: the page body comes back with the marker on that day.
    page.fill("#annotation-at", f"{spec['labels'][index]}T14:30")
    page.fill("#annotation-text", "Pricing page redesign shipped")
    dialog.locator("button[type=submit]").click()
    page.wait_for_function(
        "([s, id]) => { const c = Chart.getChart(document.querySelector(s)); return c && c.options.plugins.annotation.annotations[id]; }",
        arg=[CHART, f"note-{index}"],
    )
    assert not dialog.is_visible()
    assert markers(page) == {f"note-{index}": {"value": index, "type": "line", "label": "\u2691"}}
    note = Annotation.objects.get(project=project)
    local_day = datetime.fromisoformat(spec["labels"][index]).date()
    assert note.at == datetime(local_day.year, local_day.month, local_day.day, 14, 30, tzinfo=tz).astimezone(timezone.utc)
    assert note.created_by_id == membership.user.id and note.text == "Pricing page redesign shipped"

    # Hovering the bucket: the tooltip lists the note under the values.
    page.locator(CHART).hover(position=bucket_point(page, index))
    page.wait_for_function("(s) => (Chart.getChart(document.querySelector(s)).tooltip.footer || []).length > 0", arg=CHART)
    footer = page.evaluate("(s) => Chart.getChart(document.querySelector(s)).tooltip.footer", CHART)
    assert "Pricing page redesign shipped" in " ".join(footer)
    assert f"{spec['labels'][index]} 14:30" in " ".join(footer)
    shot(page, "trends-marker-1280")

    # A phone: the dialog fits the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.wait_for_function("(s) => window.Chart && Chart.getChart(document.querySelector(s))", arg=CHART)
    page.locator(CHART).click(position=bucket_point(page, 2))
    dialog.wait_for(state="visible")
    box = dialog.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    shot(page, "dialog-390")
    dialog.locator("[data-cancel]").click()
    assert not dialog.is_visible()
    page.set_viewport_size({"width": 1280, "height": 860})

    # The list page: the note, edited in place by its author, then deleted.
    page.click("a.btn:has-text('Annotations')")
    page.wait_for_selector(f"#annotation-{note.id}")
    shot(page, "list-1280")
    page.click(f"#annotation-{note.id} a:has-text('Edit')")
    page.wait_for_selector(f"#annotation-{note.id} textarea[name=text]")
    page.fill(f"#annotation-{note.id} textarea[name=text]", "Pricing page redesign shipped to everyone")
    page.click(f"#annotation-{note.id} button:has-text('Save')")
    page.wait_for_selector(f"#annotation-{note.id} .annotation-text:has-text('to everyone')")
    note.refresh_from_db()
    assert note.text == "Pricing page redesign shipped to everyone"
    page.set_viewport_size({"width": 390, "height": 844})
    shot(page, "list-390")
    page.set_viewport_size({"width": 1280, "height": 860})
    page.once("dialog", lambda confirm: confirm.accept())
    page.click(f"#annotation-{note.id} button:has-text('Delete')")
    page.wait_for_selector(f"#annotation-{note.id}", state="detached")
    assert not Annotation.objects.filter(id=note.id).exists()


def test_a_viewer_reads_markers_and_cannot_add_from_the_chart(page, shop):
    membership, viewer = shop
    project = membership.project
    day = datetime.now(timezone.utc) - timedelta(days=2)
    annotation_create(project=project, user=membership.user, at=day, text="Newsletter sent")
    browser_login(page, viewer.user.username)
    page.goto(f"/projects/{project.id}/trends/?range=7d")
    page.wait_for_function("(s) => window.Chart && Chart.getChart(document.querySelector(s))", arg=CHART)
    assert len(markers(page)) == 1
    page.locator(CHART).click(position=bucket_point(page, 3))
    page.wait_for_timeout(300)
    assert page.locator("dialog#annotation-dialog").count() == 0
    assert page.evaluate("(s) => document.querySelector(s).classList.contains('annotatable')", CHART) is False

    page.goto(f"/projects/{project.id}/annotations/")
    page.wait_for_selector(".annotation-row")
    assert page.locator("#new-annotation").count() == 0
    assert page.locator(".annotation-row .btn").count() == 0
    shot(page, "list-viewer-1280")


def test_the_empty_list_at_phone_width(page, shop):
    membership, _ = shop
    browser_login(page, membership.user.username)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/projects/{membership.project.id}/annotations/")
    page.wait_for_selector(".empty-state")
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    shot(page, "empty-390")
    page.set_viewport_size({"width": 1280, "height": 860})
    shot(page, "empty-1280")
