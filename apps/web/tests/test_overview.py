"""The web overview through the real ingest path: events sent with real user agents, IPs,
page URLs and referrers, flushed to ClickHouse, and read back through the API, the page
and the CSV export."""

import csv
import io
from datetime import datetime, timedelta, timezone

import pytest
from django.test import Client

from apps.ingest.devices import country_of, device_columns, user_agent_parse
from conftest import PASSWORD, flush

pytestmark = pytest.mark.django_db

CHROME_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
ANDROID_TABLET = "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.230 Safari/537.36"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.mark.parametrize(
    "user_agent, expected",
    [
        (CHROME_WINDOWS, ("Chrome", "Windows", "Desktop")),
        (SAFARI_IPHONE, ("Mobile Safari", "iOS", "Mobile")),
        (FIREFOX_LINUX, ("Firefox", "Linux", "Desktop")),
        (ANDROID_TABLET, ("Chrome", "Android", "Tablet")),
        (GOOGLEBOT, ("Googlebot", "", "Bot")),
        ("", ("", "", "")),
        ("curl/8.5.0", ("curl", "", "")),
    ],
)
def test_user_agents_parse_to_browser_os_and_device_type(user_agent, expected):
    assert user_agent_parse(user_agent) == expected


def test_posthog_device_properties_win_over_the_parsed_user_agent():
    """A relay's own user agent says nothing of the visitor; the SDK's properties do."""
    properties = {"$browser": "Firefox", "$os": "Mac OS X", "$device_type": "Desktop"}
    assert device_columns(CHROME_WINDOWS, properties) == {"browser": "Firefox", "os": "Mac OS X", "device_type": "Desktop"}
    assert device_columns(SAFARI_IPHONE, {"$browser": ""}) == {"browser": "Mobile Safari", "os": "iOS", "device_type": "Mobile"}


def test_countries_come_from_the_registries_data_and_private_ips_have_none():
    assert country_of("8.8.8.8") == "US"
    assert country_of("81.2.69.142") == "GB"
    assert country_of("2001:67c:2e8:22::c100:68b") == "NL"
    assert [country_of(ip) for ip in ("10.0.0.1", "127.0.0.1", "::1", "", "not an ip")] == ["", "", "", "", ""]


def _events(now: datetime) -> list[tuple[dict, str, str]]:
    """(event, user agent, IP): four visitors, one of them with two ids merged into one person."""
    at = lambda minutes: (now - timedelta(minutes=minutes)).isoformat()  # noqa: E731
    site = "https://shop.example.com"
    return [
        # Ann: Chrome on Windows, from Google, lands on /pricing with a campaign, then reads the docs.
        ({"event": "$pageview", "anonymous_id": "ann-anon", "page_url": f"{site}/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=spring+sale", "referrer": "https://www.google.com/search?q=shop", "timestamp": at(50)}, CHROME_WINDOWS, "8.8.8.8"),
        ({"event": "$pageview", "anonymous_id": "ann-anon", "page_url": f"{site}/docs", "referrer": f"{site}/pricing", "timestamp": at(49)}, CHROME_WINDOWS, "8.8.8.8"),
        # Ann signs up: her user id and her anonymous id are one person.
        ({"event": "signed_up", "user_id": "ann", "anonymous_id": "ann-anon", "page_url": f"{site}/signup", "timestamp": at(48)}, CHROME_WINDOWS, "8.8.8.8"),
        ({"event": "$pageview", "user_id": "ann", "page_url": f"{site}/pricing", "timestamp": at(47)}, CHROME_WINDOWS, "8.8.8.8"),
        # Bob: Safari on an iPhone, direct, from the UK.
        ({"event": "$pageview", "distinct_id": "bob", "page_url": f"{site}/", "timestamp": at(40)}, SAFARI_IPHONE, "81.2.69.142"),
        ({"event": "$pageview", "distinct_id": "bob", "page_url": f"{site}/pricing", "referrer": f"{site}/", "timestamp": at(39)}, SAFARI_IPHONE, "81.2.69.142"),
        # Cy: Firefox on Linux, from Hacker News, with a campaign, private IP.
        ({"event": "$pageview", "distinct_id": "cy", "page_url": f"{site}/docs?utm_source=hn", "referrer": "https://news.ycombinator.com/item?id=1", "timestamp": at(30)}, FIREFOX_LINUX, "10.0.0.7"),
        # Dee: an Android tablet, direct.
        ({"event": "$pageview", "distinct_id": "dee", "page_url": f"{site}", "timestamp": at(20)}, ANDROID_TABLET, "8.8.4.4"),
        # A bot's click is no pageview: never counted.
        ({"event": "clicked", "distinct_id": "bot", "page_url": f"{site}/pricing", "timestamp": at(10)}, GOOGLEBOT, "66.249.66.1"),
    ]


