"""The insight registry: a saved insight of each kind renders its tile with the very figures
its page shows, its table is the page's CSV, and a saved query that no longer works gives an
error tile (never a 500).

The clock is pinned (time-machine) to a Wednesday in March 2026, and the events are in the
days before it, so every figure is known whatever today's date is.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime, timezone
from html import unescape

import pytest
import time_machine
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse

from apps.dashboards import registry
from apps.dashboards.insights import insight_create
from apps.dashboards.models import SavedInsight
from apps.funnels.services import funnel_create
from conftest import PASSWORD, flush, post_events
from pulseboard.errors import NotFound

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 18, 12, 0, tzinfo=timezone.utc)  # a Wednesday
FUNNEL_STEPS = [{"event": "signed_up"}, {"event": "purchase"}]

# (person, event, timestamp): four persons over the ten days before NOW.
EVENTS = [
    ("ann", "$pageview", "2026-03-09T10:00:00Z"),
    ("ann", "$pageview", "2026-03-16T10:00:00Z"),
    ("ann", "$pageview", "2026-03-17T10:00:00Z"),
    ("ann", "signed_up", "2026-03-16T10:01:00Z"),
    ("ann", "purchase", "2026-03-16T10:30:00Z"),
    ("bob", "$pageview", "2026-03-17T11:00:00Z"),
    ("bob", "$pageview", "2026-03-17T11:05:00Z"),
    ("bob", "signed_up", "2026-03-17T11:01:00Z"),
    ("cat", "$pageview", "2026-03-12T09:00:00Z"),
    ("cat", "$pageview", "2026-03-18T09:00:00Z"),
    ("dan", "signed_up", "2026-03-18T08:00:00Z"),
]


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def events(member, ingest_client):
    """The member's project with EVENTS stored."""
    body = {"events": [{"event": e, "distinct_id": who, "timestamp": at, "properties": {"plan": "pro" if who in ("ann", "cat") else "free"}} for who, e, at in EVENTS]}
    assert post_events(ingest_client, member.project.api_key, body).status_code == 202
    flush()
    return member.project


@pytest.fixture
def browser(member):
    client = Client()
    assert client.login(username=member.user.username, password=PASSWORD)
    return client


def json_script(html: str, element_id: str) -> dict:
    match = re.search(rf'<script id="{re.escape(element_id)}" type="application/json">(.*?)</script>', html, re.S)
    assert match, f"no json_script {element_id!r}"
    return json.loads(unescape(match.group(1)))


def figures(chart: dict) -> dict:
    """What a chart shows: its labels and each dataset's label and values."""
    return {"labels": chart["labels"], "datasets": [(d["label"], d["data"]) for d in chart["datasets"]]}


def tile_html(project, insight, chart_id="tile-chart", override=None) -> tuple[registry.TileContent, str]:
    content = registry.tile_content(project, insight, chart_id=chart_id, override=override)
    return content, render_to_string(content.template, content.context)


# kind -> (saved query, the chart's json_script id on the page, the CSV export's url name)
CASES = {
    "trends": (
        {"events": ["$pageview,signed_up"], "math": ["unique,total"], "date_from": ["2026-03-09"], "date_to": ["2026-03-18"]},
        "trend-chart",
        "analytics-trends-csv",
    ),
    "active_users": ({"range": ["7d"]}, "active-chart", None),
    "retention": (
        {"start_event": ["$pageview"], "period": ["day"], "periods": ["4"], "date_from": ["2026-03-15"], "date_to": ["2026-03-18"]},
        "retention-chart",
        "analytics-retention-csv",
    ),
    "stickiness": ({"event": ["$pageview", "signed_up"], "range": ["7d"]}, "stickiness-chart", "analytics-stickiness-csv"),
    "lifecycle": ({"event": ["$pageview"], "date_from": ["2026-03-12"], "date_to": ["2026-03-18"]}, "lifecycle-chart", "analytics-lifecycle-csv"),
    "funnel": ({"range": ["7d"]}, "funnel-chart", None),
    "sessions": ({"date_from": ["2026-03-09"], "date_to": ["2026-03-18"]}, "sessions-chart", "web-sessions-csv"),
}


