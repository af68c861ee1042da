"""The persons pages: list with search and paging, one person, deletion, the Explorer's links."""

import re
from datetime import datetime, timedelta, timezone

import pytest
from django.test import Client

from apps.persons.models import PersonDeletion
from apps.persons.selectors import person_by_distinct_id, person_uuid
from conftest import PASSWORD, browser_login, flush
from pulseboard import clickhouse
from pulseboard.celery import app as celery_app

pytestmark = pytest.mark.django_db
BASE = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(days=1)


def at(minutes: int) -> str:
    return (BASE + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def site(member, ingest_client, send):
    events = [
        {"event": "$pageview", "anonymous_id": "cookie-1", "timestamp": at(0), "page_url": "https://shop.test/pricing"},
        {"event": "signed_up", "user_id": "alice@example.com", "anonymous_id": "cookie-1", "timestamp": at(1),
         "properties": {"$set": {"email": "alice@example.com", "plan": "pro"}}},
        {"event": "purchase", "user_id": "alice@example.com", "timestamp": at(2)},
        *({"event": "$pageview", "anonymous_id": f"visitor-{i}", "timestamp": at(10 + i)} for i in range(60)),
    ]
    assert send(ingest_client, member.project.api_key, {"events": events}).status_code == 202
    flush()
    client = Client()
    assert client.login(username=member.user.username, password=PASSWORD)
    return client


def test_the_list_shows_persons_with_their_ids_and_pages(site, member):
    base = f"/projects/{member.project.id}/persons/"
    html = site.get(base).content.decode()
    assert html.count("<tr>\n    <td class=\"strong\">") == 50
    assert "Load more persons" in html
    more = re.search(r'hx-get="([^"]+cursor=[^"]+)"', html).group(1).replace("&amp;", "&")
    rest = site.get(more, HTTP_HX_REQUEST="true").content.decode()
    assert rest.count("<td class=\"strong\">") == 11 and "Load more" not in rest and "<html" not in rest


def test_search_finds_ids_and_property_values(site, member):
    base = f"/projects/{member.project.id}/persons/"
    found = site.get(base, {"search": "PRO"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="person-results").content.decode()
    assert found.startswith('<div id="person-results"') and "alice@example.com" in found and "visitor-" not in found
    none = site.get(base, {"search": "zzz"}).content.decode()
    assert "No person matches “zzz”" in none


def test_a_person_page_shows_every_id_property_and_event(site, member):
    person = person_by_distinct_id(project_id=member.project.id, distinct_id="cookie-1")
    html = site.get(f"/projects/{member.project.id}/persons/{person.id}/").content.decode()
    assert "<h1>alice@example.com</h1>" in html
    assert "<code>cookie-1</code>" in html and "<code>alice@example.com</code>" in html
    assert "<dt>plan</dt><dd>pro</dd>" in html
    assert re.findall(r'<span class="event-name" role="cell">([^<]+)</span>', html) == ["purchase", "signed_up", "$pageview"]


def test_the_explorer_links_each_event_to_its_person(site, member):
    explorer = site.get(f"/projects/{member.project.id}/explorer/?range=7d&distinct_id=cookie-1").content.decode()
    link = re.search(r'href="(/projects/\d+/persons/of/\?distinct_id=cookie-1)"', explorer).group(1)
    response = site.get(link)
    person = person_by_distinct_id(project_id=member.project.id, distinct_id="alice@example.com")
    assert response.status_code == 302 and response["Location"] == f"/projects/{member.project.id}/persons/{person.id}/"
    assert site.get(f"/projects/{member.project.id}/persons/of/?distinct_id=nobody").status_code == 404


def test_the_id_of_a_merged_key_leads_to_its_person(site, member):
    old = person_uuid(project_id=member.project.id, person_key=clickhouse.query("SELECT cityHash64('cookie-1')").scalar())
    person = person_by_distinct_id(project_id=member.project.id, distinct_id="cookie-1")
    response = site.get(f"/projects/{member.project.id}/persons/{old}/")
    assert response.status_code == 302 and response["Location"].endswith(f"/persons/{person.id}/")


def test_deletion_needs_the_name_typed(site, member):
    celery_app.conf.task_always_eager = True
    try:
        person = person_by_distinct_id(project_id=member.project.id, distinct_id="cookie-1")
        url = f"/projects/{member.project.id}/persons/{person.id}/"
        wrong = site.post(url, {"confirm": "alice"})
        assert wrong.status_code == 400 and "Type alice@example.com exactly" in wrong.content.decode()
        assert not PersonDeletion.objects.exists()
        done = site.post(url, {"confirm": "alice@example.com"})
        assert done.status_code == 302 and done["Location"] == f"/projects/{member.project.id}/persons/"
        assert PersonDeletion.objects.get().status == PersonDeletion.Status.DONE
        assert site.get(url).status_code == 404
        assert "alice" not in site.get(done["Location"]).content.decode().split("being deleted")[-1]
    finally:
        celery_app.conf.task_always_eager = False


def test_other_projects_persons_are_404(site, member):
    from conftest import MembershipFactory

    stranger = MembershipFactory()
    client = Client()
    assert client.login(username=stranger.user.username, password=PASSWORD)
    person = person_by_distinct_id(project_id=member.project.id, distinct_id="cookie-1")
    assert client.get(f"/projects/{member.project.id}/persons/").status_code == 404
    assert client.get(f"/projects/{stranger.project.id}/persons/{person.id}/").status_code == 404


@pytest.mark.browser
def test_persons_pages_in_the_browser(page, site, member):
    browser_login(page, member.user.username)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 860})
        page.goto(f"/projects/{member.project.id}/persons/")
        page.fill("input[name=search]", "alice")
        page.wait_for_function("document.querySelectorAll('#persons-table tbody tr').length === 1")
        page.screenshot_as(f"persons-list-{width}")
        page.click("#persons-table a")
        page.wait_for_selector("h1:has-text('alice@example.com')")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        page.screenshot_as(f"person-{width}")
