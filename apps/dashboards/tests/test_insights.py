"""Saved insight pages: saving from each insight page, "Saved: <name>" and Update, the list
(search, filters, pagination, empty states), open, rename, duplicate, delete; roles and
tenancy. Through the real views, Postgres and chdb."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.dashboards.insights import insight_create
from apps.dashboards.models import Dashboard, SavedInsight, Tile
from apps.dashboards.tests.test_registry import browser, clock, events  # noqa: F401  (fixtures)
from apps.funnels.services import funnel_create
from conftest import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def no_saved_insights(member):
    """The member's project without the insights its home dashboard starts with: each test
    counts the insights it saves itself."""
    SavedInsight.objects.filter(project=member.project).delete()


def url(name: str, project, **kwargs) -> str:
    return reverse(name, kwargs={"project_id": project.id, **kwargs})


def login(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def make(project, user=None, kind="trends", name="Insight", query=None, **fields) -> SavedInsight:
    return SavedInsight.objects.create(
        project=project, kind=kind, name=name, query=query or {"events": ["$pageview"]}, created_by=user, **fields
    )


# --- Saving from the pages ----------------------------------------------------------------------


PAGES = {
    "trends": ("analytics-trends", "events=%24pageview&math=unique&range=7d"),
    "active_users": ("analytics-overview", "range=30d"),
    "retention": ("analytics-retention", "start_event=%24pageview&period=week"),
    "stickiness": ("analytics-stickiness", "event=%24pageview&range=7d"),
    "lifecycle": ("analytics-lifecycle", "event=%24pageview&range=7d"),
}


@pytest.mark.parametrize("kind", list(PAGES))
def test_each_insight_page_offers_save_with_its_kind_and_query(events, member, browser, kind):
    name, query = PAGES[kind]
    html = browser.get(url(name, events) + "?" + query).content.decode()
    assert 'data-save-insight' in html and "data-save-open" in html
    assert f'name="kind" value="{kind}"' in html
    hidden = re.search(r'name="query" value="([^"]*)"', html).group(1).replace("&amp;", "&")
    assert parse_qs(hidden) == parse_qs(query)
    # Posting that form saves the insight and answers a confirmation linking to it.
    answer = browser.post(url("insights-new", events), {"kind": kind, "query": hidden, "name": f"My {kind}", "description": "d"}, **HTMX)
    assert answer.status_code == 200
    insight = SavedInsight.objects.get(project=events, name=f"My {kind}")
    assert insight.kind == kind and insight.created_by == member.user
    assert insight.query == {k: v for k, v in parse_qs(query).items()}
    body = answer.content.decode()
    assert "data-insight-saved" in body and f"insight={insight.id}" in body


def test_the_funnel_page_saves_its_funnel_by_id(events, member, browser):
    funnel = funnel_create(project=events, name="Signup", steps=[{"event": "signed_up"}, {"event": "purchase"}], created_by=member.user)
    html = browser.get(url("funnels-detail", events, funnel_id=funnel.id) + "?range=7d&breakdown=plan").content.decode()
    hidden = re.search(r'name="query" value="([^"]*)"', html).group(1).replace("&amp;", "&")
    assert parse_qs(hidden) == {"range": ["7d"], "breakdown": ["plan"], "funnel_id": [str(funnel.id)]}
    assert browser.post(url("insights-new", events), {"kind": "funnel", "query": hidden, "name": "F"}).status_code == 302
    insight = SavedInsight.objects.get(project=events, name="F")
    opened = browser.get(url("insights-open", events, insight_id=insight.id), follow=True)
    assert opened.redirect_chain[-1][0].startswith(url("funnels-detail", events, funnel_id=funnel.id))
    assert f"data-saved-insight=\"{insight.id}\"" in opened.content.decode()


def test_saving_without_htmx_goes_to_the_saved_insight(events, browser):
    answer = browser.post(url("insights-new", events), {"kind": "trends", "query": "events=%24pageview&preset=7d&date_from=2026-01-01&date_to=2026-01-02", "name": "Weekly"})
    insight = SavedInsight.objects.get(name="Weekly")
    # The preset the date controls sent wins, and the range stays relative.
    assert insight.query == {"events": ["$pageview"], "range": ["7d"]}
    assert answer.status_code == 302
    location = urlsplit(answer["Location"])
    assert location.path == url("analytics-trends", events)
    assert parse_qs(location.query) == {"events": ["$pageview"], "range": ["7d"], "insight": [str(insight.id)]}


def test_a_save_needs_a_name_and_a_query_that_works(events, browser):
    answer = browser.post(url("insights-new", events), {"kind": "trends", "query": "events=%24pageview", "name": " "}, **HTMX)
    assert answer.status_code == 400 and "Name the insight" in answer.content.decode()
    answer = browser.post(url("insights-new", events), {"kind": "trends", "query": "events=%24pageview&range=13d", "name": "Bad"}, **HTMX)
    assert answer.status_code == 400
    assert "range: must be one of" in answer.content.decode()
    answer = browser.post(url("insights-new", events), {"kind": "heatmap", "query": "", "name": "Bad"})
    assert answer.status_code == 400
    assert not SavedInsight.objects.filter(project=events).exists()


def test_a_saved_insight_page_shows_its_name_and_updates(events, member, browser):
    insight = insight_create(project=events, kind="trends", name="Signups", query={"events": ["signed_up"], "range": ["30d"]}, created_by=member.user)
    opened = browser.get(url("insights-open", events, insight_id=insight.id), follow=True)
    html = opened.content.decode()
    assert "Saved:" in html and ">Signups</a>" in html and ">Update</button>" in html
    # The page's forms keep the insight while its settings change.
    assert html.count(f'name="insight" value="{insight.id}"') >= 2  # the date controls and the editor
    changed = browser.get(url("analytics-trends", events) + f"?events=signed_up&math=unique&range=7d&insight={insight.id}", **HTMX)
    query = re.search(r'name="query" value="([^"]*)"', changed.content.decode()).group(1).replace("&amp;", "&")
    answer = browser.post(url("insights-update", events, insight_id=insight.id), {"query": query}, **HTMX)
    assert answer.status_code == 200 and "data-updated" in answer.content.decode()
    insight.refresh_from_db()
    assert insight.query == {"events": ["signed_up"], "math": ["unique"], "range": ["7d"]}
    bad = browser.post(url("insights-update", events, insight_id=insight.id), {"query": "events=a&interval=minute"}, **HTMX)
    assert bad.status_code == 400 and "interval" in bad.content.decode()
    insight.refresh_from_db()
    assert insight.query["range"] == ["7d"]


def test_an_insight_of_another_kind_or_project_is_not_claimed_by_a_page(events, browser):
    other = MembershipFactory()
    theirs = make(other.project, kind="trends")
    mine = make(events, kind="retention")
    for insight in (theirs, mine):
        html = browser.get(url("analytics-trends", events) + f"?insight={insight.id}").content.decode()
        assert "Saved:" not in html and "data-save-open" in html


# --- The list -----------------------------------------------------------------------------------


def test_the_list_is_empty_at_first_and_says_how_to_save(member, browser):
    html = browser.get(url("insights-list", member.project)).content.decode()
    assert "data-insights-empty" in html and "No saved insights yet" in html
    assert url("analytics-trends", member.project) in html


def test_the_list_shows_its_columns_and_paginates_by_25(member, browser):
    now = timezone.now()
    for i in range(30):
        make(member.project, member.user, name=f"Insight {i:02}")
    SavedInsight.objects.filter(name="Insight 00").update(last_viewed_at=now - timedelta(hours=3))
    first = browser.get(url("insights-list", member.project)).content.decode()
    assert first.count("data-insight=") == 25
    assert "Page 1 of 2" in first and 'rel="next"' in first
    second = browser.get(url("insights-list", member.project) + "?page=2").content.decode()
    assert second.count("data-insight=") == 5 and 'rel="prev"' in second
    row = re.search(r'<tr data-insight="\d+">.*?Insight 00.*?</tr>', second, re.S).group(0)
    assert "Trends" in row and member.user.username in row and "3\xa0hours ago" in row
    assert re.search(r"data-viewed>never<", first)


def test_search_and_filters(member, browser):
    colleague = MembershipFactory(project=member.project, role="member").user
    make(member.project, member.user, name="Weekly signups", description="for the board")
    make(member.project, colleague, kind="retention", name="Cohorts", query={"start_event": ["signed_up"]}, description="weekly retention")
    make(member.project, colleague, name="Purchases")
    base = url("insights-list", member.project)

    def names(query: str) -> list[str]:
        html = browser.get(base + "?" + query).content.decode()
        return re.findall(r'class="strong" href="[^"]+" data-open>([^<]+)</a>', html)

    assert sorted(names("q=weekly")) == ["Cohorts", "Weekly signups"]  # name or description
    assert names("kind=retention") == ["Cohorts"]
    assert sorted(names(f"creator={colleague.id}")) == ["Cohorts", "Purchases"]
    assert names(f"q=purch&creator={colleague.id}&kind=trends") == ["Purchases"]
    html = browser.get(base + "?q=nothing-like-it").content.decode()
    assert "data-insights-none-match" in html


def test_opening_marks_it_viewed_and_goes_to_its_page(member, browser):
    insight = make(member.project, member.user, query={"events": ["signed_up"], "range": ["7d"]})
    before = insight.updated_at
    answer = browser.get(url("insights-open", member.project, insight_id=insight.id))
    assert answer.status_code == 302
    location = urlsplit(answer["Location"])
    assert location.path == url("analytics-trends", member.project)
    assert parse_qs(location.query) == {"events": ["signed_up"], "range": ["7d"], "insight": [str(insight.id)]}
    insight.refresh_from_db()
    assert insight.last_viewed_at is not None and insight.updated_at == before


def test_rename_duplicate_and_delete(member, browser):
    insight = make(member.project, member.user, name="Old name")
    assert browser.get(url("insights-rename", member.project, insight_id=insight.id)).status_code == 200
    answer = browser.post(url("insights-rename", member.project, insight_id=insight.id), {"name": "New name", "description": "why"})
    assert answer.status_code == 302
    insight.refresh_from_db()
    assert (insight.name, insight.description) == ("New name", "why")
    assert browser.post(url("insights-rename", member.project, insight_id=insight.id), {"name": ""}).status_code == 400
    refused = browser.post(url("insights-rename", member.project, insight_id=insight.id), {"name": "a\x00b"})
    assert refused.status_code == 400 and "Null characters are not allowed" in refused.content.decode()

    other = MembershipFactory(project=member.project, role="member").user
    client = login(other)
    assert client.post(url("insights-duplicate", member.project, insight_id=insight.id)).status_code == 302
    copy = SavedInsight.objects.filter(project=member.project).exclude(pk=insight.pk).get()
    assert (copy.name, copy.kind, copy.query, copy.created_by) == ("New name (copy)", insight.kind, insight.query, other)

    dashboard = Dashboard.objects.create(project=member.project, name="Board")
    Tile.objects.create(dashboard=dashboard, insight=insight)
    confirm = browser.get(url("insights-delete", member.project, insight_id=insight.id)).content.decode()
    assert "Delete “New name”?" in confirm and "Board" in confirm
    assert browser.post(url("insights-delete", member.project, insight_id=insight.id)).status_code == 302
    assert not SavedInsight.objects.filter(pk=insight.pk).exists() and not Tile.objects.filter(dashboard=dashboard).exists()
    assert SavedInsight.objects.filter(pk=copy.pk).exists()
    assert browser.get(url("insights-delete", member.project, insight_id=insight.id)).status_code == 404


def test_the_sidebar_lists_insights_after_the_overview(member, browser):
    html = browser.get(url("insights-list", member.project)).content.decode()
    labels = re.findall(r'class="sidebar-link[^"]*"[^>]*>.*?<span>([^<]+)</span>', html, re.S)
    assert labels[0] == "Overview" and labels.index("Overview") < labels.index("Insights") < labels.index("Trends")
    assert re.search(r'class="sidebar-link active"[^>]*>.*?<span>Insights</span>', html, re.S)


# --- Roles and tenancy --------------------------------------------------------------------------


def test_a_viewer_reads_and_opens_but_cannot_save_or_change(member):
    viewer = MembershipFactory(project=member.project, role="viewer").user
    insight = make(member.project, member.user, name="Shared")
    client = login(viewer)
    listing = client.get(url("insights-list", member.project)).content.decode()
    assert "Shared" in listing and "Rename" not in listing and "Delete" not in listing
    assert client.get(url("insights-open", member.project, insight_id=insight.id)).status_code == 302
    page = client.get(url("analytics-trends", member.project) + f"?insight={insight.id}").content.decode()
    assert "Saved:" in page and ">Update</button>" not in page and "data-save-open" not in page
    writes = [
        ("post", url("insights-new", member.project), {"kind": "trends", "query": "", "name": "x"}),
        ("post", url("insights-update", member.project, insight_id=insight.id), {"query": ""}),
        ("post", url("insights-rename", member.project, insight_id=insight.id), {"name": "x"}),
        ("post", url("insights-duplicate", member.project, insight_id=insight.id), {}),
        ("post", url("insights-delete", member.project, insight_id=insight.id), {}),
        ("get", url("insights-delete", member.project, insight_id=insight.id), {}),
    ]
    for method, address, data in writes:
        assert getattr(client, method)(address, data).status_code == 403, address
    insight.refresh_from_db()
    assert insight.name == "Shared" and SavedInsight.objects.filter(project=member.project).count() == 1


def test_another_projects_insights_are_404(member, browser):
    other = MembershipFactory()
    theirs = make(other.project, other.user)
    for name in ("insights-open", "insights-rename", "insights-delete"):
        assert browser.get(url(name, other.project, insight_id=theirs.id)).status_code == 404
        # their insight under my project's address is no better
        assert browser.get(url(name, member.project, insight_id=theirs.id)).status_code == 404
    assert browser.get(url("insights-list", other.project)).status_code == 404
    assert browser.post(url("insights-duplicate", member.project, insight_id=theirs.id)).status_code == 404
    assert browser.post(url("insights-delete", member.project, insight_id=theirs.id)).status_code == 404
    assert SavedInsight.objects.filter(pk=theirs.pk).exists()


def test_pages_need_a_login(member):
    answer = Client().get(url("insights-list", member.project))
    assert answer.status_code == 302 and "login" in answer["Location"]


def test_a_user_of_no_project_sees_nothing(member):
    stranger = login(UserFactory())
    assert stranger.get(url("insights-list", member.project)).status_code == 404