def saved(project, user, kind: str) -> SavedInsight:
    query = dict(CASES[kind][0])
    if kind == "funnel":
        funnel = funnel_create(project=project, name="Signup → purchase", steps=FUNNEL_STEPS, created_by=user)
        query["funnel_id"] = [str(funnel.id)]
    return insight_create(project=project, kind=kind, name=f"My {kind}", query=query, created_by=user)


@pytest.mark.parametrize("kind", list(CASES))
def test_each_kind_renders_its_tile_with_the_figures_of_its_page(events, member, browser, kind):
    insight = saved(events, member.user, kind)
    content, html = tile_html(events, insight, chart_id=f"tile-{insight.id}")
    assert content.template == f"dashboards/tiles/{kind}.html"
    assert content.context["chart_id"] == f"tile-{insight.id}"
    # Opening the saved insight: its page with its query (the funnel through its redirect).
    page = browser.get(registry.insight_url(insight), follow=True)
    assert page.status_code == 200
    page_chart = json_script(page.content.decode(), CASES[kind][1])
    assert figures(json_script(html, f"tile-{insight.id}")) == figures(page_chart)
    assert any(any(v for v in data if v) for _, data in figures(page_chart)["datasets"]), "the case counts something"


def test_the_figures_themselves(events, member):
    """A few of the figures, worked out by hand from EVENTS."""
    trends = registry.tile_content(events, saved(events, member.user, "trends"), chart_id="t").context
    unique, signups = trends["data"]["series"]
    # Daily persons with a pageview: ann on the 9th, cat on the 12th, ann, ann+bob, cat on the 16th-18th.
    assert sum(unique["data"]) == 6 and unique["total"] is None  # uniques are not summed across days
    assert signups["total"] == 3  # ann, bob, dan
    active = registry.tile_content(events, saved(events, member.user, "active_users"), chart_id="a").context
    # Cat and dan today; all four this week. It is noon: today's figures are so far.
    assert active["latest"] == {"dau": 2, "wau": 4, "mau": 4, "so_far": True}
    assert active["chart"]["partial_from"] == len(active["active"]["buckets"]) - 1
    assert "Today so far" in render_to_string("dashboards/tiles/active_users.html", active)
    # A range that ended yesterday: every day is over.
    past = insight_create(project=events, kind="active_users", name="Last week", query={"date_from": ["2026-03-10"], "date_to": ["2026-03-17"]}, created_by=member.user)
    over = registry.tile_content(events, past, chart_id="a").context
    assert over["latest"]["so_far"] is False and "partial_from" not in over["chart"]
    assert "Today so far" not in render_to_string("dashboards/tiles/active_users.html", over)
    funnel = registry.tile_content(events, saved(events, member.user, "funnel"), chart_id="f").context
    assert (funnel["r"]["entered"], funnel["r"]["completed"]) == (3, 1)  # ann, bob, dan signed up; ann bought
    lifecycle = registry.tile_content(events, saved(events, member.user, "lifecycle"), chart_id="l").context
    # New from the 12th: cat (12th) and bob (17th). Resurrecting: ann on the 16th (first seen on
    # the 9th) and cat on the 18th (after a day away).
    assert lifecycle["totals"]["new"] == 2 and lifecycle["totals"]["resurrecting"] == 2
    stickiness = registry.tile_content(events, saved(events, member.user, "stickiness"), chart_id="s").context
    assert stickiness["data"]["series"][0]["data"][:2] == [1, 2]  # bob on 1 day; ann and cat on 2


@pytest.mark.parametrize("kind", [kind for kind, case in CASES.items() if case[2]])
def test_the_table_is_the_pages_csv_export(events, member, browser, kind):
    insight = saved(events, member.user, kind)
    header, rows = registry.insight_table(events, insight)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    url = reverse(CASES[kind][2], kwargs={"project_id": events.id})
    exported = browser.get(url, registry.query_dict(insight.query))
    assert exported.status_code == 200
    assert out.getvalue().replace("\r\n", "\n") == exported.content.decode().replace("\r\n", "\n")


