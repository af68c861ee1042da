"""Annotations: who may read and change them (API and page), bad input, and where their
markers land on the charts (the bucket of the project's timezone and the chart's interval)."""

from __future__ import annotations

import json
import re
from datetime import datetime, time, timedelta, timezone
from html import unescape
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from apps.analytics.annotation_views import PAGE_SIZE
from apps.analytics.annotations import annotation_create, annotations_for_chart
from apps.analytics.models import Annotation
from apps.query.charts import time_chart_finish
from apps.query.dates import date_range_resolve
from conftest import MembershipFactory, ProjectFactory, UserFactory, flush, post_events

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


def utc_day(days_ago: int):
    return (datetime.now(timezone.utc) - timedelta(days=days_ago)).date()


def at_utc(day, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=timezone.utc)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def team(db):
    """A Berlin project with an owner, two members and a viewer, and a user of another project."""
    project = ProjectFactory(timezone="Europe/Berlin")
    users = {}
    for name, role in (("owner", "owner"), ("author", "member"), ("other", "member"), ("viewer", "viewer")):
        users[name] = UserFactory(username=f"ann-{name}")
        MembershipFactory(project=project, user=users[name], role=role)
    users["outsider"] = UserFactory(username="ann-outsider")
    elsewhere = MembershipFactory(user=users["outsider"]).project
    return project, users, elsewhere


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def list_url(project) -> str:
    return reverse("api-annotations", kwargs={"project_id": project.id})


def detail_url(project, note) -> str:
    return reverse("api-annotation", kwargs={"project_id": project.id, "annotation_id": note.id})


def note_by(project, user, *, days_ago: int = 2, text: str = "Release 2.4") -> Annotation:
    return annotation_create(project=project, user=user, at=at_utc(utc_day(days_ago), 12), text=text)


# --- API ---------------------------------------------------------------------------------------


