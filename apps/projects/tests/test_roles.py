"""Each role on each kind of route.

Every URL that takes a ``project_id`` is listed in ``ROUTES`` with what it needs: ``read``
(viewers and up), ``edit`` (members and owners: insights and funnels) or ``own`` (owners:
members, keys, deletion, retention). A route missing from the table fails the suite, so a
new page cannot ship without saying who may use it.

For each role, every route is requested as that role, through the real views and APIs: a
role that may use the route is never answered 403 or 404 (a 400 for a form left empty still
means the request got past the check), one that may not gets 403, and a user of another
project gets 404, as if the project did not exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import pytest
from django.test import Client
from django.urls import URLResolver, get_resolver, reverse

from apps.funnels.services import funnel_create
from apps.persons.selectors import person_by_distinct_id
from apps.projects.models import Membership
from apps.projects.selectors import Access, role_allows
from apps.projects.services import invite_create, personal_api_key_create, server_key_create
from rest_framework.test import APIClient

from conftest import MembershipFactory, ProjectFactory, UserFactory, flush, post_events

STEPS = [{"event": "signed_up", "filters": []}, {"event": "purchase", "filters": []}]
FUNNEL_BODY = {"name": "Roles", "steps": STEPS}


@dataclass
class World:
    """A project with one person, one funnel and three members (owner, member, viewer),
    plus a bystander membership the owner routes act on."""

    project: object
    users: dict
    funnel: object
    spare_funnel: object  # for the second of the two deletions
    person_id: str
    bystander: Membership
    key_ids: dict


@dataclass(frozen=True)
class Route:
    url_name: str
    method: str
    need: str  # "read", "edit" or "own"
    kwargs: Callable[[World, str], dict] = lambda world, role: {}
    data: Callable[[World], dict] = lambda world: {}
    query: str | Callable[[], str] = ""
    api: bool = False  # a JSON API: the body is JSON
    refused: int | None = None  # the answer past the role check when the request itself is wrong on purpose

    @property
    def access(self) -> Access:
        return {"read": Access.READ, "edit": Access.EDIT, "own": Access.OWN}[self.need]


def funnel_kw(world, role):
    return {"funnel_id": world.funnel.id}


def person_kw(world, role):
    return {"person_id": world.person_id}


def invite_kw(world, role):
    issued = invite_create(project=world.project, email=f"roles-{role}@example.org", role="viewer", invited_by=None)
    return {"invite_id": issued.invite.id}


def annotation_kw(world, role):
    """A note written by the role's own user (only its author may edit a note)."""
    from apps.analytics.annotations import annotation_create

    note = annotation_create(project=world.project, user=world.users[role], at=datetime(2025, 6, 1, 10, tzinfo=timezone.utc), text=f"by {role}")
    return {"annotation_id": note.id}


ANNOTATION_FORM = {"at": "2025-06-01T10:00", "text": "From the roles test"}

ALERT_BODY = {"name": "Roles alert", "series": {"event": "signed_up"}, "condition": "above", "threshold": 10}
ALERT_FORM = {"name": "Roles alert", "event": "signed_up", "math": "total", "condition": "above", "threshold": "10",
              "interval": "hour", "every_minutes": "5", "webhook_format": "json", "enabled": "on"}  # fmt: skip


def alert_kw(world, role):
    """An alert of nobody in particular: its signing secret is for the project's owners only."""
    from apps.alerts.services import alert_create

    return {"alert_id": alert_create(project=world.project, user=None, data={**ALERT_BODY, "name": f"Alert of {role}"}).id}


def event_deletion_kw(world, role):
    from apps.ingest.models import EventDeletion

    return {"deletion_id": EventDeletion.objects.create(project=world.project, event="signed_up", timezone="UTC").id}


def event_definition_kw(world, role):
    from apps.ingest.models import EventDefinition

    return {"definition_id": EventDefinition.objects.get(project=world.project, name="signed_up").id}


def insight_kw(world, role):
    from apps.dashboards.models import SavedInsight

    insight = SavedInsight.objects.create(project=world.project, kind="trends", name=f"Roles {role}", query={"events": ["signed_up"]})
    return {"insight_id": insight.id}


INSIGHT_BODY = {"kind": "trends", "name": "Roles", "query": {"events": ["signed_up"], "range": ["7d"]}}