def test_the_funnel_and_active_users_tables(events, member):
    header, rows = registry.insight_table(events, saved(events, member.user, "funnel"))
    assert header[:4] == ["step", "event", "label", "people"]
    assert [row[3] for row in rows] == [3, 1]
    header, rows = registry.insight_table(events, saved(events, member.user, "active_users"))
    assert header == ["bucket", "dau", "wau", "mau"]
    assert rows[-1] == ["2026-03-18", 2, 4, 4]


def test_a_dashboard_range_replaces_the_saved_range(events, member):
    insight = saved(events, member.user, "trends")
    params = registry.query_dict(insight.query, {"range": ["24h"]})
    assert params.getlist("range") == ["24h"] and "date_from" not in params and "date_to" not in params
    assert params.getlist("events") == ["$pageview,signed_up"]
    content = registry.tile_content(events, insight, chart_id="t", override={"range": "24h"})
    assert content.context["data"]["interval"] == "hour" and len(content.context["data"]["buckets"]) == 24
    assert registry.query_dict(insight.query, {}) == registry.query_dict(insight.query)  # no range: the saved one


# --- Queries that no longer work ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "query", "field"),
    [
        ("trends", {"events": ["$pageview"], "range": ["13d"]}, "range"),
        ("trends", {"events": ["$pageview"], "math": ["median"]}, "math"),
        ("retention", {"start_event": ["$pageview"], "period": ["fortnight"]}, "period"),
        ("stickiness", {"event": ["$pageview"], "date_from": ["2026-03-10"]}, "date_to"),
        ("lifecycle", {"event": ["$pageview"], "interval": ["minute"]}, "interval"),
        ("active_users", {"date_from": ["not a date"], "date_to": ["2026-03-01"]}, "date_from"),
        ("funnel", {"funnel_id": ["999999"]}, "funnel_id"),
    ],
)
def test_a_saved_query_that_no_longer_validates_renders_an_error_tile(events, member, kind, query, field):
    # Saved before it broke (as if an event, a funnel or the code changed since): straight to the table.
    insight = SavedInsight.objects.create(project=events, kind=kind, name="Broken", query=query, created_by=member.user)
    content, html = tile_html(events, insight)
    assert content.template == "dashboards/tiles/error.html"
    assert content.context["field"] == field
    assert field in content.context["message"]
    assert "data-tile-error" in html and "can't be shown" in html


def test_a_deleted_funnel_and_an_unknown_kind_are_error_tiles_too(events, member):
    insight = saved(events, member.user, "funnel")
    from apps.funnels.models import Funnel

    Funnel.objects.filter(project=events).delete()
    content, _ = tile_html(events, insight)
    assert content.template == "dashboards/tiles/error.html" and "no longer exists" in content.context["message"]
    SavedInsight.objects.filter(pk=insight.pk).update(kind="heatmaps")
    insight.refresh_from_db()
    content, html = tile_html(events, insight)
    assert content.context["field"] == "kind" and "heatmaps" in html


def test_the_registry_interface(member):
    assert list(registry.REGISTRY) == ["trends", "active_users", "funnel", "retention", "stickiness", "lifecycle", "sessions", "paths"]
    assert registry.insight_type("trends").url_name == "analytics-trends"
    assert registry.insight_type("active_users").url_name == "analytics-overview"
    with pytest.raises(NotFound):
        registry.insight_type("heatmaps")
    url = registry.insight_type("trends").url(member.project.id, {"events": ["a"], "math": ["unique"]})
    assert url == f"/projects/{member.project.id}/trends/?events=a&math=unique"
    params = registry.query_dict({"event": ["a", "", "b"], "math": ["total", "unique", "mau"]})
    assert params.getlist("event") == ["a", "", "b"]  # positions kept: the forms pair fields by position
    with pytest.raises(AttributeError):
        params["event"] = "x"  # immutable, like request.GET


def test_charts_are_drawn_in_content_htmx_swaps_in():
    """A dashboard swaps tiles in with HTMX: charts.js draws every fragment htmx loads."""
    from django.conf import settings

    source = (settings.BASE_DIR / "static" / "js" / "charts.js").read_text()
    assert "htmx.onLoad(render)" in source
