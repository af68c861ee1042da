"""Funnel pages: list, editor (with its row buttons and "Run without saving"), results,
delete; tenancy and login; the numbers on the page are the API's."""

import json
import re

import pytest
from django.test import Client

from apps.funnels.models import Funnel
from apps.funnels.services import funnel_create
from apps.funnels.tests.test_api import journeys  # noqa: F401  (a fixture)
from apps.funnels.insights import duration_humanize
from conftest import PASSWORD, MembershipFactory

pytestmark = pytest.mark.django_db

STEPS = [{"event": "signed_up"}, {"event": "created_project"}, {"event": "purchase"}]


@pytest.fixture
def browser(member):
    client = Client()
    assert client.login(username=member.user.username, password=PASSWORD)
    return client


@pytest.fixture
def funnel(member):
    return funnel_create(project=member.project, name="Signup → purchase", steps=STEPS, created_by=member.user)


def editor_data(name="Checkout", steps=("signed_up", "created_project", "purchase"), **fields):
    """The editor form as a browser posts it: every row, with its (empty) filter slots."""
    data = {
        "name": name,
        "description": "",
        "order_mode": "ordered",
        "window_value": "14",
        "window_unit": "days",
        "breakdown_property": "",
        "editing": "",
        "steps-TOTAL_FORMS": str(len(steps)),
        "steps-INITIAL_FORMS": str(len(steps)),
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "21",
    }
    for i, step in enumerate(steps):
        data.update({f"steps-{i}-event": step, f"steps-{i}-label": "", f"steps-{i}-more_filters": ""})
        for slot in (1, 2):
            data.update({f"steps-{i}-f{slot}_key": "", f"steps-{i}-f{slot}_operator": "equals", f"steps-{i}-f{slot}_value": ""})
    data.update(fields)
    return data


def pages(project_id, funnel_id):
    base = f"/projects/{project_id}/funnels/"
    return [base, f"{base}new/", f"{base}{funnel_id}/", f"{base}{funnel_id}/edit/", f"{base}{funnel_id}/delete/"]


def step_values(html: str, name: str) -> list[str]:
    return re.findall(rf'name="steps-\d+-{name}" value="([^"]*)"', html)


# --- Access ----------------------------------------------------------------------------------


def test_pages_render_for_members(browser, member, funnel):
    for url in pages(member.project.id, funnel.id):
        assert browser.get(url).status_code == 200, url


def test_pages_are_404_for_other_projects(browser, member):
    other = MembershipFactory()
    theirs = funnel_create(project=other.project, name="theirs", steps=STEPS)
    for url in pages(other.project.id, theirs.id):
        assert browser.get(url).status_code == 404, url
    # Their funnel under my project's URL is no better.
    for url in pages(member.project.id, theirs.id)[2:]:
        assert browser.get(url).status_code == 404, url
    assert browser.post(f"/projects/{member.project.id}/funnels/{theirs.id}/delete/").status_code == 404
    assert browser.post(f"/projects/{other.project.id}/funnels/run/", editor_data()).status_code == 404
    assert browser.post(f"/projects/{member.project.id}/funnels/run/", editor_data(editing=str(theirs.id))).status_code == 404
    assert Funnel.objects.filter(id=theirs.id).exists()


def test_pages_need_a_login(member, funnel):
    for url in pages(member.project.id, funnel.id):
        response = Client().get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_sidebar_has_funnels_after_persons_and_settings_last(browser, member):
    html = browser.get(f"/projects/{member.project.id}/funnels/").content.decode()
    labels = re.findall(r'class="sidebar-link[^"]*"[^>]*>.*?<span>([^<]+)</span>', html, re.S)
    assert labels[labels.index("Persons") + 1] == "Funnels" and labels[-1] == "Settings"
    assert 'aria-current="page"' in html.split("<span>Funnels</span>")[0].rsplit("<a", 1)[1]


def test_htmx_requests_get_only_the_page_body(browser, member, funnel):
    for url in pages(member.project.id, funnel.id):
        response = browser.get(url, HTTP_HX_REQUEST="true")
        assert response.status_code == 200 and b"<html" not in response.content, url


