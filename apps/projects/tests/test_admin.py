"""The Django admin for project owners: a staff user who is not a superuser sees only the
projects they are a member of, read-only, and none of the users, keys, memberships or
ingest records. Superusers keep everything."""

from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from apps.ingest.models import EventDefinition, IngestRequest
from apps.projects.models import Project
from conftest import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

SUPERUSER_ONLY = [
    "auth/user",
    "auth/group",
    "projects/membership",
    "projects/personalapikey",
    "ingest/ingestrequest",
]


@pytest.fixture
def tenants(db):
    a = MembershipFactory(user=UserFactory(is_staff=True), project__name="Alpha project")
    b = MembershipFactory(user=UserFactory(is_staff=True), project__name="Bravo project")
    now = timezone.now()
    for membership, name in [(a, "alpha_event"), (b, "bravo_event")]:
        EventDefinition.objects.create(project=membership.project, name=name, first_seen=now, last_seen=now)
        IngestRequest.objects.create(project=membership.project, idempotency_key=f"{name}-key", response={"accepted": 1})
    client = Client()
    client.force_login(a.user)
    return SimpleNamespace(a=a, b=b, client=client)


def test_bootstrap_users_of_two_projects_cannot_reach_each_other_in_the_admin():
    """The reported hole: every `manage.py bootstrap` login could open any project in the admin."""
    logins = {}
    for name in ("alpha", "bravo"):
        out = StringIO()
        call_command("bootstrap", f"--username={name}", "--password=s3cret-pass", f"--project={name} shop", stdout=out)
        logins[name] = Project.objects.get(name=f"{name} shop")
    client = Client()
    assert client.login(username="alpha", password="s3cret-pass")
    bravo = logins["bravo"]

    assert client.get("/admin/").status_code == 200  # staff: the admin is open to them
    assert client.get(f"/admin/projects/project/{bravo.id}/change/").status_code == 302
    listing = client.get("/admin/projects/project/").content.decode()
    assert "alpha shop" in listing and "bravo shop" not in listing
    assert bravo.api_key not in client.get(f"/admin/projects/project/{logins['alpha'].id}/change/").content.decode()
    assert client.get("/admin/auth/user/").status_code == 403


@pytest.mark.parametrize("path", SUPERUSER_ONLY)
def test_users_keys_members_and_ingest_requests_are_for_superusers_only(tenants, path):
    assert f"/admin/{path}/" not in tenants.client.get("/admin/").content.decode()
    assert tenants.client.get(f"/admin/{path}/").status_code == 403
    assert tenants.client.get(f"/admin/{path}/add/").status_code == 403


def test_superuser_only_objects_cannot_be_opened_by_id(tenants):
    membership_b = tenants.b
    request_a = IngestRequest.objects.get(project=tenants.a.project)
    for url in [
        f"/admin/projects/membership/{membership_b.id}/change/",
        f"/admin/auth/user/{membership_b.user.id}/change/",
        f"/admin/auth/user/{tenants.a.user.id}/change/",  # not even their own user: that would let them make themselves superuser
        f"/admin/ingest/ingestrequest/{request_a.id}/change/",
    ]:
        assert tenants.client.get(url).status_code in (302, 403), url
    response = tenants.client.post(f"/admin/auth/user/{tenants.a.user.id}/change/", {"is_superuser": "on"})
    assert response.status_code in (302, 403)
    tenants.a.user.refresh_from_db()
    assert not tenants.a.user.is_superuser


def test_user_autocomplete_is_closed_to_non_superusers(tenants):
    response = tenants.client.get("/admin/autocomplete/?app_label=projects&model_name=membership&field_name=user")
    assert response.status_code == 403
    assert tenants.b.user.username not in response.content.decode()