def roles_board(world):
    """A dashboard with an insight tile and a text card (made once per test)."""
    from apps.dashboards.models import Dashboard, SavedInsight, Tile

    board, created = Dashboard.objects.get_or_create(project=world.project, name="Roles board")
    if created:
        insight = SavedInsight.objects.create(project=world.project, kind="trends", name="Roles trend", query={"events": ["signed_up"], "range": ["7d"]})
        Tile.objects.create(dashboard=board, insight=insight, x=0, y=0, w=6, h=4)
        Tile.objects.create(dashboard=board, text="Roles note", x=6, y=0, w=6, h=4)
    return board


def board_kw(world, role):
    return {"dashboard_id": roles_board(world).id}


def board_tile_kw(kind: str):
    def kw(world, role):
        board = roles_board(world)
        return {"dashboard_id": board.id, "tile_id": board.tiles.filter(insight__isnull=(kind == "text")).first().id}

    return kw


def spare_board_kw(world, role):
    from apps.dashboards.models import Dashboard

    return {"dashboard_id": Dashboard.objects.create(project=world.project, name=f"Spare of {role}").id}


def spare_tile_kw(world, role):
    from apps.dashboards.models import Tile

    board = roles_board(world)
    tile = Tile.objects.create(dashboard=board, text=f"Spare of {role}", x=0, y=100 + board.tiles.count(), w=1, h=1)
    return {"dashboard_id": board.id, "tile_id": tile.id}


def layout_data(world) -> dict:
    return {"tiles": [{"id": t.id, "x": t.x, "y": t.y, "w": t.w, "h": t.h} for t in roles_board(world).tiles.all()]}


def editor_data(world) -> dict:
    data = {
        "name": "From the editor",
        "description": "",
        "order_mode": "ordered",
        "window_value": "14",
        "window_unit": "days",
        "breakdown_property": "",
        "editing": "",
        "steps-TOTAL_FORMS": "2",
        "steps-INITIAL_FORMS": "2",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "21",
        "save": "1",
    }
    for i, step in enumerate(("signed_up", "purchase")):
        data.update({f"steps-{i}-event": step, f"steps-{i}-label": "", f"steps-{i}-more_filters": ""})
    return data


READ_PAGES = [
    "project-settings",
    "refused-events",
    "persons-list",
    "ingestion-warnings",
    "analytics-overview",
    "analytics-trends",
    "analytics-trends-csv",
    "analytics-retention",
    "analytics-retention-csv",
    "analytics-stickiness",
    "analytics-stickiness-csv",
    "analytics-lifecycle",
    "analytics-lifecycle-csv",
    "analytics-explorer",
    "analytics-events",
    "analytics-events-csv",
    "analytics-live",
    "analytics-users",
    "funnels-list",
    "web-overview",
    "web-sessions",
    "web-sessions-csv",
    "web-paths",
    "web-paths-csv",
]
READ_APIS = ["api-persons", "api-events", "api-event-definitions", "api-active-users", "api-top-events", "api-overview", "api-funnels"]


def retention_cell() -> str:
    """Today's cohort of a daily retention over the default range (the project is in UTC)."""
    today = datetime.now(timezone.utc).date()
    return f"start_event=signed_up&return_event=signed_up&period=day&cohort={today.isoformat()}&index=0"