def test_create_read_update_and_delete_through_the_api(team):
    project, users, _ = team
    moment = at_utc(utc_day(3), 23, 30)
    created = api(users["author"]).post(list_url(project), {"at": iso(moment), "text": "  Pricing page shipped  "}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert set(body) == {"id", "at", "text", "created_by", "created_at", "updated_at"}
    assert body["at"] == iso(moment)
    assert body["text"] == "Pricing page shipped"
    assert body["created_by"] == "ann-author"
    note = Annotation.objects.get(id=body["id"])
    assert note.project_id == project.id and note.at == moment and note.created_by_name == "ann-author"

    # Anyone of the project reads it, the viewer too.
    assert api(users["viewer"]).get(detail_url(project, note)).json()["text"] == "Pricing page shipped"
    assert [n["id"] for n in api(users["viewer"]).get(list_url(project)).json()] == [note.id]

    changed = api(users["author"]).patch(detail_url(project, note), {"text": "Pricing page v2 shipped"}, format="json")
    assert changed.status_code == 200
    assert changed.json()["text"] == "Pricing page v2 shipped" and changed.json()["at"] == iso(moment)
    moved = api(users["author"]).patch(detail_url(project, note), {"at": iso(moment + timedelta(hours=1))}, format="json")
    assert moved.json()["at"] == iso(moment + timedelta(hours=1))

    assert api(users["author"]).delete(detail_url(project, note)).status_code == 204
    assert not Annotation.objects.filter(id=note.id).exists()


def test_a_time_without_an_offset_is_read_in_the_projects_timezone(team):
    project, users, _ = team
    day = utc_day(4)
    created = api(users["author"]).post(list_url(project), {"at": f"{day.isoformat()}T09:15", "text": "Standup"}, format="json")
    assert created.status_code == 201
    local = datetime.combine(day, time(9, 15), tzinfo=BERLIN)
    assert Annotation.objects.get(id=created.json()["id"]).at == local.astimezone(timezone.utc)
    assert created.json()["at"] == iso(local.astimezone(timezone.utc))


def test_the_list_filters_by_date_newest_first(team):
    project, users, _ = team
    old, middle, new = (note_by(project, users["author"], days_ago=d, text=f"{d} days ago") for d in (20, 10, 1))
    client = api(users["viewer"])
    assert [n["id"] for n in client.get(list_url(project)).json()] == [new.id, middle.id, old.id]
    since = utc_day(15).isoformat()
    assert [n["id"] for n in client.get(list_url(project), {"date_from": since}).json()] == [new.id, middle.id]
    until = utc_day(5).isoformat()
    assert [n["id"] for n in client.get(list_url(project), {"date_from": since, "date_to": until}).json()] == [middle.id]
    bad = client.get(list_url(project), {"date_to": "last tuesday"})
    assert bad.status_code == 400 and bad.json()["field"] == "date_to"


def test_tenancy_another_projects_user_and_notes_are_not_found(team):
    project, users, elsewhere = team
    note = note_by(project, users["author"])
    outsider = api(users["outsider"])
    assert outsider.get(list_url(project)).status_code == 404
    assert outsider.get(detail_url(project, note)).status_code == 404
    assert outsider.post(list_url(project), {"at": iso(note.at), "text": "x"}, format="json").status_code == 404
    assert outsider.patch(detail_url(project, note), {"text": "mine now"}, format="json").status_code == 404
    assert outsider.delete(detail_url(project, note)).status_code == 404
    # Through the outsider's own project, the note's id leads nowhere either.
    assert outsider.get(detail_url(elsewhere, note)).status_code == 404
    assert outsider.delete(detail_url(elsewhere, note)).status_code == 404
    assert outsider.get(list_url(elsewhere)).json() == []
    # An id past any bigint is a 404 too, not a database error.
    assert outsider.get(f"/api/v1/projects/{elsewhere.id}/annotations/{2**64}").status_code == 404
    note.refresh_from_db()
    assert note.text == "Release 2.4"


def test_viewers_read_only_authors_edit_authors_and_owners_delete(team):
    project, users, _ = team
    note = note_by(project, users["author"])
    viewer = api(users["viewer"])
    refused = viewer.post(list_url(project), {"at": iso(note.at), "text": "from a viewer"}, format="json")
    assert refused.status_code == 403 and "viewer" in refused.json()["message"].lower()
    assert viewer.patch(detail_url(project, note), {"text": "x"}, format="json").status_code == 403
    assert viewer.delete(detail_url(project, note)).status_code == 403

    # Another member, and even an owner, may not change someone else's note.
    for name in ("other", "owner"):
        answer = api(users[name]).patch(detail_url(project, note), {"text": "rewritten"}, format="json")
        assert answer.status_code == 403, name
        assert "author" in answer.json()["message"]
    assert api(users["other"]).delete(detail_url(project, note)).status_code == 403
    note.refresh_from_db()
    assert note.text == "Release 2.4"
    # An owner may delete it.
    assert api(users["owner"]).delete(detail_url(project, note)).status_code == 204
    assert not Annotation.objects.filter(id=note.id).exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"at": "AT", "text": ""}, "text"),
        ({"at": "AT", "text": "   "}, "text"),
        ({"at": "AT", "text": "x" * 401}, "text"),
        ({"at": "AT"}, "text"),
        ({"at": "AT", "text": ["a list"]}, "text"),
        ({"at": "AT", "text": "NUL \x00 inside"}, "text"),  # Postgres refuses NUL in text: a 400, not a 500
        ({"at": "2026-11-22T10:00:00\x00Z", "text": "Outage"}, "at"),
        ({"at": "yesterday at noon", "text": "Outage"}, "at"),
        ({"at": "2026-13-45T10:00:00Z", "text": "Outage"}, "at"),
        ({"at": "1850-01-01T00:00:00Z", "text": "Outage"}, "at"),
        ({"at": 1764500000, "text": "Outage"}, "at"),
        ({"at": "", "text": "Outage"}, "at"),
        ({"text": "Outage"}, "at"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(team, body, field):
    project, users, _ = team
    body = {k: iso(at_utc(utc_day(1), 8)) if v == "AT" else v for k, v in body.items()}
    answer = api(users["author"]).post(list_url(project), body, format="json")
    assert answer.status_code == 400, answer.content
    assert answer.json()["error"] == "invalid_input"
    assert answer.json()["field"] == field
    assert not Annotation.objects.filter(project=project).exists()


def test_bad_changes_are_400s_and_change_nothing(team):
    project, users, _ = team
    note = note_by(project, users["author"])
    client = api(users["author"])
    for body, field in (({"text": ""}, "text"), ({"text": "y" * 401}, "text"), ({"at": "soon"}, "at"), ({"text": None}, "text")):
        answer = client.patch(detail_url(project, note), body, format="json")
        assert answer.status_code == 400 and answer.json()["field"] == field, (body, answer.content)
    exactly_400 = client.patch(detail_url(project, note), {"text": "z" * 400}, format="json")
    assert exactly_400.status_code == 200
    note.refresh_from_db()
    assert note.text == "z" * 400


def test_a_deleted_authors_name_stays_on_the_note(team):
    project, users, _ = team
    note = note_by(project, users["author"])
    users["author"].delete()
    answer = api(users["viewer"]).get(detail_url(project, note)).json()
    assert answer["created_by"] == "ann-author"
    # Nobody is its author now: only an owner can remove it.
    assert api(users["other"]).delete(detail_url(project, note)).status_code == 403
    assert api(users["owner"]).delete(detail_url(project, note)).status_code == 204


def test_the_api_is_in_the_openapi_schema(team):
    project, users, _ = team
    client = Client()
    client.force_login(users["viewer"])
    schema = client.get("/api/schema/?format=json").json()
    assert {"get", "post"} <= set(schema["paths"]["/api/v1/projects/{project_id}/annotations"])
    assert {"get", "patch", "delete"} <= set(schema["paths"]["/api/v1/projects/{project_id}/annotations/{annotation_id}"])


# --- Markers: which bucket ---------------------------------------------------------------------


def custom_range(tz: str, first, last, interval: str = "day"):
    return date_range_resolve(params={"date_from": first.isoformat(), "date_to": last.isoformat(), "interval": interval}, tz_name=tz)


def test_a_note_late_in_the_utc_evening_is_on_the_next_local_day_in_berlin(team):
    project, users, _ = team
    day = utc_day(6)
    note = annotation_create(project=project, user=users["author"], at=at_utc(day, 23, 30), text="Late deploy")

    berlin = annotations_for_chart(project=project, date_range=custom_range("Europe/Berlin", day - timedelta(days=3), day + timedelta(days=3)))
    assert [(b["label"], [n["id"] for n in b["notes"]]) for b in berlin] == [((day + timedelta(days=1)).isoformat(), [note.id])]
    assert berlin[0]["index"] == 4  # 3 days before, the day itself, then the next day
    assert berlin[0]["notes"][0]["at"].startswith((day + timedelta(days=1)).isoformat() + " 0")  # 00:30 or 01:30 there

    # The same moment, read in UTC, is on its own day.
    in_utc = annotations_for_chart(project=project, date_range=custom_range("UTC", day - timedelta(days=3), day + timedelta(days=3)))
    assert [(b["label"], b["index"]) for b in in_utc] == [(day.isoformat(), 3)]

    # Hourly: the local hour that holds it.
    hourly = annotations_for_chart(project=project, date_range=custom_range("Europe/Berlin", day, day + timedelta(days=1), "hour"))
    local = at_utc(day, 23, 30).astimezone(BERLIN)
    assert [b["label"] for b in hourly] == [local.strftime("%Y-%m-%d %H:00")]
    assert hourly[0]["label"].startswith((day + timedelta(days=1)).isoformat())


def test_a_sunday_evening_note_in_utc_is_in_the_next_week_in_berlin(team):
    project, users, _ = team
    today = utc_day(0)
    sunday = today - timedelta(days=today.weekday() + 1 + 14)  # a Sunday two weeks back at least
    note = annotation_create(project=project, user=users["author"], at=at_utc(sunday, 23, 30), text="Weekend migration")
    first, last = sunday - timedelta(days=13), sunday + timedelta(days=7)

    berlin = annotations_for_chart(project=project, date_range=custom_range("Europe/Berlin", first, last, "week"))
    assert [b["label"] for b in berlin] == [(sunday + timedelta(days=1)).isoformat()]  # the Monday after
    in_utc = annotations_for_chart(project=project, date_range=custom_range("UTC", first, last, "week"))
    assert [b["label"] for b in in_utc] == [(sunday - timedelta(days=6)).isoformat()]  # the week it ends
    assert berlin[0]["notes"][0]["id"] == in_utc[0]["notes"][0]["id"] == note.id


def test_notes_outside_the_range_or_of_another_project_are_not_on_the_chart(team):
    project, users, elsewhere = team
    day = utc_day(10)
    chart_range = custom_range("Europe/Berlin", day, day + timedelta(days=2))
    before = annotation_create(project=project, user=users["author"], at=chart_range.date_from - timedelta(minutes=1), text="before")
    first = annotation_create(project=project, user=users["author"], at=chart_range.date_from, text="first")
    last = annotation_create(project=project, user=users["author"], at=chart_range.date_to - timedelta(minutes=1), text="last")
    annotation_create(project=project, user=users["author"], at=chart_range.date_to, text="after")
    annotation_create(project=elsewhere, user=users["outsider"], at=chart_range.date_from + timedelta(hours=5), text="not ours")
    second = annotation_create(project=project, user=users["other"], at=chart_range.date_from + timedelta(hours=5), text="second")
    buckets = annotations_for_chart(project=project, date_range=chart_range)
    assert [(b["index"], [n["text"] for n in b["notes"]]) for b in buckets] == [(0, ["first", "second"]), (2, ["last"])]
    assert before.id not in {n["id"] for b in buckets for n in b["notes"]}
    assert buckets[0]["notes"][1]["author"] == "ann-other" and first.id and last.id and second.id


def test_a_chart_of_other_buckets_gets_no_annotations(team):
    project, users, _ = team
    chart_range = custom_range("Europe/Berlin", utc_day(5), utc_day(1))
    other = {"type": "bar", "labels": ["1 day", "2 days"], "datasets": []}
    assert "annotations" not in time_chart_finish(other, project=project, date_range=chart_range)
    chart = time_chart_finish({"type": "line", "labels": chart_range.labels(), "datasets": []}, project=project, date_range=chart_range)
    assert chart["annotations"] == []
    assert chart["annotate"]["url"] == list_url(project)
    assert chart["annotate"]["timezone"] == "Europe/Berlin"
    assert chart["annotate"]["starts"][0] == f"{utc_day(5).isoformat()}T00:00"


# --- Markers on the pages' charts ---------------------------------------------------------------


def chart_json(html: str, chart_id: str) -> dict:
    match = re.search(rf'<script id="{chart_id}" type="application/json">(.*?)</script>', html, re.S)
    assert match, f"no chart {chart_id}"
    return json.loads(unescape(match.group(1)))


@pytest.fixture
def berlin_with_events(team, ingest_client):
    project, users, _ = team
    events = [
        {"event": "$pageview", "distinct_id": f"u{n}", "timestamp": iso(at_utc(utc_day(d), 10))}
        for n in range(3)
        for d in (1, 3, 5)
    ]
    assert post_events(ingest_client, project.api_key, {"events": events}).status_code == 202
    flush()
    return team


def test_every_time_series_chart_shows_the_note_on_its_local_day(berlin_with_events):
    project, users, _ = berlin_with_events
    day = utc_day(4)
    note = annotation_create(project=project, user=users["author"], at=at_utc(day, 23, 30), text="Campaign <b>launch</b>")
    client = Client()
    client.force_login(users["viewer"])
    next_day = (day + timedelta(days=1)).isoformat()
    pages = {
        "analytics-trends": ["trend-chart"],
        "analytics-overview": ["events-chart", "active-chart"],
        "analytics-lifecycle": ["lifecycle-chart"],
        "web-sessions": ["sessions-chart", "duration-chart"],
    }
    for name, chart_ids in pages.items():
        html = client.get(reverse(name, kwargs={"project_id": project.id}), {"range": "30d"}).content.decode()
        for chart_id in chart_ids:
            chart = chart_json(html, chart_id)
            marked = [(chart["labels"][b["index"]], b["label"], [n["id"] for n in b["notes"]]) for b in chart["annotations"]]
            assert marked == [(next_day, next_day, [note.id])], (name, chart_id)
            # The range ends with today, which is not over: its bucket is drawn as such.
            assert chart["partial_from"] == 29, (name, chart_id)
            assert chart["annotations"][0]["notes"][0]["text"] == "Campaign <b>launch</b>"
    # Escaped in the page: a note's text is data, never markup.
    assert "Campaign <b>launch</b>" not in html
    # Two charts over one range read the notes once.
    for name in ("web-sessions", "analytics-overview"):
        with CaptureQueriesContext(connection) as queries:
            client.get(reverse(name, kwargs={"project_id": project.id}), {"range": "30d"})
        assert len([q for q in queries.captured_queries if "analytics_annotation" in q["sql"]]) == 1, name
    # Charts whose axis is not time get no markers.
    html = client.get(reverse("analytics-stickiness", kwargs={"project_id": project.id})).content.decode()
    assert "annotations" not in chart_json(html, "stickiness-chart")


def test_an_hourly_overview_marks_the_hour_and_the_day(berlin_with_events):
    project, users, _ = berlin_with_events
    moment = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3, minutes=-20)
    note = annotation_create(project=project, user=users["author"], at=moment, text="Hotfix")
    client = Client()
    client.force_login(users["author"])
    html = client.get(reverse("analytics-overview", kwargs={"project_id": project.id}), {"range": "24h"}).content.decode()
    local = moment.astimezone(BERLIN)
    events = chart_json(html, "events-chart")
    assert [(b["label"], b["notes"][0]["id"]) for b in events["annotations"]] == [(local.strftime("%Y-%m-%d %H:00"), note.id)]
    active = chart_json(html, "active-chart")  # active users are daily figures
    assert [(b["label"], b["notes"][0]["id"]) for b in active["annotations"]] == [(local.date().isoformat(), note.id)]


