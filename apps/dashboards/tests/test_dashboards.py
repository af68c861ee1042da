"""Dashboards through their pages and API: the home dashboard, the list, tiles (insights and
safe Markdown), each tile's own content and error, the layout and its checks, the range
override, CSV, and tenancy on every route. Real Postgres, Redis and chdb."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from apps.dashboards import dashboards as boards
from apps.dashboards import registry
from apps.dashboards.models import Dashboard, SavedInsight, Tile
from apps.funnels.services import funnel_create
from conftest import PASSWORD, MembershipFactory, ProjectFactory, flush, post_events

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name: str, project, **kwargs) -> str:
    return reverse(name, kwargs={"project_id": project.id, **kwargs})


def login(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture
def browser(member) -> Client:
    return login(member.user)


@pytest.fixture
def api(member) -> APIClient:
    client = APIClient()
    client.force_authenticate(member.user)
    return client


def fixed_range(days: int = 3) -> dict:
    """A fixed range of whole days ending today (UTC projects), built from now."""
    today = datetime.now(timezone.utc).date()
    return {"date_from": [(today - timedelta(days=days - 1)).isoformat()], "date_to": [today.isoformat()]}


def pageviews(project, count: int, *, who: str = "visitor") -> None:
    now = datetime.now(timezone.utc)
    events = [{"event": "$pageview", "distinct_id": f"{who}-{i}", "timestamp": (now - timedelta(minutes=5 + i)).isoformat()} for i in range(count)]
    assert post_events(APIClient(), project.api_key, {"events": events}).status_code == 202
    flush()


def board_with_tiles(project, *, query: dict | None = None) -> tuple[Dashboard, Tile, Tile]:
    dashboard = Dashboard.objects.create(project=project, name="Growth")
    insight = SavedInsight.objects.create(project=project, kind="trends", name="Views", query=query or {"events": ["$pageview"], **fixed_range()})
    chart = Tile.objects.create(dashboard=dashboard, insight=insight, x=0, y=0, w=6, h=4)
    note = Tile.objects.create(dashboard=dashboard, text="**Read me**", x=6, y=0, w=6, h=4)
    return dashboard, chart, note


def total_of(html: str) -> int:
    match = re.search(r'data-total="0">([\d,]+)<', html)
    assert match, html
    return int(match.group(1).replace(",", ""))


# --- The home dashboard -------------------------------------------------------------------------


def test_a_new_project_gets_a_home_dashboard_with_tiles(member):
    home = Dashboard.objects.get(project=member.project, is_default=True)
    tiles = list(home.tiles.select_related("insight").order_by("y", "x"))
    assert "Welcome" in tiles[0].text
    kinds = {(t.insight.kind, json.dumps(t.insight.query, sort_keys=True)) for t in tiles if t.insight_id}
    assert kinds == {("trends", json.dumps({"events": ["$pageview"], "range": ["30d"]}, sort_keys=True)), ("active_users", '{"range": ["30d"]}')}
    # Each saved query is one the registry's types accept.
    for tile in tiles[1:]:
        registry.insight_type(tile.insight.kind).validate(member.project, registry.query_dict(tile.insight.query))


def test_a_project_without_one_gets_it_when_its_dashboards_open_with_its_funnel(member, browser):
    Dashboard.objects.filter(project=member.project).delete()
    SavedInsight.objects.filter(project=member.project).delete()
    funnel = funnel_create(project=member.project, name="Signup", steps=[{"event": "a", "filters": []}, {"event": "b", "filters": []}])
    response = browser.get(url("dashboards-home", member.project))
    home = Dashboard.objects.get(project=member.project, is_default=True)
    assert response.status_code == 302 and response["Location"] == url("dashboards-detail", member.project, dashboard_id=home.id)
    queries = [t.insight.query for t in home.tiles.select_related("insight") if t.insight_id]
    assert {"funnel_id": [str(funnel.id)], "range": ["30d"]} in queries
    # Opened again (or by the list, or twice at once): the same one.
    assert boards.dashboard_default_ensure(project=member.project) == home
    assert browser.get(url("dashboards-list", member.project)).status_code == 200
    assert Dashboard.objects.filter(project=member.project, is_default=True).count() == 1


def test_the_overview_links_to_the_home_dashboard(member, browser):
    html = browser.get(url("analytics-overview", member.project)).content.decode()
    assert f'href="{url("dashboards-home", member.project)}"' in html


def test_the_sidebar_has_dashboards_right_after_overview(member, browser):
    html = browser.get(url("dashboards-list", member.project)).content.decode()
    labels = re.findall(r'class="sidebar-link[^"]*"[^>]*>.*?<span>([^<]+)</span>', html, re.S)
    assert labels[labels.index("Overview") + 1] == "Dashboards" and labels[-1] == "Settings"
    assert 'aria-current="page"' in html.split("<span>Dashboards</span>")[0].rsplit("<a", 1)[1]


# --- List, create, rename, delete ---------------------------------------------------------------


def test_create_rename_and_delete_a_dashboard(member, browser):
    created = browser.post(url("dashboards-list", member.project), {"name": "  Weekly growth ", "description": "For Mondays"}, **HTMX)
    dashboard = Dashboard.objects.get(project=member.project, name="Weekly growth")
    assert created["HX-Redirect"] == url("dashboards-detail", member.project, dashboard_id=dashboard.id)
    assert dashboard.description == "For Mondays" and dashboard.created_by == member.user and not dashboard.is_default

    listing = browser.get(url("dashboards-list", member.project)).content.decode()
    assert "Weekly growth" in listing and "Home" in listing

    refused = browser.post(url("dashboards-list", member.project), {"name": "  "})
    assert refused.status_code == 400 and "give the dashboard a name" in refused.content.decode()

    kw = {"dashboard_id": dashboard.id}
    assert browser.post(url("dashboards-edit", member.project, **kw), {"name": "Growth", "description": ""}).status_code == 302
    dashboard.refresh_from_db()
    assert dashboard.name == "Growth"
    assert "Delete “Growth”?" in browser.get(url("dashboards-delete", member.project, **kw)).content.decode()
    assert browser.post(url("dashboards-delete", member.project, **kw)).status_code == 302
    assert not Dashboard.objects.filter(id=dashboard.id).exists()


def test_the_home_dashboard_cannot_be_deleted_until_another_is_home(member, browser, api):
    home = Dashboard.objects.get(project=member.project, is_default=True)
    refused = browser.post(url("dashboards-delete", member.project, dashboard_id=home.id))
    assert refused.status_code == 400 and "home dashboard cannot be deleted" in refused.content.decode()
    answer = api.delete(url("api-dashboard", member.project, dashboard_id=home.id))
    assert answer.status_code == 400 and answer.json()["field"] == "dashboard"
    other = boards.dashboard_create(project=member.project, name="Other")
    assert browser.post(url("dashboards-make-home", member.project, dashboard_id=other.id)).status_code == 302
    assert Dashboard.objects.get(project=member.project, is_default=True) == other
    assert browser.post(url("dashboards-delete", member.project, dashboard_id=home.id)).status_code == 302


def test_htmx_requests_get_only_the_page_body(member, browser):
    dashboard, chart, note = board_with_tiles(member.project)
    for page in (
        url("dashboards-list", member.project),
        url("dashboards-detail", member.project, dashboard_id=dashboard.id),
        url("dashboards-tile-new", member.project, dashboard_id=dashboard.id),
        url("dashboards-edit", member.project, dashboard_id=dashboard.id),
    ):
        partial = browser.get(page, **HTMX)
        assert partial.status_code == 200 and b"<html" not in partial.content, page
        assert b"<html" in browser.get(page).content


# --- A dashboard renders frames; each tile loads on its own ---------------------------------------


def test_the_page_renders_tile_frames_and_each_tile_loads_on_its_own(member, browser):
    pageviews(member.project, 3)
    dashboard, chart, note = board_with_tiles(member.project)
    html = browser.get(url("dashboards-detail", member.project, dashboard_id=dashboard.id)).content.decode()
    tile_url = url("dashboards-tile", member.project, dashboard_id=dashboard.id, tile_id=chart.id)
    assert f'hx-get="{tile_url}" hx-trigger="load"' in html and "Loading…" in html
    assert 'type="application/json"' not in html  # no insight was computed for the page itself
    assert "<strong>Read me</strong>" in html  # a text card comes with the page
    assert f'gs-id="{chart.id}" gs-x="0" gs-y="0" gs-w="6" gs-h="4"' in html
    assert url("dashboards-tile-csv", member.project, dashboard_id=dashboard.id, tile_id=chart.id) in html

    body = browser.get(tile_url, **HTMX).content.decode()
    assert f'<script id="tile-{chart.id}-chart" type="application/json">' in body
    assert f'data-chart="tile-{chart.id}-chart"' in body
    assert total_of(body) == 3 and "Updated just now" in body and "refresh=1" in body


def test_an_empty_dashboard_says_how_to_fill_it(member, browser):
    dashboard = boards.dashboard_create(project=member.project, name="Empty")
    html = browser.get(url("dashboards-detail", member.project, dashboard_id=dashboard.id)).content.decode()
    assert "data-empty-dashboard" in html and "Add the first tile" in html


def test_a_viewer_reads_but_sees_no_edit_controls(member):
    dashboard, chart, note = board_with_tiles(member.project)
    viewer = MembershipFactory(project=member.project, role="viewer").user
    html = login(viewer).get(url("dashboards-detail", member.project, dashboard_id=dashboard.id)).content.decode()
    assert "data-dashboard-grid" in html and "data-editable" not in html
    assert url("dashboards-tile-new", member.project, dashboard_id=dashboard.id) not in html
    assert "data-tile-remove" not in html and "Share a read-only link" not in html
    assert "Download CSV" in html


def test_a_failing_tile_answers_its_own_error_and_the_others_still_load(member, browser, monkeypatch):
    def boom(project, params, chart_id):
        raise RuntimeError("ClickHouse is away")

    monkeypatch.setitem(registry.REGISTRY, "boom", registry.InsightType("boom", "Boom", "analytics-trends", boom, lambda p, q: ([], [])))
    dashboard, chart, note = board_with_tiles(member.project)
    broken = SavedInsight.objects.create(project=member.project, kind="boom", name="Broken", query={})
    bad = Tile.objects.create(dashboard=dashboard, insight=broken, x=0, y=4, w=6, h=4)
    failed = browser.get(url("dashboards-tile", member.project, dashboard_id=dashboard.id, tile_id=bad.id), **HTMX)
    assert failed.status_code == 503
    body = failed.content.decode()
    assert "data-tile-failed" in body and "data-tile-retry" in body
    assert url("dashboards-tile", member.project, dashboard_id=dashboard.id, tile_id=bad.id) in body
    ok = browser.get(url("dashboards-tile", member.project, dashboard_id=dashboard.id, tile_id=chart.id), **HTMX)
    assert ok.status_code == 200 and "data-updated" in ok.content.decode()


def test_a_saved_query_that_no_longer_works_is_an_error_tile(member, browser):
    dashboard, chart, note = board_with_tiles(member.project, query={"events": ["$pageview"], "range": ["5d"]})
    body = browser.get(url("dashboards-tile", member.project, dashboard_id=dashboard.id, tile_id=chart.id), **HTMX).content.decode()
    assert "data-tile-error" in body and 'data-field="range"' in body


# --- Markdown cards -----------------------------------------------------------------------------

HOSTILE = """# Hello
<script>alert("x")</script>
<img src=x onerror="alert(1)">
[bad](javascript:alert(1)) and [good](https://example.com/a?b=1)
![pixel](https://tracker.example/p.gif)"""


def test_markdown_cards_escape_html_and_mark_links(member, browser, api):
    dashboard = boards.dashboard_create(project=member.project, name="Notes")
    answer = api.post(url("api-dashboard-tiles", member.project, dashboard_id=dashboard.id), {"text": HOSTILE}, format="json")
    assert answer.status_code == 201 and answer.json()["kind"] == "text"
    for html in (
        browser.get(url("dashboards-detail", member.project, dashboard_id=dashboard.id)).content.decode(),
        browser.get(url("dashboards-tile", member.project, dashboard_id=dashboard.id, tile_id=answer.json()["id"]), **HTMX).content.decode(),
    ):
        assert "<h1>Hello</h1>" in html
        assert "<script>alert" not in html and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
        assert "<img" not in html and "&lt;img src=x onerror=" in html
        assert 'href="javascript:' not in html
        assert '<a href="https://example.com/a?b=1" rel="nofollow noopener noreferrer" target="_blank">good</a>' in html
        assert "tracker.example/p.gif" not in html.split("<img")[0] or 'src="https://tracker' not in html


# --- Adding and editing tiles -------------------------------------------------------------------


def test_add_a_saved_insight_picked_from_a_searchable_list_and_a_text_card(member, browser):
    dashboard = boards.dashboard_create(project=member.project, name="Picks")
    signups = SavedInsight.objects.create(project=member.project, kind="trends", name="Signups per day", query={"events": ["signed_up"]})
    SavedInsight.objects.create(project=member.project, kind="retention", name="Weekly retention", query={"start_event": ["signed_up"]})
    other = SavedInsight.objects.create(project=ProjectFactory(), kind="trends", name="Signups elsewhere", query={})
    kw = {"dashboard_id": dashboard.id}

    form = browser.get(url("dashboards-tile-new", member.project, **kw)).content.decode()
    assert "Signups per day" in form and "Weekly retention" in form and "Signups elsewhere" not in form
    found = browser.get(url("dashboards-tile-insights", member.project, **kw) + "?q=signups", **HTMX).content.decode()
    assert "Signups per day" in found and "Weekly retention" not in found and "Signups elsewhere" not in found
    assert "No saved insight matches" in browser.get(url("dashboards-tile-insights", member.project, **kw) + "?q=zzz").content.decode()

    assert browser.post(url("dashboards-tile-new", member.project, **kw), {"kind": "insight", "insight": signups.id}).status_code == 302
    refused = browser.post(url("dashboards-tile-new", member.project, **kw), {"kind": "insight", "insight": other.id})
    assert refused.status_code == 400 and "saved insight of this project has that id" in refused.content.decode()
    assert browser.post(url("dashboards-tile-new", member.project, **kw), {"kind": "insight"}).status_code == 400
    assert browser.post(url("dashboards-tile-new", member.project, **kw), {"kind": "text", "text": "## Notes"}).status_code == 302
    first, second = dashboard.tiles.order_by("id")
    assert (first.insight, first.x, first.y, first.w) == (signups, 0, 0, 6)
    assert (second.text, second.x, second.y) == ("## Notes", 6, 0)  # the first free place

    assert browser.post(url("dashboards-tile-edit", member.project, tile_id=second.id, **kw), {"text": "Changed"}).status_code == 302
    second.refresh_from_db()
    assert second.text == "Changed"
    assert browser.post(url("dashboards-tile-delete", member.project, tile_id=second.id, **kw)).status_code == 302
    assert list(dashboard.tiles.all()) == [first]
    assert SavedInsight.objects.filter(id=signups.id).exists()


# --- The layout ---------------------------------------------------------------------------------


def layout_of(dashboard) -> list[tuple]:
    return [(t.id, t.x, t.y, t.w, t.h) for t in dashboard.tiles.order_by("id")]


def test_a_layout_is_saved_whole(member, api):
    dashboard, chart, note = board_with_tiles(member.project)
    body = {"tiles": [{"id": chart.id, "x": 0, "y": 4, "w": 12, "h": 5}, {"id": note.id, "x": 0, "y": 0, "w": 4, "h": 4}]}
    answer = api.post(url("api-dashboard-layout", member.project, dashboard_id=dashboard.id), body, format="json")
    assert answer.status_code == 200
    assert layout_of(dashboard) == [(chart.id, 0, 4, 12, 5), (note.id, 0, 0, 4, 4)]
    assert [t["id"] for t in answer.json()] == [note.id, chart.id]


BAD_LAYOUTS = [
    (lambda c, n, o: [{"id": 999999, "x": 0, "y": 0, "w": 1, "h": 1}], "tiles.0.id", "no tile 999999"),
    (lambda c, n, o: [{"id": o, "x": 0, "y": 9, "w": 1, "h": 1}], "tiles.0.id", "on this dashboard"),
    (lambda c, n, o: [{"id": c, "x": 0, "y": 0, "w": 6, "h": 4}, {"id": n, "x": 3, "y": 2, "w": 6, "h": 4}], "tiles.1", "overlap"),
    (lambda c, n, o: [{"id": c, "x": -1, "y": 0, "w": 6, "h": 4}], "tiles.0.x", "negative"),
    (lambda c, n, o: [{"id": c, "x": 0, "y": -2, "w": 6, "h": 4}], "tiles.0.y", "negative"),
    (lambda c, n, o: [{"id": c, "x": 0, "y": 9, "w": 13, "h": 4}], "tiles.0.w", "between 1 and 12"),
    (lambda c, n, o: [{"id": c, "x": 0, "y": 9, "w": 0, "h": 4}], "tiles.0.w", "between 1 and 12"),
    (lambda c, n, o: [{"id": c, "x": 0, "y": 9, "w": 6, "h": 99}], "tiles.0.h", "between 1 and 24"),
    (lambda c, n, o: [{"id": c, "x": 8, "y": 9, "w": 6, "h": 4}], "tiles.0.x", "past the grid"),
    (lambda c, n, o: [{"id": c, "x": "left", "y": 9, "w": 6, "h": 4}], "tiles.0.x", "whole number"),
    (lambda c, n, o: [{"id": c, "x": 0, "y": 9, "w": 6, "h": 4}, {"id": c, "x": 0, "y": 20, "w": 6, "h": 4}], "tiles.1.id", "twice"),
    (lambda c, n, o: "everything", "tiles", "must be a list"),
    (lambda c, n, o: ["x"], "tiles.0", "must be an object"),
]


@pytest.mark.parametrize("make, field, words", BAD_LAYOUTS)
def test_a_bad_layout_is_a_400_naming_the_problem_and_nothing_is_saved(member, api, make, field, words):
    dashboard, chart, note = board_with_tiles(member.project)
    other_board, other_tile, _ = board_with_tiles(member.project)
    before = layout_of(dashboard)
    tiles = make(chart.id, note.id, other_tile.id)
    if isinstance(tiles, list) and not any(isinstance(t, dict) and t.get("id") == note.id for t in tiles):
        tiles = [*tiles, {"id": note.id, "x": 6, "y": 30, "w": 6, "h": 4}]  # a valid move alongside: not saved either
    body = {"tiles": tiles}
    answer = api.post(url("api-dashboard-layout", member.project, dashboard_id=dashboard.id), body, format="json")
    assert answer.status_code == 400, answer.content
    error = answer.json()
    assert error["field"] == field and words in error["message"], error
    assert error["error"] == "invalid_layout" or field == "tiles"
    assert layout_of(dashboard) == before


def test_a_tile_placed_by_the_api_is_checked_too(member, api):
    dashboard, chart, note = board_with_tiles(member.project)
    answer = api.patch(url("api-dashboard-tile", member.project, dashboard_id=dashboard.id, tile_id=note.id), {"x": 2}, format="json")
    assert answer.status_code == 400 and "overlap" in answer.json()["message"]
    answer = api.patch(url("api-dashboard-tile", member.project, dashboard_id=dashboard.id, tile_id=note.id), {"y": 4, "x": 0, "w": 12}, format="json")
    assert answer.status_code == 200 and (answer.json()["x"], answer.json()["y"], answer.json()["w"]) == (0, 4, 12)
    placed = api.post(url("api-dashboard-tiles", member.project, dashboard_id=dashboard.id), {"text": "x", "x": 0}, format="json")
    assert placed.status_code == 400 and placed.json()["field"] == "y"


# --- The range ----------------------------------------------------------------------------------


def test_the_range_control_overrides_the_tiles_ranges_and_is_saved_on_the_dashboard(member, browser):
    dashboard, chart, note = board_with_tiles(member.project)
    kw = {"dashboard_id": dashboard.id}
    tile_url = url("dashboards-tile", member.project, tile_id=chart.id, **kw)

    viewing = browser.get(url("dashboards-detail", member.project, **kw) + "?preset=7d", **HTMX).content.decode()
    assert f'hx-get="{tile_url}?range=7d"' in viewing and "Last 7 days" in viewing and "Save range" in viewing

    assert browser.post(url("dashboards-range", member.project, **kw), {"preset": "7d"}).status_code == 302
    dashboard.refresh_from_db()
    assert dashboard.date_range == {"range": ["7d"]}
    page = browser.get(url("dashboards-detail", member.project, **kw)).content.decode()
    assert f'hx-get="{tile_url}"' in page and "Last 7 days" in page and "Use each tile" in page

    assert browser.post(url("dashboards-range", member.project, **kw), {"date_from": "2026-01-01", "date_to": "2026-01-31"}).status_code == 302
    dashboard.refresh_from_db()
    assert dashboard.date_range == {"date_from": ["2026-01-01"], "date_to": ["2026-01-31"]}
    assert browser.post(url("dashboards-range", member.project, **kw), {"clear": "1"}).status_code == 302
    dashboard.refresh_from_db()
    assert dashboard.date_range == {}
    assert "Each tile&#x27;s own range" in browser.get(url("dashboards-detail", member.project, **kw)).content.decode()

    bad = browser.get(url("dashboards-detail", member.project, **kw) + "?date_from=2026-02-10&date_to=2026-02-01")
    assert bad.status_code == 400 and "data-date-error" in bad.content.decode()


def test_a_dashboards_range_reaches_its_tiles(member, browser):
    """Events of 10 days ago: outside the tile's own 3 days, inside the dashboard's 30."""
    old = datetime.now(timezone.utc) - timedelta(days=10)
    assert post_events(APIClient(), member.project.api_key, {"events": [{"event": "$pageview", "distinct_id": "old", "timestamp": old.isoformat()}]}).status_code == 202
    pageviews(member.project, 2)
    dashboard, chart, note = board_with_tiles(member.project)
    tile_url = url("dashboards-tile", member.project, dashboard_id=dashboard.id, tile_id=chart.id)
    assert total_of(browser.get(tile_url, **HTMX).content.decode()) == 2
    assert total_of(browser.get(tile_url + "?range=30d", **HTMX).content.decode()) == 3
    boards.dashboard_update(dashboard=dashboard, date_range={"range": "30d"})
    assert total_of(browser.get(tile_url, **HTMX).content.decode()) == 3
    csv = browser.get(url("dashboards-tile-csv", member.project, dashboard_id=dashboard.id, tile_id=chart.id)).content.decode()
    assert csv.splitlines()[0].startswith("bucket,$pageview") and len(csv.splitlines()) == 31


def test_range_values_are_checked_on_the_api(member, api):
    dashboard = boards.dashboard_create(project=member.project, name="R")
    target = url("api-dashboard", member.project, dashboard_id=dashboard.id)
    for body, field in (
        ({"date_range": {"range": "5d"}}, "date_range.range"),
        ({"date_range": {"date_from": "2026-01-05"}}, "date_range.date_to"),
        ({"date_range": {"date_from": "2026-01-05", "date_to": "2026-01-01"}}, "date_range.date_to"),
        ({"date_range": {"when": "now"}}, "date_range.when"),
        ({"date_range": "7d"}, "date_range"),
        ({"colour": "red"}, "colour"),
        ({"name": ""}, "name"),
        ({"is_default": False}, "is_default"),
    ):
        answer = api.patch(target, body, format="json")
        assert answer.status_code == 400 and answer.json()["field"] == field, (body, answer.json())
    answer = api.patch(target, {"date_range": {"range": ["7d"]}, "name": "Renamed"}, format="json")
    assert answer.status_code == 200 and answer.json()["date_range"] == {"range": ["7d"]} and answer.json()["date_range_label"] == "Last 7 days"
    assert api.patch(target, {"date_range": None}, format="json").json()["date_range"] == {}


# --- CSV ----------------------------------------------------------------------------------------


def test_csv_of_a_tile_and_formulas_are_quoted(member, browser):
    now = datetime.now(timezone.utc)
    events = [{"event": "=HYPERLINK(\"http://x\")", "distinct_id": "a", "timestamp": now.isoformat()}]
    assert post_events(APIClient(), member.project.api_key, {"events": events}).status_code == 202
    flush()
    dashboard, chart, note = board_with_tiles(member.project, query={"events": ['=HYPERLINK("http://x")'], **fixed_range(2)})
    answer = browser.get(url("dashboards-tile-csv", member.project, dashboard_id=dashboard.id, tile_id=chart.id))
    assert answer["Content-Type"] == "text/csv" and "attachment" in answer["Content-Disposition"]
    rows = answer.content.decode().splitlines()
    assert rows[0].startswith("bucket,\"'=HYPERLINK") and rows[-1].endswith(",1")
    text = browser.get(url("dashboards-tile-csv", member.project, dashboard_id=dashboard.id, tile_id=note.id))
    assert text.status_code == 404


# --- The API ------------------------------------------------------------------------------------


def test_the_api_creates_reads_changes_and_deletes(member, api):
    insight = SavedInsight.objects.create(project=member.project, kind="trends", name="Views", query={"events": ["$pageview"]})
    created = api.post(url("api-dashboards", member.project), {"name": "From the API", "description": "d"}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "From the API" and body["tiles"] == [] and body["shared"] is False and body["is_default"] is False
    kw = {"dashboard_id": body["id"]}
    tile = api.post(url("api-dashboard-tiles", member.project, **kw), {"insight": insight.id}, format="json").json()
    assert (tile["kind"], tile["insight"], tile["insight_kind"], tile["x"], tile["y"], tile["w"], tile["h"]) == ("insight", insight.id, "trends", 0, 0, 6, 5)
    text = api.post(url("api-dashboard-tiles", member.project, **kw), {"text": "Hi", "x": 0, "y": 5, "w": 12, "h": 2}, format="json").json()
    assert (text["x"], text["y"], text["w"], text["h"]) == (0, 5, 12, 2)
    listing = api.get(url("api-dashboards", member.project)).json()
    assert [d["name"] for d in listing] == ["Home", "From the API"]
    detail = api.get(url("api-dashboard", member.project, **kw)).json()
    assert [t["id"] for t in detail["tiles"]] == [tile["id"], text["id"]]
    assert api.get(url("api-dashboard-tiles", member.project, **kw)).json() == detail["tiles"]
    assert api.patch(url("api-dashboard-tile", member.project, tile_id=text["id"], **kw), {"text": "Bye"}, format="json").json()["text"] == "Bye"
    assert api.patch(url("api-dashboard-tile", member.project, tile_id=text["id"], **kw), {"insight": insight.id}, format="json").status_code == 400
    assert api.post(url("api-dashboard-tiles", member.project, **kw), {}, format="json").status_code == 400
    assert api.post(url("api-dashboard-tiles", member.project, **kw), {"text": "a", "insight": insight.id}, format="json").status_code == 400
    assert api.delete(url("api-dashboard-tile", member.project, tile_id=text["id"], **kw)).status_code == 204
    assert api.delete(url("api-dashboard", member.project, **kw)).status_code == 204
    assert api.get(url("api-dashboard", member.project, **kw)).status_code == 404


def test_the_api_is_in_the_openapi_schema(member, api):
    schema = api.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    for path, methods in {
        "/api/v1/projects/{project_id}/dashboards": {"get", "post"},
        "/api/v1/projects/{project_id}/dashboards/{dashboard_id}": {"get", "patch", "delete"},
        "/api/v1/projects/{project_id}/dashboards/{dashboard_id}/tiles": {"get", "post"},
        "/api/v1/projects/{project_id}/dashboards/{dashboard_id}/tiles/{tile_id}": {"get", "patch", "delete"},
        "/api/v1/projects/{project_id}/dashboards/{dashboard_id}/layout": {"post"},
    }.items():
        assert methods <= set(paths[path]), path


# --- Tenancy ------------------------------------------------------------------------------------


def test_nothing_of_another_project_or_dashboard_is_reachable(member, browser, api):
    dashboard, chart, note = board_with_tiles(member.project)
    other_member = MembershipFactory()
    theirs, their_chart, their_note = board_with_tiles(other_member.project)
    mine = member.project
    # Their dashboard under my project's id, and mine under theirs: 404 everywhere.
    for name, kwargs in (
        ("dashboards-detail", {"dashboard_id": theirs.id}),
        ("dashboards-edit", {"dashboard_id": theirs.id}),
        ("dashboards-tile-new", {"dashboard_id": theirs.id}),
        ("dashboards-tile", {"dashboard_id": theirs.id, "tile_id": their_chart.id}),
        ("dashboards-tile", {"dashboard_id": dashboard.id, "tile_id": their_chart.id}),
        ("dashboards-tile-csv", {"dashboard_id": dashboard.id, "tile_id": their_chart.id}),
        ("dashboards-tile-edit", {"dashboard_id": dashboard.id, "tile_id": their_note.id}),
    ):
        assert browser.get(url(name, mine, **kwargs)).status_code == 404, name
    assert browser.get(url("dashboards-detail", other_member.project, dashboard_id=dashboard.id)).status_code == 404
    assert browser.post(url("dashboards-tile-delete", mine, dashboard_id=dashboard.id, tile_id=their_note.id)).status_code == 404
    for method, name, kwargs in (
        ("get", "api-dashboard", {"dashboard_id": theirs.id}),
        ("patch", "api-dashboard", {"dashboard_id": theirs.id}),
        ("delete", "api-dashboard", {"dashboard_id": theirs.id}),
        ("get", "api-dashboard-tiles", {"dashboard_id": theirs.id}),
        ("patch", "api-dashboard-tile", {"dashboard_id": dashboard.id, "tile_id": their_note.id}),
        ("delete", "api-dashboard-tile", {"dashboard_id": dashboard.id, "tile_id": their_note.id}),
    ):
        assert getattr(api, method)(url(name, mine, **kwargs), {}, format="json").status_code == 404, (method, name)
    # A tile of their dashboard in my layout, or their insight on my dashboard: refused, named.
    layout = api.post(url("api-dashboard-layout", mine, dashboard_id=dashboard.id), {"tiles": [{"id": their_chart.id, "x": 0, "y": 20, "w": 1, "h": 1}]}, format="json")
    assert layout.status_code == 400 and layout.json()["field"] == "tiles.0.id"
    stolen = api.post(url("api-dashboard-tiles", mine, dashboard_id=dashboard.id), {"insight": their_chart.insight_id}, format="json")
    assert stolen.status_code == 400 and stolen.json()["field"] == "insight"
    assert Tile.objects.get(id=their_chart.id).y == 0 and Tile.objects.get(id=their_note.id).text == "**Read me**"


def test_viewers_may_not_change_anything(member):
    dashboard, chart, note = board_with_tiles(member.project)
    viewer = MembershipFactory(project=member.project, role="viewer").user
    api = APIClient()
    api.force_authenticate(viewer)
    kw = {"dashboard_id": dashboard.id}
    assert api.get(url("api-dashboard", member.project, **kw)).status_code == 200
    answer = api.post(url("api-dashboard-layout", member.project, **kw), {"tiles": []}, format="json")
    assert answer.status_code == 403 and "viewer" in answer.json()["message"].lower()
    assert api.patch(url("api-dashboard", member.project, **kw), {"name": "x"}, format="json").status_code == 403
    assert login(viewer).post(url("dashboards-share", member.project, **kw)).status_code == 403


def test_nul_and_control_characters_are_refused_or_dropped_never_a_500(member, browser, api):
    dashboard = boards.dashboard_create(project=member.project, name="N")
    for body, field in (({"name": "a\x00b"}, "name"), ({"description": "\x00"}, "description")):
        answer = api.patch(url("api-dashboard", member.project, dashboard_id=dashboard.id), body, format="json")
        assert answer.status_code == 400 and answer.json()["field"] == field
    answer = api.post(url("api-dashboard-tiles", member.project, dashboard_id=dashboard.id), {"text": "x\x00"}, format="json")
    assert answer.status_code == 400 and answer.json()["field"] == "text"
    assert browser.get(url("dashboards-tile-insights", member.project, dashboard_id=dashboard.id) + "?q=%00ab%01").status_code == 200
    assert browser.get(url("dashboards-detail", member.project, dashboard_id=dashboard.id) + "?range=%00").status_code == 400