# --- List ------------------------------------------------------------------------------------


def test_empty_list_invites_to_create_one(browser, member):
    html = browser.get(f"/projects/{member.project.id}/funnels/").content.decode()
    assert "Create your first funnel" in html and f'href="/projects/{member.project.id}/funnels/new/"' in html


def test_list_shows_the_funnels(browser, member, funnel):
    funnel_create(project=member.project, name="Quick one", steps=STEPS[:2], window_value=30, window_unit="minutes", order_mode="strict")
    html = browser.get(f"/projects/{member.project.id}/funnels/").content.decode()
    assert "Create your first funnel" not in html
    assert "Signup → purchase" in html and "Quick one" in html
    assert re.findall(r"data-step-total>(\d+)<", html) == ["2", "3"]  # newest first
    assert "30 minutes" in html and "14 days" in html and "Strict order" in html


# --- Editor ----------------------------------------------------------------------------------


def test_new_funnel_page_has_three_rows_and_the_event_catalog(browser, member, journeys):  # noqa: F811
    html = browser.get(f"/projects/{member.project.id}/funnels/new/").content.decode()
    assert len(re.findall(r'name="steps-\d+-event"', html)) == 3
    assert '<datalist id="event-names">' in html and '<option value="signed_up">' in html
    for mode in ("Ordered", "Strict order", "Any order"):
        assert f"<dt>{mode}</dt>" in html


def test_create_through_the_form(browser, member):
    data = editor_data(
        name="Checkout",
        steps=("signed_up", "created_project", "purchase", ""),  # the spare row stays empty
        **{"steps-1-label": "Made a project", "steps-1-f1_key": "plan", "steps-1-f1_operator": "equals", "steps-1-f1_value": "pro"},
        **{"steps-2-f2_key": "coupon", "steps-2-f2_operator": "is_set"},
        order_mode="unordered",
        window_value="3",
        window_unit="hours",
        breakdown_property="browser",
    )
    response = browser.post(f"/projects/{member.project.id}/funnels/new/", data)
    funnel = Funnel.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/projects/{member.project.id}/funnels/{funnel.id}/"
    assert (funnel.name, funnel.order_mode, funnel.window_seconds, funnel.breakdown_property) == ("Checkout", "unordered", 3 * 3600, "browser")
    assert funnel.created_by == member.user
    assert [(s.event, s.label, s.filters) for s in funnel.steps.all()] == [
        ("signed_up", "", []),
        ("created_project", "Made a project", [{"key": "plan", "operator": "equals", "value": "pro"}]),
        ("purchase", "", [{"key": "coupon", "operator": "is_set", "value": ""}]),
    ]


def test_htmx_save_redirects_the_browser(browser, member):
    response = browser.post(f"/projects/{member.project.id}/funnels/new/", editor_data(), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Redirect"].endswith(f"/funnels/{Funnel.objects.get().id}/")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"steps-1-event": "", "steps-2-event": ""}, "A funnel needs between 2 and 20 steps."),
        ({"steps-1-event": "", "steps-1-label": "orphan"}, "Name the event of this step, or clear the row."),
        ({"steps-0-f1_key": "plan"}, "Needs a value"),
        ({"name": ""}, "Name the funnel to save it."),
        ({"window_value": "0"}, "greater than or equal to 1"),
        ({"window_value": "400"}, "at most 365 days"),
        ({"order_mode": "sideways"}, "Select a valid choice"),
    ],
)
def test_form_errors_are_shown_and_nothing_is_saved(browser, member, fields, message):
    response = browser.post(f"/projects/{member.project.id}/funnels/new/", editor_data(**fields))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Funnel.objects.exists()