# --- The list page -----------------------------------------------------------------------------


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def annotations_page(project) -> str:
    return reverse("annotations-list", kwargs={"project_id": project.id})


def test_the_empty_page_explains_and_offers_the_form_to_editors(team):
    project, users, _ = team
    html = page_client(users["author"]).get(annotations_page(project)).content.decode()
    assert "No annotations yet" in html and 'id="new-annotation"' in html and 'type="datetime-local"' in html
    assert "Europe/Berlin" in html
    viewer = page_client(users["viewer"]).get(annotations_page(project)).content.decode()
    assert "No annotations yet" in viewer and 'id="new-annotation"' not in viewer
    assert "As a viewer you can read annotations" in viewer


def test_add_one_from_the_page_in_local_time(team):
    project, users, _ = team
    day = utc_day(2)
    client = page_client(users["author"])
    answer = client.post(annotations_page(project), {"at": f"{day.isoformat()}T00:30", "text": "Midnight launch"})
    assert answer.status_code == 302
    note = Annotation.objects.get(project=project)
    assert note.at == datetime.combine(day, time(0, 30), tzinfo=BERLIN).astimezone(timezone.utc)
    html = client.get(annotations_page(project)).content.decode()
    assert "Midnight launch" in html and f"{day.isoformat()} 00:30" in html

    refused = client.post(annotations_page(project), {"at": "not a time", "text": ""})
    assert refused.status_code == 400
    text = refused.content.decode()
    assert "Write the annotation" in text and "is not an ISO date" in text
    assert Annotation.objects.filter(project=project).count() == 1
    assert page_client(users["viewer"]).post(annotations_page(project), {"at": f"{day}T10:00", "text": "no"}).status_code == 403
    assert page_client(users["outsider"]).get(annotations_page(project)).status_code == 404


