"""The SDK demo page (/demo/): it loads the SDK with the ingest key of one of the user's
projects, and its buttons send real events to that project."""

import pytest
from django.urls import reverse

from apps.ingest.tests.test_sdk import built_bundle, stored
from conftest import MembershipFactory, ProjectFactory, browser_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_projects():
    first = MembershipFactory(project__name="Alpha shop")
    second = MembershipFactory(user=first.user, project__name="Beta app")
    return first.user, first.project, second.project


def test_demo_defaults_to_the_first_project_and_switches(client, two_projects):
    user, alpha, beta = two_projects
    client.force_login(user)
    html = client.get("/demo/").content.decode()
    assert f'data-api-key="{alpha.api_key}"' in html and beta.api_key not in html
    assert 'src="http://testserver/static/sdk/pulseboard.js"' in html
    html = client.get(f"/demo/?project={beta.id}").content.decode()
    assert f'data-api-key="{beta.api_key}"' in html and alpha.api_key not in html
    assert f'<option value="{alpha.id}">Alpha shop</option>' in html


def test_demo_links_the_projects_live_page(client, two_projects):
    user, alpha, _ = two_projects
    client.force_login(user)
    html = client.get(f"/demo/?project={alpha.id}").content.decode()
    assert f'href="{reverse("analytics-live", kwargs={"project_id": alpha.id})}"' in html and "data-live-link" in html


def test_demo_never_shows_another_projects_key(client, two_projects):
    user, _, _ = two_projects
    other = ProjectFactory()
    client.force_login(user)
    for value in (str(other.id), "999999", "abc", "²"):
        response = client.get(f"/demo/?project={value}")
        assert response.status_code == 404
        assert other.api_key not in response.content.decode()


def test_demo_needs_a_login_and_a_project(client):
    assert client.get("/demo/").url.startswith("/login/")
    lonely = MembershipFactory().user
    lonely.memberships.all().delete()
    client.force_login(lonely)
    response = client.get("/demo/")
    assert response.status_code == 302 and response.url == reverse("project-list")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_demo_buttons_send_events_that_are_stored(page, live_server, flush_stream):
    built_bundle()
    membership = MembershipFactory(project__name="Demo Shop")
    project = membership.project
    browser_login(page, membership.user.username)
    page.goto(f"/demo/?project={project.id}")
    page.wait_for_selector("#demo-log .demo-batch[data-status='202']")  # the pageview, after 2 s
    anonymous_id = page.text_content("[data-state=anonymous_id]")

    page.fill("#demo-event", "clicked_buy")
    page.fill("#demo-properties", '{"plan": "pro", "price": 19.99}')
    page.click("form[data-demo=track] button")
    page.fill("#demo-properties", "[1, 2]")
    page.click("form[data-demo=track] button")
    assert "must be a JSON object" in page.text_content("#demo-error")
    page.fill("#demo-user", "demo-user-1")
    page.click("form[data-demo=identify] button")
    page.click("button[data-demo=navigate]")
    page.click("button[data-demo=flush]")
    page.wait_for_selector("#demo-log .demo-batch:nth-child(1)[data-status='202'] .event-row:nth-child(4)")
    assert page.text_content("[data-state=user_id]") == "demo-user-1"
    assert page.text_content("[data-state=page]").endswith("&page=1")
    page.click("#demo-log .event-row:has-text('clicked_buy') summary")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot_as("sdk-demo")

    page.click("button[data-demo=reset]")
    assert page.text_content("[data-state=user_id]") == "—"
    assert page.text_content("[data-state=anonymous_id]") != anonymous_id

    flush_stream()
    rows = sorted(stored(project.id), key=lambda r: r["timestamp"])
    assert [(r["event"], r["user_id"], r["anonymous_id"]) for r in rows] == [
        ("$pageview", "", anonymous_id),
        ("clicked_buy", "", anonymous_id),
        ("$identify", "demo-user-1", anonymous_id),
        ("$pageview", "demo-user-1", anonymous_id),
    ]
    assert {k: rows[1]["properties"][k] for k in ("plan", "price")} == {"plan": "pro", "price": 19.99}
    assert rows[3]["page_url"] == f"{live_server.url}/demo/?project={project.id}&page=1"
    assert rows[3]["referrer"] == f"{live_server.url}/demo/?project={project.id}"
    assert rows[2]["properties"]["$set"] == {"email": "ada@example.com"}