# Destructive routes come last, so that what they remove is still there for the others.
ROUTES: list[Route] = [
    *(Route(name, "get", "read") for name in READ_PAGES),
    *(Route(name, "get", "read", api=True) for name in READ_APIS),
    Route("analytics-explorer-new", "get", "read", query="since=2000-01-01T00:00:00%2B00:00"),
    Route("api-trends", "get", "read", query="events=signed_up", api=True),
    Route("api-retention", "get", "read", query=retention_cell, api=True),
    Route("api-stickiness", "get", "read", query="events=signed_up", api=True),
    Route("api-lifecycle", "get", "read", query="event=signed_up", api=True),
    # The test client is a WSGI request: past the checks the stream answers 421 (it is served
    # over ASGI; apps/analytics/tests/test_sse.py streams it).
    Route("api-live-sse", "get", "read", api=True, refused=421),
    # A member's own digest: every role, viewers included.
    Route("digests-settings", "get", "read"),
    Route("digests-settings", "post", "read", data=lambda w: {"frequency": "weekly"}),
    Route("digests-send-now", "post", "read", data=lambda w: {"frequency": "daily"}),
    Route("api-digest-subscription", "get", "read", api=True),
    Route("api-digest-subscription", "put", "read", data=lambda w: {"frequency": "daily"}, api=True),
    Route("web-overview-csv", "get", "read", query="list=pages"),
    Route("web-overview-sessions", "get", "read"),
    Route("api-web-overview", "get", "read", api=True),
    Route("api-sessions", "get", "read", api=True),
    Route("api-paths", "get", "read", api=True),
    Route("analytics-retention-persons", "get", "read", query=retention_cell),
    Route("api-retention-persons", "get", "read", query=retention_cell, api=True),
    Route("person-of-id", "get", "read", query="distinct_id=roles-user"),
    Route("person-detail", "get", "read", kwargs=person_kw),
    Route("api-person", "get", "read", kwargs=person_kw, api=True),
    Route("funnels-detail", "get", "read", kwargs=funnel_kw),
    Route("api-funnel", "get", "read", kwargs=funnel_kw, api=True),
    Route("api-funnel-results", "get", "read", kwargs=funnel_kw, api=True),
    Route("api-funnels-query", "post", "read", data=lambda w: FUNNEL_BODY, api=True),
    Route("personal-key-create", "post", "read", data=lambda w: {"label": "mine"}),
    Route("personal-key-revoke", "post", "read", kwargs=lambda w, role: {"key_id": w.key_ids[role]}),
    Route("insights-list", "get", "read"),
    Route("insights-open", "get", "read", kwargs=insight_kw),
    Route("insights-funnel", "get", "read", query=lambda: "funnel_id=1"),
    Route("api-saved-insights", "get", "read", api=True),
    Route("api-saved-insight", "get", "read", kwargs=insight_kw, api=True),
    Route("api-saved-insight-results", "get", "read", kwargs=insight_kw, api=True),
    Route("insights-new", "get", "edit", query="kind=trends&query=events%3Dsigned_up"),
    Route("insights-new", "post", "edit", data=lambda w: {"kind": "trends", "query": "events=signed_up", "name": "Roles"}),
    Route("insights-update", "post", "edit", kwargs=insight_kw, data=lambda w: {"query": "events=signed_up&range=7d"}),
    Route("insights-rename", "get", "edit", kwargs=insight_kw),
    Route("insights-rename", "post", "edit", kwargs=insight_kw, data=lambda w: {"name": "Renamed", "description": ""}),
    Route("insights-duplicate", "post", "edit", kwargs=insight_kw),
    Route("insights-delete", "get", "edit", kwargs=insight_kw),
    Route("insights-delete", "post", "edit", kwargs=insight_kw),
    Route("api-saved-insights", "post", "edit", data=lambda w: INSIGHT_BODY, api=True),
    Route("api-saved-insight", "patch", "edit", kwargs=insight_kw, data=lambda w: {"name": "Renamed"}, api=True),
    Route("api-saved-insight", "delete", "edit", kwargs=insight_kw, api=True),
    Route("annotations-list", "get", "read"),
    Route("api-annotations", "get", "read", api=True),
    Route("api-annotation", "get", "read", kwargs=annotation_kw, api=True),
    Route("annotations-list", "post", "edit", data=lambda w: ANNOTATION_FORM),
    Route("annotation-edit", "get", "edit", kwargs=annotation_kw),
    Route("annotation-edit", "post", "edit", kwargs=annotation_kw, data=lambda w: ANNOTATION_FORM),
    Route("api-annotations", "post", "edit", data=lambda w: {"at": "2025-06-01T10:00:00Z", "text": "From the API"}, api=True),
    Route("api-annotation", "patch", "edit", kwargs=annotation_kw, data=lambda w: {"text": "Changed"}, api=True),
    Route("annotation-delete", "post", "edit", kwargs=annotation_kw),
    Route("api-annotation", "delete", "edit", kwargs=annotation_kw, api=True),
    Route("alerts-list", "get", "read"),
    Route("alerts-detail", "get", "read", kwargs=alert_kw),
    Route("api-alerts", "get", "read", api=True),
    Route("api-alert", "get", "read", kwargs=alert_kw, api=True),
    Route("alerts-new", "get", "edit"),
    Route("alerts-new", "post", "edit", data=lambda w: ALERT_FORM),
    Route("alerts-edit", "get", "edit", kwargs=alert_kw),
    Route("alerts-edit", "post", "edit", kwargs=alert_kw, data=lambda w: ALERT_FORM),
    Route("alerts-test", "post", "edit", kwargs=alert_kw),
    Route("alerts-snooze", "post", "edit", kwargs=alert_kw, data=lambda w: {"hours": "1"}),
    Route("alerts-rotate", "post", "own", kwargs=alert_kw),
    Route("api-alerts", "post", "edit", data=lambda w: ALERT_BODY, api=True),
    Route("api-alert", "patch", "edit", kwargs=alert_kw, data=lambda w: {"threshold": 5}, api=True),
    Route("api-alert-test", "post", "edit", kwargs=alert_kw, api=True),
    Route("alerts-delete", "post", "edit", kwargs=alert_kw),
    Route("api-alert", "delete", "edit", kwargs=alert_kw, api=True),
    Route("analytics-event-edit", "get", "edit", kwargs=event_definition_kw),
    Route("analytics-event-edit", "post", "edit", kwargs=event_definition_kw, data=lambda w: {"description": "From the roles test"}),
    Route("api-event-definition", "patch", "edit", kwargs=event_definition_kw, data=lambda w: {"description": "From the API"}, api=True),
    Route("dashboards-list", "get", "read"),
    Route("dashboards-home", "get", "read"),
    Route("dashboards-detail", "get", "read", kwargs=board_kw),
    Route("dashboards-tile", "get", "read", kwargs=board_tile_kw("insight")),
    Route("dashboards-tile-csv", "get", "read", kwargs=board_tile_kw("insight")),
    Route("api-dashboards", "get", "read", api=True),
    Route("api-dashboard", "get", "read", kwargs=board_kw, api=True),
    Route("api-dashboard-tiles", "get", "read", kwargs=board_kw, api=True),
    Route("api-dashboard-tile", "get", "read", kwargs=board_tile_kw("text"), api=True),
    Route("dashboards-list", "post", "edit", data=lambda w: {"name": "From the roles test"}),
    Route("dashboards-edit", "get", "edit", kwargs=board_kw),
    Route("dashboards-edit", "post", "edit", kwargs=board_kw, data=lambda w: {"name": "Roles board", "description": ""}),
    Route("dashboards-range", "post", "edit", kwargs=board_kw, data=lambda w: {"range": "7d"}),
    Route("dashboards-share", "post", "edit", kwargs=board_kw),
    Route("dashboards-share-revoke", "post", "edit", kwargs=board_kw),
    Route("dashboards-make-home", "post", "edit", kwargs=spare_board_kw),
    Route("dashboards-tile-new", "get", "edit", kwargs=board_kw),
    Route("dashboards-tile-new", "post", "edit", kwargs=board_kw, data=lambda w: {"kind": "text", "text": "Added by a role"}),
    Route("dashboards-tile-insights", "get", "edit", kwargs=board_kw, query="q=roles"),
    Route("dashboards-tile-edit", "get", "edit", kwargs=board_tile_kw("text")),
    Route("dashboards-tile-edit", "post", "edit", kwargs=board_tile_kw("text"), data=lambda w: {"text": "Edited by a role"}),
    Route("dashboards-delete", "get", "edit", kwargs=spare_board_kw),
    Route("api-dashboards", "post", "edit", data=lambda w: {"name": "From the API"}, api=True),
    Route("api-dashboard", "patch", "edit", kwargs=board_kw, data=lambda w: {"date_range": {"range": "30d"}}, api=True),
    Route("api-dashboard-tiles", "post", "edit", kwargs=board_kw, data=lambda w: {"text": "From the API"}, api=True),
    Route("api-dashboard-tile", "patch", "edit", kwargs=board_tile_kw("text"), data=lambda w: {"text": "Patched"}, api=True),
    Route("api-dashboard-layout", "post", "edit", kwargs=board_kw, data=layout_data, api=True),
    Route("funnels-new", "get", "edit"),
    Route("funnels-new", "post", "edit", data=editor_data),
    Route("funnels-adhoc", "post", "edit", data=editor_data),
    Route("funnels-edit", "get", "edit", kwargs=funnel_kw),
    Route("funnels-edit", "post", "edit", kwargs=funnel_kw, data=editor_data),
    Route("funnels-delete", "get", "edit", kwargs=funnel_kw),
    Route("api-funnels", "post", "edit", data=lambda w: FUNNEL_BODY, api=True),
    Route("api-funnel", "put", "edit", kwargs=funnel_kw, data=lambda w: FUNNEL_BODY, api=True),
    Route("tracking-plan", "get", "read"),
    Route("api-tracking-plan", "get", "read", api=True),
    Route("tracking-plan", "post", "edit", data=lambda w: {"mode": "observe", "allow_dollar_events": "on", "events-0-name": "signed_up"}),
    Route("api-tracking-plan", "put", "edit", data=lambda w: {"mode": "observe", "events": [{"name": "signed_up"}]}, api=True),
    Route("tracking-plan-reset", "post", "edit"),
    Route("project-edit", "post", "own", data=lambda w: {"name": w.project.name, "timezone": "UTC"}),
    Route("project-ingest-key-rotate", "post", "own"),
    Route("ingest-usage", "get", "read"),
    Route("project-ingest-guards", "post", "own", data=lambda w: {"ingest_rate_per_second": "100", "allowed_origins": ""}),
    Route("server-key-create", "post", "own", data=lambda w: {"label": "roles"}),
    Route("server-key-revoke", "post", "own", kwargs=lambda w, role: {"key_id": server_key_create(project=w.project, label="revoke me").key.id}),
    Route("invite-create", "post", "own", data=lambda w: {"login": "roles-new@example.org", "role": "viewer"}),
    Route("invite-revoke", "post", "own", kwargs=invite_kw),
    Route("member-add", "post", "own", data=lambda w: {"login": "nobody-by-that-name", "role": "viewer"}),
    Route("member-role", "post", "own", kwargs=lambda w, role: {"membership_id": w.bystander.id}, data=lambda w: {"role": "viewer"}),
    Route("data-settings", "get", "own"),
    Route("data-retention", "post", "own", data=lambda w: {"retention_days": "3650"}),
    Route("data-events-preview", "post", "own", data=lambda w: {"event": "signed_up"}),
    Route("data-events-deletion", "get", "own", kwargs=event_deletion_kw),
    # A wrong confirmation: past the role check it is a 400, and nothing is deleted.
    Route("person-detail", "post", "own", kwargs=person_kw, data=lambda w: {"confirm": "not the name"}, refused=400),
    Route("data-events-delete", "post", "own", data=lambda w: {"event": "signed_up", "confirm": "not the name"}, refused=400),
    Route("data-project-delete", "post", "own", data=lambda w: {"confirm": "not the name"}, refused=400),
    Route("member-remove", "post", "own", kwargs=lambda w, role: {"membership_id": w.bystander.id}),
    Route("api-person", "delete", "own", kwargs=person_kw, api=True),
    Route("funnels-delete", "post", "edit", kwargs=funnel_kw),
    Route("api-funnel", "delete", "edit", kwargs=lambda w, role: {"funnel_id": w.spare_funnel.id}, api=True),
    Route("dashboards-tile-delete", "post", "edit", kwargs=spare_tile_kw),
    Route("api-dashboard-tile", "delete", "edit", kwargs=spare_tile_kw, api=True),
    Route("dashboards-delete", "post", "edit", kwargs=spare_board_kw),
    Route("api-dashboard", "delete", "edit", kwargs=spare_board_kw, api=True),
]