def test_the_page_shows_edit_to_the_author_and_delete_to_the_author_and_owners(team):
    project, users, _ = team
    note = note_by(project, users["author"], text="Shipped dark mode")
    edit = reverse("annotation-edit", kwargs={"project_id": project.id, "annotation_id": note.id})
    delete = reverse("annotation-delete", kwargs={"project_id": project.id, "annotation_id": note.id})
    shown = {name: page_client(users[name]).get(annotations_page(project)).content.decode() for name in ("author", "other", "owner", "viewer")}
    assert all("Shipped dark mode" in html for html in shown.values())
    assert [name for name, html in shown.items() if edit in html] == ["author"]
    assert [name for name, html in shown.items() if delete in html] == ["author", "owner"]
    assert "its author or a project owner can delete it" in shown["viewer"]

    # Editing in place (HTMX): the form, then the row back; without HTMX, a page of its own.
    author = page_client(users["author"])
    whole = author.get(edit).content.decode()
    assert "<html" in whole and "Edit annotation" in whole and "Shipped dark mode</textarea>" in whole
    form = author.get(edit, headers={"HX-Request": "true"})
    assert form.status_code == 200 and 'name="text"' in form.content.decode() and "<html" not in form.content.decode()
    row = author.post(edit, {"at": f"{utc_day(2).isoformat()}T15:45", "text": "Shipped dark mode (all users)"}, headers={"HX-Request": "true"})
    assert row.status_code == 200 and "Shipped dark mode (all users)" in row.content.decode() and "<form" in row.content.decode()
    note.refresh_from_db()
    assert note.at == datetime.combine(utc_day(2), time(15, 45), tzinfo=BERLIN).astimezone(timezone.utc)
    bad = author.post(edit, {"at": f"{utc_day(2).isoformat()}T15:45", "text": "x" * 401}, headers={"HX-Request": "true"})
    assert bad.status_code == 400 and "at most 400 characters" in bad.content.decode().lower()

    assert page_client(users["other"]).get(edit).status_code == 403
    assert page_client(users["owner"]).post(edit, {"at": "2026-01-01T00:00", "text": "owner's words"}).status_code == 403
    assert page_client(users["other"]).post(delete).status_code == 403
    assert page_client(users["viewer"]).post(delete).status_code == 403
    gone = page_client(users["owner"]).post(delete, headers={"HX-Request": "true"})
    assert gone.status_code == 200 and gone.content == b""
    assert not Annotation.objects.filter(id=note.id).exists()


