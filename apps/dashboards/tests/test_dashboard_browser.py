"""Dashboards in a real browser: build one (create it, add a saved insight picked from the
list and a text card), drag a tile, reload, and the layout holds; phones get one column and
no dragging; a failing tile shows its own error and Retry while the others load; the shared
page. Screenshots go to /tmp/shots/dash-*.png (and test-artifacts/screenshots)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from apps.dashboards import registry
from apps.dashboards.models import Dashboard, SavedInsight, Tile
from conftest import MembershipFactory, browser_login, flush, post_events

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = Path("/tmp/shots")


def shot(page, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"dash-{name}.png"), full_page=True)
    page.screenshot_as(f"dash-{name}")


@pytest.fixture
def shop():
    membership = MembershipFactory(project__name="Demo Shop")
    now = datetime.now(timezone.utc)
    events = [
        {"event": name, "distinct_id": f"user-{i}", "timestamp": (now - timedelta(hours=i * 7 + 1)).isoformat()}
        for i in range(24)
        for name in (("$pageview", "signed_up") if i % 3 == 0 else ("$pageview",))
    ]
    assert post_events(APIClient(), membership.project.api_key, {"events": events}).status_code == 202
    flush()
    today = now.date()
    SavedInsight.objects.create(
        project=membership.project, kind="trends", name="Signups per day", description="New accounts",
        query={"events": ["signed_up"], "date_from": [(today - timedelta(days=6)).isoformat()], "date_to": [today.isoformat()]},
    )
    SavedInsight.objects.create(project=membership.project, kind="stickiness", name="Sticky visitors", query={"event": ["$pageview"], "range": ["7d"]})
    return membership


def box(page, selector: str) -> dict:
    return page.locator(selector).bounding_box()


def test_build_a_dashboard_drag_a_tile_and_the_layout_holds(page, shop):
    project = shop.project
    browser_login(page, shop.user.username)
    page.goto(f"/projects/{project.id}/")
    page.click("a.sidebar-link:has-text('Dashboards')")
    page.wait_for_selector("#dashboard-table")
    assert page.locator("#dashboard-table").inner_text().count("Home") >= 1
    shot(page, "list")

    # Create one: it opens empty, with a way to fill it.
    page.click(".dash-new > summary")
    page.fill("#dash-name", "Growth")
    page.fill("#dash-description", "What we read on Mondays")
    page.click("text=Create dashboard")
    page.wait_for_selector("[data-empty-dashboard]")
    dashboard = Dashboard.objects.get(project=project, name="Growth")
    shot(page, "empty")

    # A saved insight, found by searching the list.
    page.click("text=Add the first tile")
    page.wait_for_selector("[data-insight-search]")
    assert page.locator(".dash-picker-item").count() >= 2
    page.fill("[data-insight-search]", "signups")
    page.wait_for_function("document.querySelectorAll('.dash-picker-item').length === 1")
    shot(page, "add-insight")
    page.check(".dash-picker-item input")
    page.click("[data-tile-save]")
    page.wait_for_selector("[data-dashboard-grid] [data-tile-kind=trends] [data-updated]")

    # A text card: its HTML stays text.
    page.click("[data-add-tile]")
    page.click(".dash-tile-kinds >> text=Text card")
    page.fill("#tile-text", "## Goals\n\n- **40 %** activation\n\n<script>window.pwned = 1</script>")
    page.click("[data-tile-save]")
    page.wait_for_selector("[data-tile-kind=text] .markdown h2")
    assert page.evaluate("window.pwned") is None
    assert "<script>window.pwned = 1</script>" in page.locator("[data-tile-kind=text] .markdown").inner_text()
    page.wait_for_selector("[data-tile-kind=trends] canvas")
    chart, note = Tile.objects.filter(dashboard=dashboard).order_by("id")
    assert (chart.x, chart.y, note.x, note.y) == (0, 0, 6, 0)

    # Drag the note by its title bar under the chart, on the left.
    head = box(page, f"#tile-{note.id} .dash-tile-head")
    grid = box(page, "[data-dashboard-grid]")
    page.mouse.move(head["x"] + 30, head["y"] + head["height"] / 2)
    page.mouse.down()
    target_x, target_y = grid["x"] + 40, grid["y"] + grid["height"] + 60
    page.mouse.move(head["x"] + 10, head["y"] + 40, steps=5)
    page.mouse.move(target_x, target_y, steps=25)
    page.mouse.up()
    page.wait_for_selector("[data-layout-status][data-level=ok]")
    note.refresh_from_db()
    chart.refresh_from_db()
    assert (note.x, note.y) == (0, chart.y + chart.h), (note.x, note.y)
    moved = (note.x, note.y, note.w, note.h)

    # Reload: the layout holds.
    page.reload()
    page.wait_for_selector("[data-tile-kind=trends] [data-updated]")
    item = page.locator(f"[data-tile='{note.id}']")
    assert tuple(int(item.get_attribute(f"gs-{a}")) for a in "xywh") == moved
    assert box(page, f"#tile-{note.id}")["y"] > box(page, f"#tile-{chart.id}")["y"] + box(page, f"#tile-{chart.id}")["height"] - 5
    # Served from the cache now, and says when it was computed.
    assert "Updated" in page.locator(f"#tile-{chart.id} [data-updated]").inner_text()
    shot(page, "desktop")

    # A tile's menu opens over its neighbours, not cut by its tile.
    page.click(f"#tile-{chart.id} .dash-tile-menu > summary")
    item = page.locator(f"#tile-{chart.id} [data-tile-csv]")
    spot = item.bounding_box()
    assert page.evaluate(
        "([x, y]) => !!document.elementFromPoint(x, y).closest('[data-tile-csv]')", [spot["x"] + spot["width"] / 2, spot["y"] + spot["height"] / 2]
    )
    remove = page.locator(f"#tile-{chart.id} [data-tile-remove]").bounding_box()
    assert page.evaluate(
        "([x, y]) => !!document.elementFromPoint(x, y).closest('[data-tile-remove]')", [remove["x"] + remove["width"] / 2, remove["y"] + remove["height"] / 2]
    )
    shot(page, "tile-menu")
    page.keyboard.press("Escape")

    # A phone: one column, nothing to drag.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.wait_for_selector("[data-dashboard-grid].dash-grid-stacked")
    page.wait_for_selector("[data-tile-kind=trends] [data-updated]")
    a, b = box(page, f"#tile-{chart.id}"), box(page, f"#tile-{note.id}")
    assert abs(a["x"] - b["x"]) < 2 and a["width"] > 300 and b["y"] > a["y"]
    head = box(page, f"#tile-{chart.id} .dash-tile-head")
    page.mouse.move(head["x"] + 30, head["y"] + 10)
    page.mouse.down()
    page.mouse.move(head["x"] + 30, head["y"] + 400, steps=15)
    page.mouse.up()
    page.wait_for_timeout(400)
    chart.refresh_from_db()
    assert (chart.x, chart.y, chart.w) == (0, 0, 6)
    assert page.locator("[data-layout-status]").inner_text() == ""
    page.evaluate("getSelection().removeAllRanges()")  # what the mouse drag selected
    shot(page, "phone")
    page.goto(f"/projects/{project.id}/dashboards/")
    page.wait_for_selector("#dashboard-table")
    shot(page, "list-phone")


def test_a_failing_tile_shows_its_own_error_and_retry(page, shop, monkeypatch):
    project = shop.project

    def boom(project, params, chart_id):
        raise RuntimeError("the events store did not answer")

    monkeypatch.setitem(registry.REGISTRY, "boom", registry.InsightType("boom", "Boom", "analytics-trends", boom, lambda p, q: ([], [])))
    dashboard = Dashboard.objects.create(project=project, name="Mixed")
    good = Tile.objects.create(dashboard=dashboard, insight=SavedInsight.objects.get(name="Signups per day"), x=0, y=0, w=6, h=4)
    broken = Tile.objects.create(dashboard=dashboard, insight=SavedInsight.objects.create(project=project, kind="boom", name="Broken", query={}), x=6, y=0, w=6, h=4)
    unreachable = Tile.objects.create(dashboard=dashboard, insight=SavedInsight.objects.get(name="Sticky visitors"), x=0, y=4, w=12, h=4)
    page.tolerate(f"/tiles/{broken.id}/")  # its 503 on purpose
    page.tolerate("ERR_FAILED")  # the request the test cuts, and htmx's log of it
    page.tolerate("htmx:sendError")
    page.tolerate("htmx:afterRequest")
    page.tolerate("503")
    browser_login(page, shop.user.username)
    cut = re.compile(rf".*/tiles/{unreachable.id}/.*")
    page.route(cut, lambda route: route.abort())
    page.goto(f"/projects/{project.id}/dashboards/{dashboard.id}/")
    page.wait_for_selector(f"#tile-{good.id} [data-updated]")
    page.wait_for_selector(f"#tile-{broken.id} [data-tile-failed]")
    page.wait_for_selector(f"#tile-{unreachable.id} [data-tile-failed]")
    assert "could not be computed" in page.locator(f"#tile-{broken.id}").inner_text()
    assert "could not be reached" in page.locator(f"#tile-{unreachable.id}").inner_text()
    assert page.locator("#messages .alert").count() == 0  # the tiles say it, not the page
    shot(page, "failed-tile")

    page.unroute(cut)
    page.click(f"#tile-{unreachable.id} [data-tile-retry]")
    page.wait_for_selector(f"#tile-{unreachable.id} [data-updated]")
    monkeypatch.setitem(registry.REGISTRY, "boom", registry.REGISTRY["trends"])
    page.click(f"#tile-{broken.id} [data-tile-retry]")
    page.wait_for_selector(f"#tile-{broken.id} [data-updated]")


def test_share_a_dashboard_and_open_the_link(page, shop):
    project = shop.project
    browser_login(page, shop.user.username)
    home = Dashboard.objects.get(project=project, is_default=True)
    page.goto(f"/projects/{project.id}/dashboards/{home.id}/")
    page.wait_for_selector("[data-tile-kind=trends] [data-updated]")
    shot(page, "home")
    page.click(".dash-share > summary")
    page.click("[data-share-create]")
    page.wait_for_selector("[data-share-link]")
    shot(page, "share-link")
    link = page.locator("[data-share-link]").inner_text().strip()
    assert re.fullmatch(r"http://[^/]+/shared/[A-Za-z0-9_-]{43}/", link)

    page.goto(link)
    page.wait_for_selector("[data-tile-kind=trends] [data-updated]")
    page.wait_for_selector("[data-tile-kind=active_users] [data-updated]")
    assert page.locator("meta[name=robots]").get_attribute("content") == "noindex, nofollow"
    assert page.locator(".sidebar").count() == 0 and page.locator(".switcher").count() == 0
    assert page.locator(f"a[href*='/projects/']").count() == 0
    shot(page, "shared")
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.wait_for_selector("[data-tile-kind=trends] [data-updated]")
    shot(page, "shared-phone")