def test_projects_are_listed_and_viewed_read_only_and_only_the_users_own(tenants):
    a, b = tenants.a.project, tenants.b.project
    listing = tenants.client.get("/admin/projects/project/").content.decode()
    assert "Alpha project" in listing and "Bravo project" not in listing and b.api_key not in listing

    page = tenants.client.get(f"/admin/projects/project/{a.id}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Alpha project" in html and 'name="_save"' not in html and b.api_key not in html

    for step in ("change", "history"):
        response = tenants.client.get(f"/admin/projects/project/{b.id}/{step}/")
        assert response.status_code == 302 and response.url == "/admin/"
    # Deleting is refused before the project is even looked up, as for their own.
    assert tenants.client.get(f"/admin/projects/project/{b.id}/delete/").status_code == 403
    autocomplete = tenants.client.get("/admin/autocomplete/?app_label=projects&model_name=membership&field_name=project")
    assert autocomplete.json()["results"] == [{"id": str(a.id), "text": "Alpha project"}]


def test_projects_cannot_be_added_changed_deleted_or_rekeyed(tenants):
    a, b = tenants.a.project, tenants.b.project
    keys = {a.id: a.api_key, b.id: b.api_key}
    assert tenants.client.get("/admin/projects/project/add/").status_code == 403
    assert tenants.client.post("/admin/projects/project/add/", {"name": "New", "timezone": "UTC"}).status_code == 403
    assert tenants.client.post(f"/admin/projects/project/{a.id}/change/", {"name": "Renamed", "timezone": "UTC"}).status_code == 403
    assert tenants.client.post(f"/admin/projects/project/{b.id}/change/", {"name": "Renamed", "timezone": "UTC"}).status_code == 403
    assert tenants.client.post(f"/admin/projects/project/{a.id}/delete/", {"post": "yes"}).status_code == 403
    for action in ("rotate_api_key", "delete_selected"):
        tenants.client.post("/admin/projects/project/", {"action": action, "_selected_action": [str(a.id), str(b.id)], "post": "yes"})
    assert {p.id: p.api_key for p in Project.objects.filter(id__in=keys)} == keys
    assert Project.objects.filter(name="Renamed").count() == 0 and Project.objects.filter(name="New").count() == 0


def test_event_catalog_shows_only_the_users_projects_read_only(tenants):
    listing = tenants.client.get("/admin/ingest/eventdefinition/").content.decode()
    assert "alpha_event" in listing and "bravo_event" not in listing and "Bravo project" not in listing
    theirs = EventDefinition.objects.get(name="bravo_event")
    assert tenants.client.get(f"/admin/ingest/eventdefinition/{theirs.id}/change/").status_code == 302
    ours = EventDefinition.objects.get(name="alpha_event")
    assert tenants.client.get(f"/admin/ingest/eventdefinition/{ours.id}/change/").status_code == 200
    assert tenants.client.post(f"/admin/ingest/eventdefinition/{ours.id}/delete/", {"post": "yes"}).status_code == 403
    assert EventDefinition.objects.filter(id=ours.id).exists()


def test_members_who_are_not_staff_have_no_admin(tenants):
    client = Client()
    client.force_login(MembershipFactory(project=tenants.a.project, user=UserFactory(is_staff=False)).user)
    response = client.get("/admin/projects/project/")
    assert response.status_code == 302 and response.url.startswith("/admin/login/")


def test_superusers_keep_everything(admin_client, tenants):
    for path in ["projects/project", *SUPERUSER_ONLY, "ingest/eventdefinition"]:
        assert admin_client.get(f"/admin/{path}/").status_code == 200, path
    listing = admin_client.get("/admin/projects/project/").content.decode()
    assert "Alpha project" in listing and "Bravo project" in listing
    page = admin_client.get(f"/admin/projects/project/{tenants.b.project.id}/change/").content.decode()
    assert 'name="_save"' in page and tenants.b.project.api_key in page


def test_not_even_a_superuser_deletes_a_project_in_the_admin(admin_client, db):
    """It would leave the project's rows in ClickHouse: the Data page deletes projects."""
    project = MembershipFactory().project
    assert admin_client.get(f"/admin/projects/project/{project.id}/delete/").status_code == 403
    assert admin_client.post("/admin/projects/project/", {"action": "delete_selected", "_selected_action": [str(project.id)], "post": "yes"}).status_code in (200, 302)
    assert Project.objects.filter(id=project.id).exists()