def test_the_list_is_newest_first_a_page_at_a_time(team):
    project, users, _ = team
    start = datetime.now(timezone.utc) - timedelta(days=200)
    for i in range(PAGE_SIZE + 3):
        annotation_create(project=project, user=users["author"], at=start + timedelta(days=i), text=f"note number {i:03d}")
    client = page_client(users["viewer"])
    first = client.get(annotations_page(project)).content.decode()
    numbers = [int(n) for n in re.findall(r"note number (\d{3})", first)]
    assert numbers == list(range(PAGE_SIZE + 2, 2, -1))
    assert f"{PAGE_SIZE + 3} annotations" in first and 'rel="next"' in first
    second = client.get(annotations_page(project), {"page": 2}).content.decode()
    assert [int(n) for n in re.findall(r"note number (\d{3})", second)] == [2, 1, 0]


def test_the_trends_page_links_to_the_annotations(team):
    project, users, _ = team
    trends = reverse("analytics-trends", kwargs={"project_id": project.id})
    html = page_client(users["viewer"]).get(trends).content.decode()
    assert f'href="{annotations_page(project)}"' in html
    # Charts offer adding a note on a click to those who may edit (charts.js reads this).
    assert 'data-can-edit="false"' in html
    assert 'data-can-edit="true"' in page_client(users["author"]).get(trends).content.decode()