def project_routes() -> set[str]:
    """The name of every URL pattern that takes a project_id."""

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif "<int:project_id>" in prefix + str(pattern.pattern):
                yield pattern.name

    return set(walk(get_resolver().url_patterns))


def test_every_project_route_says_who_may_use_it():
    missing = project_routes() - {route.url_name for route in ROUTES}
    assert not missing, f"routes with no role in ROUTES: {sorted(missing)}"


@pytest.fixture
def world(db) -> World:
    project = ProjectFactory()
    users = {}
    for role in ("owner", "member", "viewer"):
        users[role] = UserFactory(username=f"roles-{role}")
        MembershipFactory(project=project, user=users[role], role=role)
    users["outsider"] = UserFactory(username="roles-outsider")
    MembershipFactory(user=users["outsider"])  # owns a project of their own
    bystander = MembershipFactory(project=project, user=UserFactory(username="roles-bystander"), role="member")
    assert post_events(APIClient(), project.api_key, {"event": "signed_up", "user_id": "roles-user"}).status_code == 202
    flush()
    person = person_by_distinct_id(project_id=project.id, distinct_id="roles-user")
    funnel = funnel_create(project=project, name="Roles", steps=STEPS, created_by=users["owner"])
    key_ids = {role: personal_api_key_create(user=user, label="revoke me").key.id for role, user in users.items()}
    spare = funnel_create(project=project, name="Spare", steps=STEPS, created_by=users["owner"])
    return World(project, users, funnel, spare, str(person.id), bystander, key_ids)