def test_a_too_long_step_name_shows_only_its_own_error(browser, member):
    html = browser.post(f"/projects/{member.project.id}/funnels/new/", editor_data(steps=("x" * 201, "purchase"))).content.decode()
    row = re.search(r'data-step-row="1">(.*?)</li>', html, re.S).group(1)
    assert "Ensure this value has at most 200 characters (it has 201)." in row
    assert "between 2 and 20 steps" not in html and "data-steps-error" not in html
    assert not Funnel.objects.exists()


def test_save_without_a_name_puts_the_error_by_the_name_field(browser, member):
    html = browser.post(f"/projects/{member.project.id}/funnels/new/", editor_data(name=""), HTTP_HX_REQUEST="true").content.decode()
    field = re.search(r'<div class="field has-error">\s*<label for="id_name">.*?</div>', html, re.S).group(0)
    assert '<p class="field-error">Name the funnel to save it.</p>' in field and "autofocus" in field
    assert not Funnel.objects.exists()


def test_row_buttons_add_move_and_remove_rows_without_saving(browser, member):
    url = f"/projects/{member.project.id}/funnels/new/"
    html = browser.post(url, editor_data(steps=("a", "b"), row_action="add")).content.decode()
    assert step_values(html, "event") == ["a", "b", ""]
    assert "This field is required" not in html and not Funnel.objects.exists()
    html = browser.post(url, editor_data(steps=("a", "b", "c"), row_action="up:2")).content.decode()
    assert step_values(html, "event") == ["a", "c", "b"]
    html = browser.post(url, editor_data(steps=("a", "b", "c"), row_action="down:0")).content.decode()
    assert step_values(html, "event") == ["b", "a", "c"]
    html = browser.post(url, editor_data(steps=("a", "b", "c"), row_action="remove:1", name="Kept")).content.decode()
    assert step_values(html, "event") == ["a", "c"] and 'value="Kept"' in html
    assert not Funnel.objects.exists()


def test_edit_page_is_filled_in_and_saves(browser, member, funnel):
    url = f"/projects/{member.project.id}/funnels/{funnel.id}/edit/"
    html = browser.get(url).content.decode()
    assert step_values(html, "event") == ["signed_up", "created_project", "purchase", ""]
    assert 'value="Signup → purchase"' in html
    response = browser.post(url, editor_data(name="Renamed", steps=("signed_up", "purchase", ""), editing=str(funnel.id)))
    assert response.status_code == 302
    funnel.refresh_from_db()
    assert funnel.name == "Renamed" and [s.event for s in funnel.steps.all()] == ["signed_up", "purchase"]


def test_editing_keeps_filters_beyond_the_two_shown(browser, member):
    filters = [{"key": f"k{i}", "operator": "equals", "value": str(i)} for i in range(4)]
    funnel = funnel_create(project=member.project, name="f", steps=[{"event": "a", "filters": filters}, {"event": "b"}])
    url = f"/projects/{member.project.id}/funnels/{funnel.id}/edit/"
    html = browser.get(url).content.decode()
    assert "+ 2 more filters" in html
    more = re.search(r'name="steps-0-more_filters" value="([^"]*)"', html).group(1).replace("&quot;", '"')
    data = editor_data(steps=("a", "b"), **{"steps-0-more_filters": more})
    for slot in (1, 2):
        data.update({f"steps-0-f{slot}_key": f"k{slot - 1}", f"steps-0-f{slot}_value": str(slot - 1)})
    assert browser.post(url, data).status_code == 302
    assert Funnel.objects.get().steps.first().filters == filters
    assert json.loads(more) == filters[2:]


def test_run_without_saving_shows_results(browser, member, journeys):  # noqa: F811
    url = f"/projects/{member.project.id}/funnels/run/"
    html = browser.post(url, editor_data(steps=("signed_up", "created_project", "purchase", ""), adhoc_range="7d")).content.decode()
    assert re.findall(r'data-step-count="\d">(\d+)<', html) == ["3", "2", "1"]
    assert "Unsaved results" in html and "last 7 days" in html
    assert 'data-chart="adhoc-chart"' in html and 'id="adhoc-chart"' in html
    assert not Funnel.objects.exists()
    nameless = browser.post(url, editor_data(name="", steps=("signed_up", "created_project", "purchase", ""), adhoc_range="7d")).content.decode()
    assert re.findall(r'data-step-count="\d">(\d+)<', nameless) == ["3", "2", "1"] and "field-error" not in nameless
    invalid = browser.post(url, editor_data(steps=("signed_up", "")), HTTP_HX_REQUEST="true").content.decode()
    assert "A funnel needs between 2 and 20 steps." in invalid and "Unsaved results" not in invalid
    assert browser.get(url).status_code == 405


