"""Server keys, limits and allowed origins on the project settings page: owners only, secrets
shown once and stored hashed, bad origins refused naming the field, every change audited."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.projects.models import AuditEntry, Membership, Project, ServerKey
from apps.projects.selectors import project_for_ingest_key, project_key_cache_clear
from apps.projects.services import project_ingest_guards_update, server_key_create, server_key_revoke
from conftest import MembershipFactory, UserFactory, post_events

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def key_cache():
    project_key_cache_clear()
    yield
    project_key_cache_clear()


@pytest.fixture
def owner_client(client, member):
    client.force_login(member.user)
    return client


def url(name: str, project: Project, **kwargs) -> str:
    return reverse(name, kwargs={"project_id": project.id, **kwargs})


def guards_form(**overrides) -> dict:
    data = {"ingest_rate_per_second": "", "ingest_burst": "", "ingest_daily_quota": "", "allowed_origins": ""}
    data.update(overrides)
    return data


# --- Server keys ------------------------------------------------------------------------------


def test_a_server_key_is_shown_once_and_only_its_hash_is_stored(owner_client, member):
    response = owner_client.post(url("server-key-create", member.project), {"label": "Checkout backend"}, **HTMX)
    assert response.status_code == 200
    secret = re.search(r'id="new-server-key-secret">(pbs_[\w-]+)<', response.content.decode()).group(1)
    assert "no-store" in response["Cache-Control"]
    key = ServerKey.objects.get(project=member.project)
    assert key.label == "Checkout backend" and key.prefix == secret[:10]
    assert key.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ServerKey.objects.filter(pk=key.pk).values().first())
    # It writes to the project, and the settings page never shows it again.
    assert post_events(APIClient(), secret, {"event": "e", "distinct_id": "d"}).status_code == 202
    page = owner_client.get(url("project-settings", member.project)).content.decode()
    assert secret not in page and key.prefix in page and "Checkout backend" in page
    entry = AuditEntry.objects.get(project=member.project, action=AuditEntry.Action.SERVER_KEY_CREATED)
    assert entry.actor == member.user and key.prefix in entry.summary


def test_a_server_key_without_a_label_is_refused(owner_client, member):
    response = owner_client.post(url("server-key-create", member.project), {"label": " "}, **HTMX)
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not ServerKey.objects.exists()


def test_revoking_a_server_key_stops_it_at_once_and_is_audited(owner_client, member):
    issued = server_key_create(project=member.project, label="cron")
    assert project_for_ingest_key(api_key=issued.secret).project_id == member.project.id  # cached now
    response = owner_client.post(url("server-key-revoke", member.project, key_id=issued.key.id), **HTMX)
    assert response.status_code == 200 and "revoked" in response.content.decode()
    assert project_for_ingest_key(api_key=issued.secret) is None
    assert post_events(APIClient(), issued.secret, {"event": "e", "distinct_id": "d"}).status_code == 401
    issued.key.refresh_from_db()
    assert issued.key.revoked_at is not None
    assert AuditEntry.objects.filter(project=member.project, action=AuditEntry.Action.SERVER_KEY_REVOKED).count() == 1
    # Again: nothing changes, nothing more is recorded.
    assert not server_key_revoke(key=issued.key)
    assert AuditEntry.objects.filter(project=member.project, action=AuditEntry.Action.SERVER_KEY_REVOKED).count() == 1


def test_a_server_key_of_another_project_cannot_be_revoked_here(owner_client, member):
    other = MembershipFactory().project
    issued = server_key_create(project=other, label="theirs")
    response = owner_client.post(url("server-key-revoke", member.project, key_id=issued.key.id))
    assert response.status_code == 404
    issued.key.refresh_from_db()
    assert issued.key.revoked_at is None


def test_a_server_key_identifies_its_project_only(member):
    other = MembershipFactory().project
    issued = server_key_create(project=other, label="theirs")
    target = project_for_ingest_key(api_key=issued.secret)
    assert target.project_id == other.id and target.server_key and target.key_id == f"server-{issued.key.id}"
    assert project_for_ingest_key(api_key=issued.secret[:-1] + ("A" if issued.secret[-1] != "A" else "B")) is None


@pytest.mark.parametrize("role", [Membership.Role.MEMBER, Membership.Role.VIEWER])
def test_only_owners_manage_server_keys_and_limits(client, member, role):
    user = UserFactory()
    MembershipFactory(project=member.project, user=user, role=role)
    client.force_login(user)
    issued = server_key_create(project=member.project, label="cron")
    assert client.post(url("server-key-create", member.project), {"label": "x"}).status_code == 403
    assert client.post(url("server-key-revoke", member.project, key_id=issued.key.id)).status_code == 403
    assert client.post(url("project-ingest-guards", member.project), guards_form(ingest_rate_per_second="1")).status_code == 403
    page = client.get(url("project-settings", member.project)).content.decode()
    assert "Only owners can create and revoke server keys." in page and "Only owners can change these." in page
    assert ServerKey.objects.filter(project=member.project).count() == 1
    member.project.refresh_from_db()
    assert member.project.ingest_rate_per_second is None


# --- Limits and origins -----------------------------------------------------------------------


def test_saving_limits_and_origins(owner_client, member):
    data = guards_form(
        ingest_rate_per_second="20",
        ingest_burst="100",
        ingest_daily_quota="5000",
        allowed_origins="https://Shop.Example.com/\n*.example.org, http://localhost:3000\nhttps://shop.example.com",
        require_server_key="on",
    )
    response = owner_client.post(url("project-ingest-guards", member.project), data, **HTMX)
    assert response.status_code == 200 and "Limits and origins saved." in response.content.decode()
    project = Project.objects.get(pk=member.project.pk)
    assert (project.ingest_rate_per_second, project.ingest_burst, project.ingest_daily_quota) == (20, 100, 5000)
    assert project.allowed_origins == ["https://shop.example.com", "*.example.org", "http://localhost:3000"]
    assert project.require_server_key is True
    entry = AuditEntry.objects.get(project=project, action=AuditEntry.Action.INGEST_GUARDS_CHANGED)
    assert entry.details["ingest_rate_per_second"] == {"from": None, "to": 20}
    assert "rate limit" in entry.summary and "allowed origins" in entry.summary
    # Saving the same again changes nothing and records nothing.
    owner_client.post(url("project-ingest-guards", member.project), data, **HTMX)
    assert AuditEntry.objects.filter(project=project, action=AuditEntry.Action.INGEST_GUARDS_CHANGED).count() == 1


def test_a_saved_limit_applies_to_the_cached_key_at_once(owner_client, member):
    assert project_for_ingest_key(api_key=member.project.api_key).rate_per_second is None  # cached
    owner_client.post(url("project-ingest-guards", member.project), guards_form(ingest_rate_per_second="3"))
    target = project_for_ingest_key(api_key=member.project.api_key)
    assert (target.rate_per_second, target.burst) == (3, 30)


@pytest.mark.parametrize("origin", ["shop.example.com", "ftp://shop.example.com", "https://shop.example.com/checkout", "https://*"])
def test_an_origin_that_is_not_a_host_is_a_400_naming_the_field(owner_client, member, origin):
    response = owner_client.post(url("project-ingest-guards", member.project), guards_form(allowed_origins=f"https://ok.example.com\n{origin}"))
    assert response.status_code == 400
    page = response.content.decode()
    assert re.search(r'<div class="field has-error">\s*<label for="id_allowed_origins"', page)
    assert "is not an origin" in page or "wildcard" in page
    member.project.refresh_from_db()
    assert member.project.allowed_origins == []


def test_an_origin_error_through_htmx_shows_the_section_with_the_error(owner_client, member):
    response = owner_client.post(url("project-ingest-guards", member.project), guards_form(allowed_origins="example.com"), **HTMX)
    assert response.status_code == 200
    page = response.content.decode()
    assert page.lstrip().startswith('<section class="card" id="limits">')
    assert "&#x27;example.com&#x27; is not an origin" in page


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("ingest_rate_per_second", "0", "greater than or equal to 1"),
        ("ingest_rate_per_second", "fast", "Enter a whole number."),
        ("ingest_daily_quota", "-5", "greater than or equal to 1"),
        ("ingest_burst", "10", "A burst needs a rate"),
    ],
)
def test_bad_limits_are_refused_naming_the_field(owner_client, member, field, value, message):
    response = owner_client.post(url("project-ingest-guards", member.project), guards_form(**{field: value}))
    assert response.status_code == 400
    page = response.content.decode()
    assert re.search(rf'<div class="field has-error">\s*<label for="id_{field}"', page)
    assert message in page


def test_the_service_refuses_bad_origins_naming_the_field(member):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        project_ingest_guards_update(
            project=member.project, rate_per_second=None, burst=None, daily_quota=None, allowed_origins=["nope"], require_server_key=False
        )
    assert "allowed_origins" in caught.value.message_dict


# --- Usage ------------------------------------------------------------------------------------


def test_usage_shows_each_keys_bucket_and_count_today(owner_client, member):
    project_ingest_guards_update(
        project=member.project, rate_per_second=1, burst=50, daily_quota=1000, allowed_origins=[], require_server_key=False
    )
    issued = server_key_create(project=member.project, label="Checkout backend")
    client = APIClient()
    assert post_events(client, member.project.api_key, {"events": [{"event": "e", "distinct_id": "d"}] * 40}).status_code == 202
    assert post_events(client, issued.secret, {"events": [{"event": "e", "distinct_id": "d"}] * 7}).status_code == 202
    response = owner_client.get(url("ingest-usage", member.project), **HTMX)
    assert response.status_code == 200
    rows = re.findall(r"<tr>(.*?)</tr>", response.content.decode(), re.S)
    public = next(row for row in rows if "Public ingest key" in row)
    server = next(row for row in rows if "Checkout backend" in row)
    # 40 taken, and the bucket refills at 1 a second while the test runs.
    assert re.search(r"(1[0-9]) of 50 events free", public)
    assert "40 of 1000" in public and "4%" in public
    assert re.search(r"4[3-9] of 50 events free", server) and "7 of 1000" in server


def test_usage_without_limits_says_nothing_is_counted(owner_client, member):
    response = owner_client.get(url("ingest-usage", member.project))
    assert response.status_code == 200
    assert "No rate limit or quota is set" in response.content.decode()


def test_usage_with_redis_down_says_so_instead_of_failing(owner_client, member):
    from django.test import override_settings

    project_ingest_guards_update(
        project=member.project, rate_per_second=5, burst=None, daily_quota=None, allowed_origins=[], require_server_key=False
    )
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = owner_client.get(url("ingest-usage", member.project), **HTMX)
    assert response.status_code == 200
    assert "Redis does not answer" in response.content.decode()
