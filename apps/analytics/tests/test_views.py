"""Dashboard pages: they render for members, 404 for everyone else, and show the API's numbers."""

import re
from datetime import datetime, timedelta, timezone
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from conftest import PASSWORD, MembershipFactory, flush

pytestmark = pytest.mark.django_db


def shows(*patterns: str, counts: dict[str, int] | None = None):
    """A check of a page: each pattern is found (regex), and each of ``counts`` that often."""

    def check(text: str) -> None:
        for pattern in patterns:
            assert re.search(pattern, text, re.S), pattern
        for pattern, expected in (counts or {}).items():
            assert len(re.findall(pattern, text)) == expected, pattern

    return check


def csv_total(expected: int):
    def check(text: str) -> None:
        lines = text.splitlines()
        assert lines[0] == "bucket,$pageview · total"
        assert sum(int(line.split(",")[1]) for line in lines[1:]) == expected

    return check


AN_HOUR_AGO = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat().replace("+", "%2B")
# What each page shows of the fixture's 9 pageviews, 3 by each of u0, u1 and u2.
PAGES = {
    "": shows(r'data-card="events">.*?data-value>9<', r'data-card="users">.*?data-value>3<', r"\$pageview</a></td>\s*<td class=\"num\">9</td>"),
    "trends/": shows(r'name="event" value="\$pageview"', r'<th class="num" data-total="0">9</th>'),
    "explorer/": shows(counts={r'<span class="event-name" role="cell">\$pageview</span>': 9}),
    "live/": shows(r'data-socket-path="/ws/projects/\d+/live/"', r"<h2>Waiting for events</h2>", r"X-API-Key: pb_"),
    "persons/": shows(counts={r'<tr>\s*<td class="strong"><a href="/projects/\d+/persons/[0-9a-f-]+/">u\d</a></td>': 3}),
    "trends.csv": csv_total(9),
    # this week's cohort: the 3 persons, each with their own week 0
    "retention/": shows(r"<td>\d{4}-\d\d-\d\d</td>\s*<td class=\"num\">3</td>\s*<td class=\"num retention-cell incomplete dark\"[^>]*><a class=\"cell-link\" href=\"/projects/\d+/retention/persons/\?[^\"]+\">100\.0%</a></td>"),
    # the 3 persons came on one day of the range; today they are new
    "stickiness/": shows(r"<tr><td>1 day</td><td class=\"num\">3</td></tr>", r"<tr><td>2 days</td><td class=\"num\">0</td></tr>"),
    "stickiness.csv": shows(r"^days,\$pageview\r?\n1,3\r?\n2,0\r?\n"),
    "lifecycle/": shows(r"<tr><td>\d{4}-\d\d-\d\d</td><td class=\"num\">3</td><td class=\"num\">0</td><td class=\"num\">0</td><td class=\"num\">0</td></tr>\s*</tbody>"),
    "lifecycle.csv": shows(r"^bucket,new,returning,resurrecting,dormant\r?\n", r"\n\d{4}-\d\d-\d\d,3,0,0,0\r?\n$"),
    "retention.csv": shows(r"^cohort,persons,week_0,week_1,", r"\n\d{4}-\d\d-\d\d,3,3,+\r?\n$"),
    f"explorer/new?since={AN_HOUR_AGO}": shows(r"<strong>9</strong> new events since you loaded this page"),
}


@pytest.fixture
def browser(member, ingest_client, send):
    events = [
        {"event": "$pageview", "distinct_id": f"u{i % 3}", "properties": {"browser": "Chrome" if i % 2 else "Firefox"}, "page_url": "https://x.test/"}
        for i in range(9)
    ]
    assert send(ingest_client, member.project.api_key, {"events": events}).status_code == 202
    flush()
    client = Client()
    assert client.login(username=member.user.username, password=PASSWORD)
    return client


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.split("?")[0])
def test_pages_show_members_their_figures(browser, member, page):
    response = browser.get(f"/projects/{member.project.id}/{page}")
    assert response.status_code == 200
    PAGES[page](response.content.decode())


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.split("?")[0])
def test_pages_are_404_for_other_projects(browser, page):
    other = MembershipFactory()
    assert browser.get(f"/projects/{other.project.id}/{page}").status_code == 404


@pytest.mark.parametrize("project_id", ["0", str(2**63), "9" * 30])
def test_ids_no_project_can_have_are_404(browser, project_id):
    assert browser.get(f"/projects/{project_id}/").status_code == 404
    assert browser.get(f"/api/v1/projects/{project_id}/insights/top-events").status_code == 404