def request(client: Client, world: World, route: Route, role: str):
    url = reverse(route.url_name, kwargs={"project_id": world.project.id, **route.kwargs(world, role)})
    if route.query:
        url += "?" + (route.query() if callable(route.query) else route.query)
    call = getattr(client, route.method)
    if route.method == "get":
        return call(url)
    if route.api:
        return call(url, route.data(world), content_type="application/json")
    return call(url, route.data(world))


@pytest.mark.parametrize("role", ["owner", "member", "viewer"])
def test_each_role_on_each_route(world, role):
    client = Client()
    client.force_login(world.users[role])
    wrong = []
    for route in ROUTES:
        response = request(client, world, route, role)
        allowed = role_allows(role, route.access)
        if allowed:
            ok = response.status_code == route.refused if route.refused else response.status_code < 400
        else:
            ok = response.status_code == 403
        if not ok:
            wrong.append(f"{route.method.upper()} {route.url_name} ({route.need}): {response.status_code}")
    assert not wrong, f"as {role}, expected {'access' if role == 'owner' else 'access or 403 by need'}:\n" + "\n".join(wrong)


def test_a_user_of_another_project_gets_404_everywhere(world):
    client = Client()
    client.force_login(world.users["outsider"])
    wrong = []
    for route in ROUTES:
        if route.url_name == "personal-key-revoke":
            continue  # keys belong to users, not projects: revoking one's own key is tested above
        if route.url_name == "analytics-users":
            continue  # a permanent redirect to the persons page, which answers 404 (checked too)
        response = request(client, world, route, "outsider")
        if response.status_code != 404:
            wrong.append(f"{route.method.upper()} {route.url_name}: {response.status_code}")
    assert not wrong, "\n".join(wrong)


