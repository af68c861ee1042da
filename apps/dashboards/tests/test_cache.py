"""The tile cache: a reload answers from Redis until the project's data changes. Stored
batches (the after-storage hook) and deletions of events, of a person and by retention (the
changed-data hook) move the project's watermark, and the next load shows the new figures.
Real Redis, chdb and the real flush."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from apps.analytics.annotations import annotation_create
from apps.dashboards import cache
from apps.dashboards.models import Dashboard, SavedInsight, Tile
from apps.funnels.services import funnel_create, funnel_update
from apps.ingest import hooks, lifecycle, stream
from apps.ingest import services as ingest_services
from apps.persons.selectors import person_by_distinct_id
from apps.persons.services import person_deletion_request, person_deletion_run
from apps.projects.models import Project
from conftest import PASSWORD, MembershipFactory, flush, post_events

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def browser(member) -> Client:
    client = Client()
    assert client.login(username=member.user.username, password=PASSWORD)
    return client


def days_ending_today(days: int) -> dict:
    today = datetime.now(timezone.utc).date()
    return {"date_from": [(today - timedelta(days=days - 1)).isoformat()], "date_to": [today.isoformat()]}


def send(project, events: list[tuple[str, str, datetime]]) -> None:
    body = {"events": [{"event": e, "distinct_id": who, "timestamp": at.isoformat()} for e, who, at in events]}
    assert post_events(APIClient(), project.api_key, body).status_code == 202
    flush()


def wait_for_watermark(project_id: int, above: int, seconds: float = 10) -> int:
    """The after-storage hook runs on a thread of its own: wait until it moved the watermark."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = cache.watermark_get(project_id)
        if value > above:
            return value
        time.sleep(0.02)
    pytest.fail(f"the watermark of project {project_id} stayed at {above}")


def tile(project, query: dict | None = None) -> Tile:
    dashboard = Dashboard.objects.create(project=project, name="Cached")
    insight = SavedInsight.objects.create(project=project, kind="trends", name="Views", query=query or {"events": ["$pageview"], **days_ending_today(3)})
    return Tile.objects.create(dashboard=dashboard, insight=insight, x=0, y=0, w=6, h=4)


def load(browser, t: Tile, query: str = "") -> str:
    target = reverse("dashboards-tile", kwargs={"project_id": t.dashboard.project_id, "dashboard_id": t.dashboard_id, "tile_id": t.id})
    answer = browser.get(target + query, **HTMX)
    assert answer.status_code == 200
    return answer.content.decode()


def total(html: str) -> int:
    match = re.search(r'data-total="0">([\d,]+)<', html)
    assert match, html
    return int(match.group(1).replace(",", ""))


def cached(html: str) -> bool:
    return "data-from-cache" in html


def test_a_reload_answers_from_the_cache_until_new_events_are_stored(member, browser):
    now = datetime.now(timezone.utc)
    send(member.project, [("$pageview", "ann", now - timedelta(minutes=3)), ("$pageview", "bob", now - timedelta(minutes=2))])
    watermark = cache.watermark_get(member.project.id)
    t = tile(member.project)

    first = load(browser, t)
    assert total(first) == 2 and not cached(first)
    again = load(browser, t)
    assert total(again) == 2 and cached(again) and "Updated just now" in again
    assert cache.tiles_cached(project_id=member.project.id) == 1

    send(member.project, [("$pageview", "cat", now - timedelta(minutes=1))])
    wait_for_watermark(member.project.id, above=watermark)
    fresh = load(browser, t)
    assert total(fresh) == 3 and not cached(fresh)
    assert cached(load(browser, t))