@pytest.mark.parametrize("page", ["", "trends/", "explorer/", "live/", "persons/", "retention/", "stickiness/", "lifecycle/"])
def test_pages_need_a_login(member, page):
    response = Client().get(f"/projects/{member.project.id}/{page}")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_htmx_requests_get_only_the_page_body(browser, member):
    response = browser.get(f"/projects/{member.project.id}/trends/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b"<html" not in response.content and b"trend-chart" in response.content


def test_overview_shows_the_api_figures(browser, member):
    api = browser.get(f"/api/v1/projects/{member.project.id}/insights/overview?range=7d").json()
    html = browser.get(f"/projects/{member.project.id}/?range=7d").content.decode()
    assert api["cards"]["events"]["value"] == 9 and api["cards"]["users"]["value"] == 3
    assert '<span class="value" data-value>9</span>' in html
    assert '<span class="value" data-value>3</span>' in html


def test_trends_form_fields_and_csv(browser, member):
    base = f"/projects/{member.project.id}"
    query = "event=%24pageview&math=total&event=%24pageview&math=unique&fkey=browser&fop=equals&fvalue=Chrome&range=7d"
    html = browser.get(f"{base}/trends/?{query}").content.decode()
    assert '<th class="num" data-total="0">4</th>' in html
    assert 'name="fkey" value="browser"' in html and 'name="fvalue" value="Chrome"' in html
    csv = browser.get(f"{base}/trends.csv?{query}").content.decode().splitlines()
    assert csv[0] == "bucket,$pageview · total,$pageview · unique users"
    # Chrome: events 1, 3, 5 and 7, by u1, u0, u2 and u1, all in this day's bucket.
    assert [line.split(",")[1:] for line in csv[1:] if line.split(",")[1] != "0"] == [["4", "3"]]


def test_bad_parameters_show_an_error_not_a_crash(browser, member):
    response = browser.get(f"/projects/{member.project.id}/trends/?events=x&math=median")
    assert response.status_code == 400
    assert b"math" in response.content


def test_explorer_filters_and_new_events_badge(browser, member, ingest_client, send):
    base = f"/projects/{member.project.id}"
    html = browser.get(f"{base}/explorer/?property=browser&value=Firefox&range=7d").content.decode()
    assert html.count('class="event-row"') == 5
    since = "2000-01-01T00:00:00+00:00"
    badge = browser.get(f"{base}/explorer/new", {"since": since, "range": "7d", "event": "$pageview"}).content.decode()
    assert "<strong>9</strong> new events" in badge


def test_explorer_and_persons_show_the_project_local_time(browser, member, ingest_client, send, reader):
    member.project.timezone = "Asia/Tokyo"
    member.project.save()
    moment = (datetime.now(timezone.utc) - timedelta(hours=3)).replace(microsecond=0)
    event = {"event": "signed_up", "distinct_id": "tokyo-user", "timestamp": moment.isoformat()}
    assert send(ingest_client, member.project.api_key, event).status_code == 202
    flush()
    local = moment.astimezone(ZoneInfo("Asia/Tokyo"))
    base = f"/projects/{member.project.id}"

    explorer = browser.get(f"{base}/explorer/?distinct_id=tokyo-user&range=7d").content.decode()
    assert "Times are in Asia/Tokyo" in explorer
    assert f'<time role="cell" datetime="{local.isoformat()}">{local:%Y-%m-%d %H:%M:%S}</time>' in explorer
    persons = browser.get(f"{base}/persons/").content.decode()
    row = re.search(r"tokyo-user</a></td>(.*?)</tr>", persons, re.S).group(1)
    assert re.findall(r'<td class="nowrap">([\d-]+ [\d:]+)</td>', row) == [f"{local:%Y-%m-%d %H:%M}"] * 2
    person = browser.get(f"{base}/persons/of/?distinct_id=tokyo-user", follow=True).content.decode()
    assert f">{local:%Y-%m-%d %H:%M:%S}</time>" in person
    # The API keeps UTC.
    api = reader.get(f"/api/v1/projects/{member.project.id}/events?distinct_id=tokyo-user").json()
    assert api["results"][0]["timestamp"] == moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_old_users_page_leads_to_persons(browser, member):
    response = browser.get(f"/projects/{member.project.id}/users/")
    assert response.status_code == 301 and response["Location"] == f"/projects/{member.project.id}/persons/"


def test_a_reversed_range_on_trends_keeps_the_query_and_shows_the_error_by_the_dates(browser, member):
    today = datetime.now(timezone.utc).date()
    later, earlier = (today - timedelta(days=2)).isoformat(), (today - timedelta(days=9)).isoformat()
    query = (
        "event=%24pageview&math=unique&event=signed_up&math=total&fkey=browser&fop=equals&fvalue=Chrome"
        f"&breakdown=browser&chart=bar&date_from={later}&date_to={earlier}&interval=day"
    )
    response = browser.get(f"/projects/{member.project.id}/trends/?{query}")
    assert response.status_code == 400
    html = response.content.decode()
    controls = re.search(r'<form class="toolbar date-controls".*?</form>', html, re.S).group(0)
    assert "<strong>date_to</strong>: must be after date_from." in controls
    assert f'name="date_from" value="{later}"' in controls and f'name="date_to" value="{earlier}"' in controls
    editor = re.search(r'<form class="card trend-form".*?</form>', html, re.S).group(0)
    assert re.findall(r'name="event" value="([^"]+)"', editor) == ["$pageview", "signed_up"]
    assert re.findall(r'<option value="(\w+)" selected>', editor) == ["unique", "total", "event", "equals", "event", "event"]
    assert 'name="fkey" value="browser"' in editor and 'name="fvalue" value="Chrome"' in editor
    assert 'name="breakdown" value="browser"' in editor and 'value="bar" checked' in editor
    # Submitting the editor again keeps the typed dates (still the same error, nothing lost).
    assert f'name="date_from" value="{later}"' in editor and f'name="date_to" value="{earlier}"' in editor
    assert "Reset the page" not in html and "trend-chart" not in html


def test_overview_badges_say_new_and_cap_huge_changes(member, ingest_client, send):
    """ann was the one visitor of the week before; this week she visits 1,200 times, in a
    session (the week before had none)."""
    before = (datetime.now(timezone.utc) - timedelta(days=10)).isoformat()
    assert send(ingest_client, member.project.api_key, {"event": "visit", "distinct_id": "ann", "timestamp": before}).status_code == 202
    for _ in range(2):
        batch = {"events": [{"event": "visit", "distinct_id": "ann", "session_id": "s1"}] * 600}
        assert send(ingest_client, member.project.api_key, batch).status_code == 202
    flush()
    client = Client()
    assert client.login(username=member.user.username, password=PASSWORD)
    html = client.get(f"/projects/{member.project.id}/?range=7d").content.decode()
    badges = {card: unescape(label) for card, label in re.findall(r'data-card="(\w+)">.*?data-change>\s*(.*?)\s*</span>', html, re.S)}
    assert badges == {"events": ">999%", "users": "0%", "sessions": "new", "events_per_user": ">999%"}
    assert '<span class="value" data-value>1,200</span>' in html


@pytest.mark.parametrize(
    ("card", "label"),
    [
        ({"value": 5, "previous": 0, "change_pct": None}, "new"),
        ({"value": 0, "previous": 0, "change_pct": None}, "—"),
        ({"value": 112, "previous": 100, "change_pct": 12.0}, "+12.0%"),
        ({"value": 50, "previous": 100, "change_pct": -50.0}, "-50.0%"),
        ({"value": 1099, "previous": 110, "change_pct": 899.1}, "+899.1%"),
        ({"value": 1099, "previous": 110, "change_pct": 999.0}, "+999.0%"),
        ({"value": 68766, "previous": 100, "change_pct": 68666.0}, ">999%"),
    ],
)
def test_change_badge_labels(card, label):
    from django.template import Context, Template

    assert unescape(Template("{% load query %}{{ card|change_label }}").render(Context({"card": card}))) == label


def test_trends_page_filters_and_breaks_down_by_person_properties(browser, member, ingest_client, send):
    """The page's person toggles: a person filter and a person breakdown, as the API does them."""
    events = [
        {"event": "upgrade", "user_id": "u1", "properties": {"$set": {"plan": "pro"}}},
        {"event": "$pageview", "anonymous_id": "a1"},
        {"event": "$identify", "user_id": "u1", "anonymous_id": "a1"},
    ]
    assert send(ingest_client, member.project.api_key, {"events": events}).status_code == 202
    flush()
    base = f"/projects/{member.project.id}/trends/?range=7d&event=%24pageview&math=total"
    person = browser.get(base + "&ftype=person&fkey=plan&fop=equals&fvalue=pro&breakdown=plan&breakdown_type=person").content.decode()
    # u1 (the fixture's distinct id u1, 3 pageviews) has plan pro, and a1's pageview is u1's now
    assert '<th class="num" data-total="0">4</th>' in person
    assert '<option value="person" selected>Person</option>' in person
    event_filter = browser.get(base + "&ftype=event&fkey=plan&fop=equals&fvalue=pro").content.decode()
    assert "Nothing matches in this period" in event_filter


def test_the_retention_page_says_what_to_send_when_no_one_started(member):
    client = Client()
    assert client.login(username=member.user.username, password=PASSWORD)
    html = client.get(f"/projects/{member.project.id}/retention/?start_event=signed_up").content.decode()
    assert "No one did “signed_up” in these weeks" in html and "Send events named signed_up" in html
    response = client.get(f"/projects/{member.project.id}/retention/?start_event=signed_up&periods=99")
    assert response.status_code == 400 and "periods" in response.content.decode()