@pytest.fixture
def site(member, send, ingest_client):
    now = datetime.now(timezone.utc)
    for event, user_agent, ip in _events(now):
        response = send(ingest_client, member.project.api_key, event, HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
        assert response.status_code == 202, response.content
    flush()
    client = Client()
    assert client.login(username=member.user.username, password=PASSWORD)
    return member.project, client


def _api(client, project, query: str = "") -> dict:
    response = client.get(f"/api/v1/projects/{project.id}/insights/web?range=7d{query}")
    assert response.status_code == 200, response.content
    return response.json()


def _rows(data: dict, name: str) -> list[tuple[str, int, int]]:
    return [(row["value"], row["visitors"], row["pageviews"]) for row in data["lists"][name]]


def test_every_list_counts_visitors_and_pageviews(site):
    project, client = site
    data = _api(client, project)
    assert data["totals"] == {"visitors": 4, "pageviews": 7}
    # Ann viewed /pricing twice, once under each of her ids: one visitor.
    assert _rows(data, "pages") == [("/pricing", 2, 3), ("/", 2, 2), ("/docs", 2, 2)]
    # Same-site referrers are navigation, not a source.
    assert _rows(data, "referrers") == [("$direct", 3, 3), ("google.com", 1, 1), ("news.ycombinator.com", 1, 1)]
    assert _rows(data, "utm_sources") == [("hn", 1, 1), ("newsletter", 1, 1)]
    assert _rows(data, "utm_mediums") == [("email", 1, 1)]
    assert _rows(data, "utm_campaigns") == [("spring sale", 1, 1)]
    # Dee's tablet runs Chrome too.
    assert _rows(data, "browsers") == [("Chrome", 2, 4), ("Mobile Safari", 1, 2), ("Firefox", 1, 1)]
    assert _rows(data, "os") == [("Windows", 1, 3), ("iOS", 1, 2), ("Android", 1, 1), ("Linux", 1, 1)]
    assert _rows(data, "devices") == [("Desktop", 2, 4), ("Mobile", 1, 2), ("Tablet", 1, 1)]
    assert _rows(data, "countries") == [("US", 2, 4), ("GB", 1, 2), ("", 1, 1)]
    # Sessions (no session_id here: 30 minutes without events end one): Ann's four events
    # under two ids are one visit.
    sessions = lambda name: [(r["value"], r["visitors"], r["sessions"], r["pageviews"]) for r in data["lists"][name]]  # noqa: E731
    assert sessions("entry_pages") == [("/", 2, 2, 3), ("/docs", 1, 1, 1), ("/pricing", 1, 1, 3)]
    assert sessions("exit_pages") == [("/pricing", 2, 2, 5), ("/", 1, 1, 1), ("/docs", 1, 1, 1)]
    quick = _api(client, project, "&sessions=false")
    assert quick["lists"]["entry_pages"] is None and quick["lists"]["pages"] == data["lists"]["pages"]
    # The range is written as every other insight writes it.
    trends = client.get(f"/api/v1/projects/{project.id}/insights/trends?events=$pageview&range=7d").json()
    assert (data["date_from"], data["date_to"]) == (trends["date_from"], trends["date_to"])


def test_filters_narrow_every_list_and_combine(site):
    project, client = site
    chrome = _api(client, project, "&browser=Chrome")
    assert chrome["filters"] == [{"key": "browser", "value": "Chrome"}]
    assert chrome["totals"] == {"visitors": 2, "pageviews": 4}
    assert _rows(chrome, "countries") == [("US", 2, 4)]
    both = _api(client, project, "&browser=Chrome&page=/pricing")
    assert both["totals"] == {"visitors": 1, "pageviews": 2}
    assert _rows(both, "referrers") == [("$direct", 1, 1), ("google.com", 1, 1)]
    assert _api(client, project, "&referrer=$direct&device_type=Tablet")["totals"] == {"visitors": 1, "pageviews": 1}
    assert _api(client, project, "&country=")["totals"] == {"visitors": 1, "pageviews": 1}
    assert _api(client, project, "&utm_campaign=spring sale")["totals"] == {"visitors": 1, "pageviews": 1}


@pytest.mark.parametrize(
    "query, field",
    [
        ("&browsr=Chrome", "browsr"),
        ("&page=pricing", "page"),
        ("&device_type=Phone", "device_type"),
        ("&country=Germany", "country"),
        ("&browser=a&browser=b", "browser"),
        ("&os=" + "x" * 3000, "os"),
        ("&range=1y", "range"),
        ("&sessions=maybe", "sessions"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(site, query, field):
    project, client = site
    response = client.get(f"/api/v1/projects/{project.id}/insights/web?range=7d{query}".replace("range=7d&range=1y", "range=1y"))
    assert response.status_code == 400
    assert response.json()["field"] == field
    if field != "sessions":  # an API parameter: the page knows no such thing
        page = client.get(f"/projects/{project.id}/web/?{query.lstrip('&')}")
        assert page.status_code == 400 and field in page.content.decode()


def test_the_page_shows_the_figures_and_links_each_row_to_its_filter(site):
    project, client = site
    html = client.get(f"/projects/{project.id}/web/?range=7d").content.decode()
    assert 'data-card="visitors"' in html and ">4<" in html
    assert "?range=7d&amp;interval=day&amp;browser=Firefox" in html
    assert "Direct / none" in html and "Unknown" in html
    filtered = client.get(f"/projects/{project.id}/web/?range=7d&browser=Firefox").content.decode()
    assert "data-filter-chip" in filtered and "Browsers: Firefox" in filtered
    assert 'data-list="pages"' in filtered and "/docs" in filtered and "/pricing" not in filtered
    # The entry and exit pages load on their own, with the page's filters.
    assert f'hx-get="/projects/{project.id}/web/sessions?range=7d&amp;interval=day&amp;browser=Firefox"' in filtered
    cards = client.get(f"/projects/{project.id}/web/sessions?range=7d&browser=Firefox", HTTP_HX_REQUEST="true").content.decode()
    assert 'data-list="entry_pages"' in cards and 'data-list="exit_pages"' in cards and "/docs" in cards
    empty = client.get(f"/projects/{project.id}/web/?range=7d&browser=Lynx").content.decode()
    assert "No pageviews match these filters" in empty


def test_each_list_exports_as_csv(site):
    project, client = site
    response = client.get(f"/projects/{project.id}/web.csv?range=7d&list=referrers&browser=Chrome")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert list(csv.reader(io.StringIO(response.content.decode()))) == [
        ["Referrers", "Visitors", "Pageviews"],
        ["Direct / none", "2", "2"],
        ["google.com", "1", "1"],
    ]
    exits = client.get(f"/projects/{project.id}/web.csv?range=7d&list=exit_pages").content.decode()
    assert exits.splitlines()[:2] == ["Exit pages,Visitors,Sessions,Pageviews", "/pricing,2,2,5"]
    assert client.get(f"/projects/{project.id}/web.csv?range=7d&list=nope").status_code == 400