def test_a_reload_of_the_dashboard_has_its_cached_tiles_in_the_page(member, browser):
    """Tiles in the cache come with the page (one request); the others load on their own,
    and after new data every tile loads on its own again."""
    now = datetime.now(timezone.utc)
    send(member.project, [("$pageview", "ann", now - timedelta(minutes=2))])
    t = tile(member.project)
    other = Tile.objects.create(dashboard=t.dashboard, insight=SavedInsight.objects.create(project=member.project, kind="trends", name="Sign-ups", query={"events": ["signed_up"]}), x=6, y=0, w=6, h=4)
    page_url = reverse("dashboards-detail", kwargs={"project_id": member.project.id, "dashboard_id": t.dashboard_id})

    def page() -> str:
        answer = browser.get(page_url)
        assert answer.status_code == 200
        return answer.content.decode()

    assert page().count('hx-trigger="load"') == 2 and "data-from-cache" not in page()
    load(browser, t)  # the tile's own request fills the cache
    html = page()
    assert html.count('hx-trigger="load"') == 1 and f'/tiles/{other.id}/' in html
    inline = html[html.index(f'id="tile-{t.id}"'):]
    assert total(inline) == 1 and cached(inline) and f'id="tile-{t.id}-chart"' in inline
    assert "Refresh" in inline

    # Refresh has every tile computed afresh: none comes with the page.
    assert browser.get(page_url + "?refresh=1").content.decode().count('hx-trigger="load"') == 2

    watermark = cache.watermark_get(member.project.id)
    send(member.project, [("$pageview", "bob", now - timedelta(minutes=1))])
    wait_for_watermark(member.project.id, above=watermark)
    assert page().count('hx-trigger="load"') == 2


def test_the_stored_hook_moves_only_the_projects_that_got_rows(member):
    other = MembershipFactory().project
    before = {p.id: cache.watermark_get(p.id) for p in (member.project, other)}
    send(member.project, [("$pageview", "ann", datetime.now(timezone.utc))])
    wait_for_watermark(member.project.id, above=before[member.project.id])
    assert cache.watermark_get(other.id) == before[other.id]
    cache.watermarks_bump_stored([hooks.StoredRows(project_id=other.id, count=0, rows=b"")])
    assert cache.watermark_get(other.id) == before[other.id]


def test_a_batch_the_after_storage_hook_drops_still_moves_the_watermark(member, browser, monkeypatch):
    """The after-storage hook is best effort (a full queue drops batches); the flush itself
    moves the watermark once the rows are in ClickHouse, so no cached tile outlives new data."""
    now = datetime.now(timezone.utc)
    send(member.project, [("$pageview", "ann", now - timedelta(minutes=2))])
    t = tile(member.project)
    assert total(load(browser, t)) == 1 and cached(load(browser, t))
    monkeypatch.setattr(ingest_services, "stored_notify", lambda *, stored: None)  # every batch dropped
    send(member.project, [("$pageview", "bob", now - timedelta(minutes=1))])
    fresh = load(browser, t)
    assert total(fresh) == 2 and not cached(fresh)


def test_deleting_events_invalidates_the_cache(member, browser):
    now = datetime.now(timezone.utc)
    send(member.project, [("$pageview", "ann", now - timedelta(minutes=3)), ("$pageview", "bob", now - timedelta(minutes=2)), ("signed_up", "bob", now)])
    t = tile(member.project)
    assert total(load(browser, t)) == 2
    watermark = cache.watermark_get(member.project.id)
    assert cached(load(browser, t))

    deletion = lifecycle.event_deletion_request(project=member.project, user=member.user, event="$pageview", date_from=None, date_to=None, confirm=member.project.name)
    lifecycle.event_deletion_run(deletion=deletion)
    assert cache.watermark_get(member.project.id) > watermark  # at once, in the deleting process
    after = load(browser, t)
    assert not cached(after) and "Nothing counted in this period" in after


def test_deleting_a_person_invalidates_the_cache(member, browser):
    now = datetime.now(timezone.utc)
    send(member.project, [("$pageview", "ann", now - timedelta(minutes=3)), ("$pageview", "bob", now - timedelta(minutes=2))])
    t = tile(member.project)
    assert total(load(browser, t)) == 2 and cached(load(browser, t))
    watermark = cache.watermark_get(member.project.id)
    person = person_by_distinct_id(project_id=member.project.id, distinct_id="bob")
    deletion = person_deletion_request(project_id=member.project.id, person_key=person.key, distinct_ids=person.distinct_ids, user=member.user)
    person_deletion_run(deletion=deletion)
    assert cache.watermark_get(member.project.id) > watermark
    after = load(browser, t)
    assert not cached(after) and total(after) == 1


