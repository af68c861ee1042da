"""Read-only public links: the token is shown once and kept only as a SHA-256; the shared
page (noindex, no project navigation) and its tiles and CSV read only that dashboard; a
revoked or replaced link stops at once; and a token opens nothing else, API or page."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from apps.dashboards import dashboards as boards
from apps.analytics.annotations import annotation_create
from apps.dashboards.models import Dashboard, SavedInsight, Tile
from conftest import PASSWORD, MembershipFactory, flush, post_events

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def login(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def board(project, name="Public") -> tuple[Dashboard, Tile, Tile]:
    today = datetime.now(timezone.utc).date()
    dashboard = Dashboard.objects.create(project=project, name=name, description="What we show the board")
    insight = SavedInsight.objects.create(
        project=project, kind="trends", name="Views", query={"events": ["$pageview"], "date_from": [(today - timedelta(days=2)).isoformat()], "date_to": [today.isoformat()]}
    )
    chart = Tile.objects.create(dashboard=dashboard, insight=insight, x=0, y=0, w=6, h=4)
    note = Tile.objects.create(dashboard=dashboard, text="Hello <b>there</b> [docs](https://example.com)", x=6, y=0, w=6, h=4)
    return dashboard, chart, note


@pytest.fixture
def shared(member):
    """A dashboard with two tiles, shared by the member through the page: (dashboard, chart, note, token)."""
    body = {"events": [{"event": "$pageview", "distinct_id": f"v{i}", "timestamp": (datetime.now(timezone.utc) - timedelta(minutes=i + 1)).isoformat()} for i in range(4)]}
    assert post_events(APIClient(), member.project.api_key, body).status_code == 202
    flush()
    dashboard, chart, note = board(member.project)
    answer = login(member.user).post(reverse("dashboards-share", kwargs={"project_id": member.project.id, "dashboard_id": dashboard.id}), **HTMX)
    assert answer.status_code == 200
    link = re.search(r'data-share-link>(http://testserver/shared/([A-Za-z0-9_-]{43})/)</code>', answer.content.decode())
    assert link, answer.content.decode()
    return dashboard, chart, note, link.group(2)


def test_the_link_is_shown_once_and_only_its_hash_is_kept(member, shared):
    dashboard, chart, note, token = shared
    dashboard.refresh_from_db()
    assert dashboard.share_token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert dashboard.shared_by == member.user and dashboard.shared_at is not None
    assert token not in str(Dashboard.objects.filter(id=dashboard.id).values().get())
    page = login(member.user).get(reverse("dashboards-detail", kwargs={"project_id": member.project.id, "dashboard_id": dashboard.id})).content.decode()
    assert token not in page and "It was shown once" in page and "Revoke the link" in page


def test_the_shared_page_shows_that_dashboard_only_and_is_not_indexed(member, shared):
    dashboard, chart, note, token = shared
    answer = Client().get(f"/shared/{token}/")
    assert answer.status_code == 200
    assert answer["X-Robots-Tag"] == "noindex, nofollow" and "no-store" in answer["Cache-Control"]
    html = answer.content.decode()
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert "Public" in html and "What we show the board" in html
    assert f'hx-get="/shared/{token}/tiles/{chart.id}/"' in html and f"/shared/{token}/tiles/{chart.id}/csv/" in html
    assert "Hello &lt;b&gt;there&lt;/b&gt;" in html and 'rel="nofollow noopener noreferrer"' in html
    # No sidebar, no project switcher, no link into the project, no edit controls.
    assert "sidebar" not in html and "switcher" not in html and "/projects/" not in html
    assert "data-editable" not in html and "data-tile-remove" not in html and "Open the insight" not in html
    # A member who is logged in sees the same public page.
    assert "/projects/" not in login(member.user).get(f"/shared/{token}/").content.decode()


def test_shared_tiles_and_csv_load_through_the_token(member, shared):
    dashboard, chart, note, token = shared
    body = Client().get(f"/shared/{token}/tiles/{chart.id}/", **HTMX)
    assert body.status_code == 200 and body["X-Robots-Tag"] == "noindex, nofollow"
    html = body.content.decode()
    assert re.search(r'data-total="0">4<', html) and "Updated" in html
    assert "refresh=1" not in html and "/projects/" not in html  # visitors read the cache, they cannot force work
    assert "data-from-cache" in Client().get(f"/shared/{token}/tiles/{chart.id}/?refresh=1", **HTMX).content.decode()
    csv = Client().get(f"/shared/{token}/tiles/{chart.id}/csv/")
    assert csv.status_code == 200 and csv["Content-Type"] == "text/csv" and csv.content.decode().splitlines()[-1].endswith(",4")
    assert Client().get(f"/shared/{token}/tiles/{note.id}/", **HTMX).status_code == 200


def test_a_token_reads_only_its_own_dashboards_tiles(member, shared):
    dashboard, chart, note, token = shared
    same_project, their_chart, their_note = board(member.project, name="Private")
    elsewhere, far_chart, _ = board(MembershipFactory().project, name="Elsewhere")
    for tile in (their_chart, their_note, far_chart):
        for path in (f"/shared/{token}/tiles/{tile.id}/", f"/shared/{token}/tiles/{tile.id}/csv/"):
            answer = Client().get(path)
            assert answer.status_code == 404 and answer["X-Robots-Tag"] == "noindex, nofollow", path
    assert "Private" not in Client().get(f"/shared/{token}/").content.decode()


def test_a_share_token_grants_no_api_and_no_page_of_the_project(member, shared):
    dashboard, chart, note, token = shared
    project_id = member.project.id
    kw = {"project_id": project_id, "dashboard_id": dashboard.id}
    apis = [
        reverse("api-dashboards", kwargs={"project_id": project_id}),
        reverse("api-dashboard", kwargs=kw),
        reverse("api-dashboard-tiles", kwargs=kw),
        reverse("api-events", kwargs={"project_id": project_id}),
        reverse("api-saved-insights", kwargs={"project_id": project_id}),
    ]
    for path in apis:
        for headers, query in (
            ({"HTTP_AUTHORIZATION": f"Bearer {token}"}, ""),
            ({"HTTP_AUTHORIZATION": f"Token {token}"}, ""),
            ({"HTTP_X_API_KEY": token}, ""),
            ({}, f"?token={token}"),
        ):
            answer = APIClient().get(path + query, **headers)
            assert answer.status_code in (401, 403), (path, headers, answer.status_code)
        assert APIClient().post(reverse("api-dashboard-layout", kwargs=kw), {"tiles": []}, format="json", HTTP_AUTHORIZATION=f"Bearer {token}").status_code in (401, 403)
    pages = [
        reverse("dashboards-detail", kwargs=kw),
        reverse("dashboards-tile", kwargs={**kw, "tile_id": chart.id}),
        reverse("dashboards-tile-csv", kwargs={**kw, "tile_id": chart.id}),
        reverse("analytics-overview", kwargs={"project_id": project_id}),
    ]
    for path in pages:
        answer = Client().get(f"{path}?token={token}", HTTP_AUTHORIZATION=f"Bearer {token}")
        assert answer.status_code == 302 and "/login/" in answer["Location"], path
    # Nor does it ingest: it is no project key.
    assert post_events(APIClient(), token, {"event": "x", "distinct_id": "y"}).status_code == 401


def test_revoking_or_replacing_a_link_stops_it_at_once(member, shared):
    dashboard, chart, note, token = shared
    client = login(member.user)
    kw = {"project_id": member.project.id, "dashboard_id": dashboard.id}
    renewed = client.post(reverse("dashboards-share", kwargs=kw), **HTMX).content.decode()
    new_token = re.search(r"/shared/([A-Za-z0-9_-]{43})/", renewed).group(1)
    assert new_token != token
    assert Client().get(f"/shared/{token}/").status_code == 404
    assert Client().get(f"/shared/{new_token}/").status_code == 200
    revoked = client.post(reverse("dashboards-share-revoke", kwargs=kw), **HTMX)
    assert "The link was revoked" in revoked.content.decode()
    dashboard.refresh_from_db()
    assert dashboard.share_token_hash is None and dashboard.shared_at is None
    for path in (f"/shared/{new_token}/", f"/shared/{new_token}/tiles/{chart.id}/", f"/shared/{new_token}/tiles/{chart.id}/csv/"):
        answer = Client().get(path)
        assert answer.status_code == 404 and "does not open anything" in answer.content.decode()
        assert answer["X-Robots-Tag"] == "noindex, nofollow"


@pytest.mark.parametrize("token", ["x", "a" * 43, "a" * 44, "%00" + "a" * 42, "../" + "a" * 40])
def test_a_wrong_token_is_a_404(member, shared, token):
    assert Client().get(f"/shared/{token}/").status_code == 404


def test_only_members_share_and_the_dashboards_range_applies(member, shared):
    dashboard, chart, note, token = shared
    viewer = MembershipFactory(project=member.project, role="viewer").user
    kw = {"project_id": member.project.id, "dashboard_id": dashboard.id}
    assert login(viewer).post(reverse("dashboards-share", kwargs=kw)).status_code == 403
    assert login(viewer).post(reverse("dashboards-share-revoke", kwargs=kw)).status_code == 403
    assert login(MembershipFactory().user).post(reverse("dashboards-share", kwargs=kw)).status_code == 404
    boards.dashboard_update(dashboard=dashboard, date_range={"range": "24h"})
    html = Client().get(f"/shared/{token}/").content.decode()
    assert "Last 24 hours" in html
    # A visitor's own range parameters are not used: the saved range is.
    assert "Last 24 hours" in Client().get(f"/shared/{token}/?range=90d").content.decode()


def test_a_shared_chart_carries_no_annotations_of_the_project(member, shared):
    """Notes and their authors are the project's, not part of what a link shares."""
    dashboard, chart, note, token = shared
    annotation_create(project=member.project, user=member.user, at=datetime.now(timezone.utc) - timedelta(hours=1), text="Pricing experiment starts")
    tile_url = reverse("dashboards-tile", kwargs={"project_id": member.project.id, "dashboard_id": dashboard.id, "tile_id": chart.id})
    assert "Pricing experiment starts" in login(member.user).get(tile_url, **HTMX).content.decode()
    public = Client().get(f"/shared/{token}/tiles/{chart.id}/", **HTMX).content.decode()
    assert "Pricing experiment starts" not in public and member.user.username not in public and '"annotations"' not in public
    # Its page, now that the tile is in the cache, has the tile in it: still without the notes.
    page = Client().get(f"/shared/{token}/").content.decode()
    assert "data-from-cache" in page and "Pricing experiment starts" not in page and '"annotate"' not in page
