"""The Events page and its API on a small known dataset sent through the real ingest path:
the figures of each name (with a merged person), search, sort and paging, the description
and the hidden flag (and the pickers that leave hidden names out), who may edit, the CSV
and the 400s."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.ingest.models import EVENT_DESCRIPTION_MAX, EventDefinition
from apps.ingest.selectors import event_names_by_volume
from apps.projects.services import personal_api_key_create
from conftest import MembershipFactory, UserFactory, flush, post_events

pytestmark = pytest.mark.django_db

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def at(**delta) -> datetime:
    return NOW - timedelta(**delta)


# (name, ids, when): a1 is anonymous until the $pageview that carries u1 too merges it into u1.
EVENTS = [
    ("$pageview", {"anonymous_id": "a1"}, at(days=3)),
    ("$pageview", {"anonymous_id": "a1"}, at(days=2)),
    ("$pageview", {"user_id": "u1", "anonymous_id": "a1"}, at(days=1)),
    ("$pageview", {"user_id": "u2"}, at(days=1, hours=2)),
    ("$pageview", {"user_id": "u3"}, at(days=40)),
    ("signed_up", {"user_id": "u1"}, at(days=1)),
    ("checkout_done", {"user_id": "u2"}, at(hours=5)),
    *(("debug_ping", {"user_id": "u2"}, at(hours=2, minutes=m)) for m in range(3)),
]


@pytest.fixture
def shop(ingest_client):
    """A project with EVENTS, its owner, a member and a viewer, each with a logged-in client."""
    owner = MembershipFactory()
    project = owner.project
    body = {"events": [{"event": name, **ids, "timestamp": when.isoformat()} for name, ids, when in EVENTS]}
    assert post_events(ingest_client, project.api_key, body).status_code == 202
    flush()
    clients = {"owner": owner.user}
    for role in ("member", "viewer"):
        clients[role] = MembershipFactory(project=project, user=UserFactory(), role=role).user
    for role, user in clients.items():
        client = Client()
        client.force_login(user)
        clients[role] = client
    return project, clients


def listing(client, project, status: int = 200, **params) -> dict:
    response = client.get(f"/api/v1/projects/{project.id}/event-definitions", params)
    assert response.status_code == status, response.content
    return response.json()


def by_name(body: dict) -> dict:
    return {row["name"]: row for row in body["results"]}


def definition_id(project, name: str) -> int:
    return EventDefinition.objects.get(project=project, name=name).id


def patch(client, project, name: str, body, status: int = 200) -> dict:
    response = client.patch(f"/api/v1/projects/{project.id}/event-definitions/{definition_id(project, name)}", body, content_type="application/json")
    assert response.status_code == status, response.content
    return response.json()


def expected_sparkline(name: str) -> list[int]:
    """Events of ``name`` per UTC day of the last 30, today last (the project is in UTC)."""
    today = datetime.now(timezone.utc).date()
    days = [today - timedelta(days=29 - i) for i in range(30)]
    return [sum(1 for n, _, when in EVENTS if n == name and when.date() == day) for day in days]


def test_each_name_with_its_figures_persons_merged(shop):
    project, clients = shop
    body = listing(clients["viewer"], project)
    assert [row["name"] for row in body["results"]] == ["$pageview", "debug_ping", "checkout_done", "signed_up"]  # -count, then name
    pageview = by_name(body)["$pageview"]
    # Four views in the 30 days, by a1 (merged into u1) and u2: two persons, not three ids.
    assert (pageview["count"], pageview["unique_persons"]) == (4, 2)
    assert pageview["first_seen"] == at(days=40).isoformat().replace("+00:00", "Z")
    assert pageview["last_seen"] == at(days=1).isoformat().replace("+00:00", "Z")
    assert (by_name(body)["debug_ping"]["count"], by_name(body)["debug_ping"]["unique_persons"]) == (3, 1)
    today = datetime.now(timezone.utc).date()
    for name, row in by_name(body).items():
        assert row["sparkline"]["dates"][-1] == today.isoformat() and len(row["sparkline"]["dates"]) == 30
        assert row["sparkline"]["counts"] == expected_sparkline(name), name
        assert (row["description"], row["hidden"]) == ("", False)
    assert (body["total"], body["page"], body["pages"]) == (4, 1, 1)
    # The range moves count and persons (u3's view 40 days ago), never the sparkline.
    wider = by_name(listing(clients["viewer"], project, range="90d"))["$pageview"]
    assert (wider["count"], wider["unique_persons"], wider["sparkline"]) == (5, 3, pageview["sparkline"])
    day = at(days=2).date()
    one_day = by_name(listing(clients["viewer"], project, date_from=day.isoformat(), date_to=day.isoformat()))
    assert (one_day["$pageview"]["count"], one_day["signed_up"]["count"]) == (sum(1 for n, _, w in EVENTS if n == "$pageview" and w.date() == day), 0)


def test_the_page_shows_the_same_figures_and_links_each_name_to_its_trend(shop):
    project, clients = shop
    html = clients["viewer"].get(f"/projects/{project.id}/events/?preset=90d").content.decode()
    assert 'data-event="$pageview"' in html and "<td class=\"num\" data-count>5</td>" in html and "<td class=\"num\" data-persons>3</td>" in html
    assert f'href="/projects/{project.id}/trends/?events=%24pageview&amp;range=90d&amp;interval=day"' in html
    assert "Describe" not in html  # a viewer reads


def test_search_sort_and_pages(shop):
    project, clients = shop
    client = clients["viewer"]
    assert [row["name"] for row in listing(client, project, search="SIGN")["results"]] == ["signed_up"]
    assert [row["name"] for row in listing(client, project, sort="name")["results"]] == ["$pageview", "checkout_done", "debug_ping", "signed_up"]
    assert [row["name"] for row in listing(client, project, sort="-name")["results"]] == ["signed_up", "debug_ping", "checkout_done", "$pageview"]
    assert [row["name"] for row in listing(client, project, sort="-unique_persons")["results"]][0] == "$pageview"
    assert [row["name"] for row in listing(client, project, sort="last_seen")["results"]] == ["$pageview", "signed_up", "checkout_done", "debug_ping"]
    second = listing(client, project, sort="name", page_size=3, page=2)
    assert ([row["name"] for row in second["results"]], second["total"], second["pages"]) == (["signed_up"], 4, 2)
    assert (second["results"][0]["count"], second["results"][0]["unique_persons"]) == (1, 1)  # persons of the page's rows
    assert listing(client, project, page=9)["results"] == []
    html = client.get(f"/projects/{project.id}/events/", {"search": "ping", "sort": "name"}).content.decode()
    assert 'data-event="debug_ping"' in html and 'data-event="$pageview"' not in html


def test_a_hidden_event_leaves_the_pickers_but_stays_on_the_page(shop):
    project, clients = shop
    changed = patch(clients["member"], project, "debug_ping", {"hidden": True, "description": "  Health check of the SDK  "})
    assert (changed["hidden"], changed["description"]) == (True, "Health check of the SDK")
    assert "debug_ping" not in event_names_by_volume(project_id=project.id)
    assert "debug_ping" in event_names_by_volume(project_id=project.id, include_hidden=True)
    for path in ("trends/", "retention/", "stickiness/", "lifecycle/", "explorer/", "funnels/new/"):
        html = clients["member"].get(f"/projects/{project.id}/{path}").content.decode()
        assert '<option value="signed_up">' in html and '<option value="debug_ping">' not in html, path
    # The deletion form reaches every name.
    assert '<option value="debug_ping">' in clients["owner"].get(f"/projects/{project.id}/settings/data/").content.decode()
    row = by_name(listing(clients["viewer"], project))["debug_ping"]
    assert (row["hidden"], row["description"], row["count"]) == (True, "Health check of the SDK", 3)
    assert [r["name"] for r in listing(clients["viewer"], project, hidden="only")["results"]] == ["debug_ping"]
    assert "debug_ping" not in by_name(listing(clients["viewer"], project, hidden="exclude"))
    html = clients["viewer"].get(f"/projects/{project.id}/events/").content.decode()
    assert "data-hidden-badge>hidden</span>" in html and "Health check of the SDK" in html


def test_members_edit_in_place_viewers_read_only(shop):
    project, clients = shop
    pk = definition_id(project, "signed_up")
    url = f"/projects/{project.id}/events/{pk}/edit"
    page = clients["member"].get(f"/projects/{project.id}/events/").content.decode()
    assert f'hx-get="{url}"' in page
    form = clients["member"].get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'name="description"' in form and 'name="hidden"' in form
    saved = clients["member"].post(url, {"description": "A new account"}, HTTP_HX_REQUEST="true")
    assert saved.status_code == 200 and "A new account" in saved.content.decode() and "<form" not in saved.content.decode()
    too_long = clients["member"].post(url, {"description": "x" * (EVENT_DESCRIPTION_MAX + 1)}, HTTP_HX_REQUEST="true")
    assert too_long.status_code == 400 and f"At most {EVENT_DESCRIPTION_MAX} characters" in too_long.content.decode()
    assert "A new account" in clients["viewer"].get(f"/projects/{project.id}/events/").content.decode()
    assert clients["viewer"].post(url, {"description": "vandal"}).status_code == 403
    assert patch(clients["viewer"], project, "signed_up", {"description": "vandal"}, status=403)["error"] == "permission_denied"
    assert EventDefinition.objects.get(pk=pk).description == "A new account"
    outsider = Client()
    outsider.force_login(MembershipFactory().user)
    assert outsider.patch(f"/api/v1/projects/{project.id}/event-definitions/{pk}", {"hidden": True}, content_type="application/json").status_code == 404


@pytest.mark.parametrize(
    "params, field",
    [
        ({"q": "sign"}, "q"),
        ({"sort": "volume"}, "sort"),
        ({"sort": "-"}, "sort"),
        ({"hidden": "yes"}, "hidden"),
        ({"page": "0"}, "page"),
        ({"page_size": "501"}, "page_size"),
        ({"range": "1y"}, "range"),
        ({"date_from": "2026-13-01", "date_to": "2026-12-01"}, "date_from"),
        ({"interval": "hour"}, "interval"),
    ],
)
def test_bad_parameters_are_400s_naming_the_field(shop, params, field):
    project, clients = shop
    assert listing(clients["viewer"], project, status=400, **params)["field"] == field
    page = clients["viewer"].get(f"/projects/{project.id}/events/", params)
    assert page.status_code == 400 and f"<strong>{field}</strong>" in page.content.decode()
    assert clients["viewer"].get(f"/projects/{project.id}/events.csv", params).status_code == 400


@pytest.mark.parametrize(
    "body, field",
    [
        ({"description": "x" * (EVENT_DESCRIPTION_MAX + 1)}, "description"),
        ({"description": 7}, "description"),
        ({"description": "a\x00b"}, "description"),
        ({"hidden": "true"}, "hidden"),
        ({"name": "renamed"}, "name"),
        ([{"hidden": True}], "body"),
    ],
)
def test_bad_changes_are_400s_naming_the_field(shop, body, field):
    project, clients = shop
    assert patch(clients["member"], project, "signed_up", body, status=400)["field"] == field
    definition = EventDefinition.objects.get(project=project, name="signed_up")
    assert (definition.name, definition.description, definition.hidden) == ("signed_up", "", False)


def test_the_csv_holds_every_matching_row_in_order(shop):
    project, clients = shop
    # Text a spreadsheet would run as a formula is quoted.
    EventDefinition.objects.filter(project=project, name="signed_up").update(description='=HYPERLINK("http://x.test")')
    response = clients["viewer"].get(f"/projects/{project.id}/events.csv", {"sort": "name", "search": "_"})
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0][:7] == ["event", "description", "hidden", "count", "unique_persons", "first_seen", "last_seen"]
    assert len(rows[0]) == 7 + 30 and rows[0][-1] == datetime.now(timezone.utc).date().isoformat()
    assert [row[0] for row in rows[1:]] == ["checkout_done", "debug_ping", "signed_up"]
    assert rows[2][3:5] == ["3", "1"] and [int(n) for n in rows[2][7:]] == expected_sparkline("debug_ping")
    assert rows[3][1] == '\'=HYPERLINK("http://x.test")'


def test_a_project_without_events_says_so(db):
    membership = MembershipFactory()
    client = Client()
    client.force_login(membership.user)
    html = client.get(f"/projects/{membership.project.id}/events/").content.decode()
    assert "No events yet" in html and "Get the ingest key" in html
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {personal_api_key_create(user=membership.user, label='t').secret}")
    body = api.get(f"/api/v1/projects/{membership.project.id}/event-definitions").json()
    assert (body["results"], body["total"], body["pages"]) == ([], 0, 1)


def test_the_api_is_in_the_openapi_schema(shop):
    project, clients = shop
    paths = clients["viewer"].get("/api/schema/?format=json").json()["paths"]
    assert "get" in paths["/api/v1/projects/{project_id}/event-definitions"]
    assert "patch" in paths["/api/v1/projects/{project_id}/event-definitions/{definition_id}"]