def test_retention_invalidates_the_cache(member, browser):
    now = datetime.now(timezone.utc)
    send(member.project, [("$pageview", "ann", now - timedelta(days=5)), ("$pageview", "bob", now - timedelta(minutes=2))])
    t = tile(member.project, query={"events": ["$pageview"], **days_ending_today(10)})
    assert total(load(browser, t)) == 2 and cached(load(browser, t))
    lifecycle.retention_set(project=member.project, days=2, actor=member.user)
    assert lifecycle.retention_apply(project=Project.objects.get(id=member.project.id))
    after = load(browser, t)
    assert not cached(after) and total(after) == 1


def test_editing_a_funnel_or_an_annotation_invalidates_the_tiles(member):
    funnel = funnel_create(project=member.project, name="F", steps=[{"event": "a", "filters": []}, {"event": "b", "filters": []}])
    watermark = cache.watermark_get(member.project.id)
    funnel_update(funnel=funnel, name="F", steps=[{"event": "a", "filters": []}, {"event": "c", "filters": []}])
    assert cache.watermark_get(member.project.id) > watermark
    watermark = cache.watermark_get(member.project.id)
    note = annotation_create(project=member.project, user=member.user, at=datetime.now(timezone.utc), text="Launch")
    assert cache.watermark_get(member.project.id) > watermark
    watermark = cache.watermark_get(member.project.id)
    note.delete()
    assert cache.watermark_get(member.project.id) > watermark


def test_refresh_skips_the_cache_and_stores_the_new_result(member, browser):
    send(member.project, [("$pageview", "ann", datetime.now(timezone.utc) - timedelta(minutes=1))])
    t = tile(member.project)
    load(browser, t)
    client = stream.client()
    (key,) = list(client.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}:tile:{member.project.id}:*"))
    ttl = client.ttl(key)
    assert 0 < ttl <= cache.TILE_TTL_SECONDS  # nothing lives in Redis for ever
    # Spoil the entry: a plain reload shows it, Refresh computes afresh and replaces it.
    client.set(key, b'{"html": "<p>stale</p>", "at": 0}', ex=60)
    assert "stale" in load(browser, t)
    refreshed = load(browser, t, "?refresh=1")
    assert "stale" not in refreshed and total(refreshed) == 1 and not cached(refreshed)
    assert "stale" not in load(browser, t)


def test_the_key_holds_what_the_tile_shows(member):
    t = tile(member.project)
    project, insight = member.project, t.insight
    base = cache.tile_digest(project=project, insight=insight, override=None)
    assert cache.tile_digest(project=project, insight=insight, override=None) == base
    assert cache.tile_digest(project=project, insight=insight, override={"range": ["7d"]}) != base
    project.timezone = "Europe/Berlin"
    assert cache.tile_digest(project=project, insight=insight, override=None) != base
    project.timezone = "UTC"
    insight.query = {**insight.query, "math": ["unique"]}
    assert cache.tile_digest(project=project, insight=insight, override=None) != base
    # Another project's same insight never shares an entry: the project leads the key.
    other = MembershipFactory().project
    assert cache._tile_key(project.id, 1, base) != cache._tile_key(other.id, 1, base)


def test_a_sliding_range_moves_on_with_the_hour_a_fixed_one_does_not(member):
    sliding = tile(member.project, query={"events": ["$pageview"], "range": ["7d"]}).insight
    fixed = tile(member.project).insight
    start = datetime.now(timezone.utc).replace(minute=10)
    with time_machine.travel(start, tick=False):
        digests = [cache.tile_digest(project=member.project, insight=i, override=None) for i in (sliding, fixed)]
        overridden = cache.tile_digest(project=member.project, insight=fixed, override={"range": ["7d"]})
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        assert cache.tile_digest(project=member.project, insight=sliding, override=None) != digests[0]
        assert cache.tile_digest(project=member.project, insight=fixed, override=None) == digests[1]
        assert cache.tile_digest(project=member.project, insight=fixed, override={"range": ["7d"]}) != overridden


def test_tiles_are_still_shown_when_redis_fails(member, browser, settings):
    send(member.project, [("$pageview", "ann", datetime.now(timezone.utc) - timedelta(minutes=1))])
    t = tile(member.project)
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    html = load(browser, t)
    assert total(html) == 1 and not cached(html)