# --- Results ---------------------------------------------------------------------------------


def test_results_page_shows_the_api_numbers(browser, member, funnel, journeys):  # noqa: F811
    api = browser.get(f"/api/v1/projects/{member.project.id}/funnels/{funnel.id}/results?range=7d").json()
    html = browser.get(f"/projects/{member.project.id}/funnels/{funnel.id}/?range=7d").content.decode()
    counts = [int(c) for c in re.findall(r'data-step-count="\d">(\d+)<', html)]
    assert counts == [s["count"] for s in api["steps"]] == [3, 2, 1]
    assert re.findall(r'data-step-conversion="\d">([^<]+)<', html) == ["100%", "66.67%", "33.33%"]
    assert re.findall(r'data-step-median="\d"[^>]*>([^<]+)<', html) == ["—", "10m", "10m"]
    assert 'data-chart="funnel-chart"' in html and 'id="funnel-chart"' in html
    chart = json.loads(re.search(r'<script id="funnel-chart" type="application/json">(.*?)</script>', html).group(1))
    assert chart["datasets"][0]["data"] == [3, 2, 1] and chart["labels"][0] == "1. signed_up"
    assert 'class="segmented"' in html  # the date controls
    assert "funnel-breakdown" not in html.split("funnel-breakdown-form")[1]


def test_results_page_breakdown_table(browser, member, funnel, journeys):  # noqa: F811
    html = browser.get(f"/projects/{member.project.id}/funnels/{funnel.id}/?range=7d&breakdown=browser").content.decode()
    rows = re.findall(r'<tr data-breakdown-value="([^"]*)">(.*?)</tr>', html, re.S)
    table = {value: re.findall(r'data-breakdown-count="\d">(\d+)<', cells) for value, cells in rows}
    assert table == {"Firefox": ["2", "1", "0"], "Chrome": ["1", "1", "1"]}
    assert [re.search(r"data-breakdown-conversion>([^<]+)<", cells).group(1) for _, cells in rows] == ["0%", "100%"]
    # The date controls keep the breakdown.
    assert '<input type="hidden" name="breakdown" value="browser">' in html


def test_results_page_empty_state(browser, member, funnel):
    html = browser.get(f"/projects/{member.project.id}/funnels/{funnel.id}/").content.decode()
    assert "Nobody entered this funnel in this period" in html and "data-step-count" not in html


def test_results_page_bad_range_is_a_400(browser, member, funnel):
    response = browser.get(f"/projects/{member.project.id}/funnels/{funnel.id}/?date_from=nope&date_to=2026-01-01")
    assert response.status_code == 400 and "date_from" in response.content.decode()


# --- Delete ----------------------------------------------------------------------------------


def test_delete_asks_first_then_deletes_on_post(browser, member, funnel):
    url = f"/projects/{member.project.id}/funnels/{funnel.id}/delete/"
    html = browser.get(url).content.decode()
    assert "Delete “Signup → purchase”?" in html and 'method="post"' in html
    assert Funnel.objects.exists()
    response = browser.post(url)
    assert response.status_code == 302 and response["Location"] == f"/projects/{member.project.id}/funnels/"
    assert not Funnel.objects.exists()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (0, "0s"), (0.4, "<1s"), (45, "45s"), (200, "3m 20s"), (180, "3m"), (7500, "2h 5m"), (7200, "2h"), (100800, "1d 4h"), (86400 * 3, "3d")],
)
def test_duration_humanize(seconds, text):
    assert duration_humanize(seconds) == text