def test_viewers_are_told_why_and_see_no_edit_buttons(world):
    client = Client()
    client.force_login(world.users["viewer"])
    refused = client.post(reverse("api-funnels", kwargs={"project_id": world.project.id}), FUNNEL_BODY, content_type="application/json")
    assert refused.status_code == 403
    assert "viewer" in refused.json()["message"].lower()
    page = client.get(reverse("funnels-detail", kwargs={"project_id": world.project.id, "funnel_id": world.funnel.id}))
    assert page.status_code == 200
    assert reverse("funnels-edit", kwargs={"project_id": world.project.id, "funnel_id": world.funnel.id}) not in page.content.decode()
    client.force_login(world.users["member"])
    page = client.get(reverse("funnels-detail", kwargs={"project_id": world.project.id, "funnel_id": world.funnel.id}))
    assert reverse("funnels-edit", kwargs={"project_id": world.project.id, "funnel_id": world.funnel.id}) in page.content.decode()


def test_a_personal_api_key_carries_its_users_role(world):
    """The read API with a viewer's key reads, and cannot write."""
    issued = personal_api_key_create(user=world.users["viewer"], label="ci")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    assert api.get(reverse("api-funnels", kwargs={"project_id": world.project.id})).status_code == 200
    created = api.post(reverse("api-funnels", kwargs={"project_id": world.project.id}), FUNNEL_BODY, format="json")
    assert created.status_code == 403
    deleted = api.delete(reverse("api-person", kwargs={"project_id": world.project.id, "person_id": world.person_id}))
    assert deleted.status_code == 403


def test_in_the_admin_a_viewer_reads_funnels_and_a_member_edits_them(world):
    """The admin (where funnels are editable too) applies the same rule."""
    client = Client()
    change = f"/admin/funnels/funnel/{world.funnel.id}/change/"
    for role in ("viewer", "member"):
        world.users[role].is_staff = True
        world.users[role].save()
    client.force_login(world.users["viewer"])
    page = client.get(change).content.decode()
    assert "Roles" in page and 'name="_save"' not in page  # shown read-only
    assert client.post(change, {"name": "Renamed by a viewer"}).status_code == 403
    assert client.get("/admin/funnels/funnel/add/").status_code == 403
    client.force_login(world.users["member"])
    assert 'name="_save"' in client.get(change).content.decode()
    assert client.get("/admin/funnels/funnel/add/").status_code == 200
