"""The login, project list and settings pages, through the test client as a browser would."""

import json
import re
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.projects.models import Membership, PersonalAPIKey, Project
from apps.projects.selectors import personal_api_key_get, project_for_ingest_key
from conftest import PASSWORD, MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def settings_url(project) -> str:
    return reverse("project-settings", kwargs={"project_id": project.id})


@pytest.fixture
def owner_client(client, member):
    client.force_login(member.user)
    return client


def add_member(project, role=Membership.Role.MEMBER, **user_fields):
    return MembershipFactory(project=project, user=UserFactory(**user_fields), role=role)


# --- Login, logout, home --------------------------------------------------------------------


def test_login_page_renders_and_logs_in(client, member):
    page = client.get("/login/")
    assert page.status_code == 200
    assert b'name="password"' in page.content

    response = client.post("/login/", {"username": member.user.username, "password": PASSWORD}, follow=True)
    assert response.status_code == 200
    assert response.context["user"] == member.user
    assert member.project.name in response.content.decode()


def test_login_respects_next(client, member):
    target = settings_url(member.project)
    response = client.post(f"/login/?next={target}", {"username": member.user.username, "password": PASSWORD, "next": target})
    assert response.status_code == 302 and response.url == target


def test_wrong_password_shows_an_error(client, member):
    response = client.post("/login/", {"username": member.user.username, "password": "not the password"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert not response.context["user"].is_authenticated


# --- Login throttling -------------------------------------------------------------------------

LIMIT = settings.LOGIN_FAILURE_LIMIT


def login_as(client: Client, username: str, password: str, url: str = "/login/", ip: str = "192.0.2.10", **headers):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip, **headers)


def assert_locked_out(response) -> None:
    assert response.status_code == 429
    html = response.content.decode()
    assert "<title>Too many failed logins" in html and 'class="topbar"' not in html and "app.css" in html  # the site's own page
    minutes = settings.LOGIN_COOLOFF_MINUTES
    assert f"Try again in {minutes} minutes" in html
    assert response["Retry-After"] == str(minutes * 60)


def test_the_login_form_locks_an_account_after_the_failure_limit(client, member):
    for attempt in range(1, LIMIT):
        response = login_as(client, member.user.username, f"wrong {attempt}")
        assert response.status_code == 200 and "Please enter a correct username and password" in response.content.decode()
    assert_locked_out(login_as(client, member.user.username, "wrong again"))

    # The right password is refused now, and nobody is logged in.
    assert_locked_out(login_as(client, member.user.username, PASSWORD))
    assert client.get(settings_url(member.project)).status_code == 302


def test_the_admin_login_is_locked_as_well(client, member):
    member.user.is_staff = True
    member.user.save()
    for attempt in range(LIMIT - 1):
        assert login_as(client, member.user.username, "wrong", url="/admin/login/").status_code == 200
    assert_locked_out(login_as(client, member.user.username, "wrong", url="/admin/login/"))
    assert_locked_out(login_as(client, member.user.username, PASSWORD, url="/admin/login/"))
    assert client.get("/admin/").status_code == 302  # still the admin's login


def test_failures_on_the_form_lock_the_admin_login_and_back(client, member):
    for _ in range(LIMIT):
        login_as(client, member.user.username, "wrong")
    assert_locked_out(login_as(client, member.user.username, PASSWORD, url="/admin/login/"))


def test_one_address_trying_many_accounts_is_locked(client, member):
    for i in range(LIMIT):
        login_as(client, f"guess{i}", "wrong", ip="198.51.100.7")
    # From that address even a right password is refused; from another the account is fine.
    assert_locked_out(login_as(client, member.user.username, PASSWORD, ip="198.51.100.7"))
    assert login_as(Client(), member.user.username, PASSWORD, ip="198.51.100.8").status_code == 302


def test_one_account_tried_from_many_addresses_is_locked(client, member):
    for i in range(LIMIT):
        assert login_as(Client(), member.user.username, "wrong", ip=f"203.0.113.{i + 1}").status_code in (200, 429)
    assert_locked_out(login_as(client, member.user.username, PASSWORD, ip="203.0.113.200"))
    # Another account from those addresses is not locked.
    other = UserFactory()
    assert login_as(Client(), other.username, PASSWORD, ip="203.0.113.201").status_code == 302


def test_the_lock_ends_after_the_cool_off(client, member):
    cool_off = timedelta(minutes=settings.LOGIN_COOLOFF_MINUTES)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for _ in range(LIMIT):
            login_as(client, member.user.username, "wrong")
        clock.shift(cool_off - timedelta(minutes=1))
        assert_locked_out(login_as(client, member.user.username, PASSWORD))
        # That try, during the lock, started the wait over.
        clock.shift(cool_off - timedelta(minutes=1))
        assert_locked_out(login_as(client, member.user.username, PASSWORD))
        clock.shift(cool_off + timedelta(seconds=1))
        response = login_as(client, member.user.username, PASSWORD)
        assert response.status_code == 302
        assert client.get(settings_url(member.project)).status_code == 200


def test_the_lock_follows_x_forwarded_for_only_when_it_is_trusted(client, member, settings):
    settings.INGEST_TRUST_X_FORWARDED_FOR = False
    for i in range(LIMIT):  # a client that makes up a new X-Forwarded-For for every try
        login_as(client, f"guess{i}", "wrong", ip="10.0.0.2", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
    assert_locked_out(login_as(client, member.user.username, PASSWORD, ip="10.0.0.2", HTTP_X_FORWARDED_FOR="192.0.2.99"))

    # Behind a trusted proxy (10.0.0.1), the address it adds last is the client's.
    settings.INGEST_TRUST_X_FORWARDED_FOR = True
    for i in range(LIMIT):
        login_as(client, f"other{i}", "wrong", ip="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.20")
    # Prepending made-up addresses does not get that client out of the lock.
    spoofed = "192.0.2.1, 198.51.100.20"
    assert_locked_out(login_as(client, member.user.username, PASSWORD, ip="10.0.0.1", HTTP_X_FORWARDED_FOR=spoofed))
    # Other clients behind the same proxy log in.
    assert login_as(Client(), member.user.username, PASSWORD, ip="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.21").status_code == 302


def test_failed_logins_keep_no_password_or_token(client, member):
    client.post(
        "/login/", {"username": member.user.username, "password": "hunter2-typo", "csrfmiddlewaretoken": "tok3n-value-xyz"}
    )
    from axes.models import AccessAttempt

    attempt = AccessAttempt.objects.get(username=member.user.username)
    assert attempt.failures_since_start == 1
    assert "hunter2-typo" not in attempt.post_data and "tok3n-value-xyz" not in attempt.post_data


def test_logout(owner_client, member):
    response = owner_client.post("/logout/", follow=True)
    assert response.redirect_chain[-1][0] == "/login/"
    assert "You are logged out." in response.content.decode()
    assert owner_client.get(settings_url(member.project)).status_code == 302  # back to login


def logged_in_cookie(member) -> str:
    client = Client()
    assert client.login(username=member.user.username, password=PASSWORD)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def with_cookie(value: str) -> Client:
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = value
    return client


def session_works(client: Client, member) -> bool:
    page = client.get(settings_url(member.project))
    api = client.get(f"/api/v1/projects/{member.project.id}/events")
    assert (page.status_code == 200) == (api.status_code == 200), (page.status_code, api.status_code)
    return page.status_code == 200


def test_a_session_ends_with_logout_expiry_deactivation_or_a_new_password(member):
    cookie = logged_in_cookie(member)
    assert session_works(with_cookie(cookie), member)
    with_cookie(cookie).post("/logout/")
    assert not session_works(with_cookie(cookie), member)  # the old cookie, replayed

    cookie = logged_in_cookie(member)
    Session.objects.filter(session_key=cookie).update(expire_date=timezone.now() - timedelta(seconds=1))
    assert not session_works(with_cookie(cookie), member)

    cookie = logged_in_cookie(member)
    type(member.user).objects.filter(pk=member.user.pk).update(is_active=False)
    assert not session_works(with_cookie(cookie), member)
    type(member.user).objects.filter(pk=member.user.pk).update(is_active=True)
    assert session_works(with_cookie(cookie), member)

    member.user.set_password("a new password, set elsewhere")
    member.user.save()
    assert not session_works(with_cookie(cookie), member)


def test_a_removed_member_loses_the_project_at_once(member):
    client = with_cookie(logged_in_cookie(member))
    assert session_works(client, member)
    Membership.objects.filter(pk=member.pk).delete()
    assert client.get(settings_url(member.project)).status_code == 404
    assert client.get(f"/api/v1/projects/{member.project.id}/events").status_code == 404


def test_home_sends_anonymous_users_to_login(client):
    response = client.get("/")
    assert response.status_code == 302 and response.url.startswith("/login/")


def test_home_sends_members_to_a_project_page(owner_client, member):
    response = owner_client.get("/", follow=True)
    assert response.status_code == 200
    final_url = response.redirect_chain[-1][0]
    assert final_url.startswith(f"/projects/{member.project.id}/")
    assert member.project.name in response.content.decode()


def test_home_sends_users_without_projects_to_the_project_list(client):
    client.force_login(UserFactory())
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/projects/"
    assert "Create your first project" in response.content.decode()


# --- Project list -----------------------------------------------------------------------------


def test_project_list_shows_only_my_projects(owner_client, member):
    other = ProjectFactory(name="Somebody Else's Shop")
    MembershipFactory(project=other)
    html = owner_client.get("/projects/").content.decode()
    assert member.project.name in html
    assert other.name not in html


def test_creating_a_project_makes_me_its_owner(owner_client, member):
    response = owner_client.post("/projects/", {"name": "Mobile app", "timezone": "Europe/Berlin"}, follow=True)
    project = Project.objects.get(name="Mobile app")
    assert project.timezone == "Europe/Berlin"
    assert Membership.objects.get(project=project, user=member.user).role == "owner"
    assert response.redirect_chain[-1][0].startswith(settings_url(project))
    assert project.api_key in response.content.decode()
    assert "Mobile app" in owner_client.get("/projects/").content.decode()


def test_creating_a_project_with_another_timezone(owner_client):
    owner_client.post("/projects/", {"name": "Lima", "timezone": "UTC", "timezone_other": "America/Lima"})
    assert Project.objects.get(name="Lima").timezone == "America/Lima"


def test_creating_a_project_with_a_bad_timezone_shows_the_error(owner_client):
    response = owner_client.post("/projects/", {"name": "X", "timezone": "UTC", "timezone_other": "Mars/Olympus"}, **HTMX)
    assert response.status_code == 200
    assert "is not an IANA timezone name" in response.content.decode()
    assert b"<html" not in response.content
    assert not Project.objects.filter(name="X").exists()


def test_project_list_requires_login(client):
    response = client.get("/projects/")
    assert response.status_code == 302 and response.url.startswith("/login/?next=/projects/")


# --- Settings: access -------------------------------------------------------------------------


def test_settings_is_404_for_other_projects_and_unknown_ids(owner_client):
    other = MembershipFactory().project
    assert owner_client.get(settings_url(other)).status_code == 404
    assert owner_client.get("/projects/999999/settings/").status_code == 404
    rotate = reverse("project-ingest-key-rotate", kwargs={"project_id": other.id})
    assert owner_client.post(rotate).status_code == 404
    assert Project.objects.get(pk=other.pk).api_key == other.api_key


def test_settings_page_shows_key_members_and_curl(owner_client, member):
    html = owner_client.get(settings_url(member.project)).content.decode()
    assert member.project.api_key in html
    assert f'X-API-Key: {member.project.api_key}' in html
    assert "http://testserver/api/v1/events" in html
    assert member.user.username in html


def test_settings_page_shows_the_sdk_script_tag(owner_client, member, settings):
    key = member.project.api_key
    html = owner_client.get(settings_url(member.project)).content.decode()
    tag = f'&lt;script defer src="http://testserver/static/sdk/pulseboard.js" data-api-key="{key}"&gt;&lt;/script&gt;'
    assert f'<pre id="sdk-snippet">{tag}</pre>' in html
    assert 'data-copy="#sdk-snippet"' in html
    assert f'href="/demo/?project={member.project.id}"' in html
    # Static files on another origin: the tag tells the SDK where the API is.
    settings.STATIC_URL = "https://cdn.example.com/pb/"
    html = owner_client.get(settings_url(member.project)).content.decode()
    assert f'src="https://cdn.example.com/pb/sdk/pulseboard.js" data-api-key="{key}" data-host="http://testserver"' in html


def test_htmx_requests_get_only_the_partial(owner_client, member):
    for url in (settings_url(member.project), "/projects/"):
        full = owner_client.get(url)
        partial = owner_client.get(url, **HTMX)
        assert b"<html" in full.content
        assert partial.status_code == 200 and b"<html" not in partial.content
    response = owner_client.post(reverse("personal-key-create", kwargs={"project_id": member.project.id}), {"label": "x"}, **HTMX)
    assert b"<html" not in response.content and b'id="personal-keys"' in response.content


# --- Settings: ingest key ------------------------------------------------------------------------


def test_rotating_the_ingest_key(owner_client, member):
    old = member.project.api_key
    assert project_for_ingest_key(api_key=old) is not None
    url = reverse("project-ingest-key-rotate", kwargs={"project_id": member.project.id})

    response = owner_client.post(url, **HTMX)

    new = Project.objects.get(pk=member.project.pk).api_key
    assert new != old
    html = response.content.decode()
    assert new in html and old not in html
    assert "The old key no longer works" in html
    assert project_for_ingest_key(api_key=old) is None
    assert project_for_ingest_key(api_key=new).project_id == member.project.id


def test_rotating_without_javascript_redirects_with_a_message(owner_client, member):
    url = reverse("project-ingest-key-rotate", kwargs={"project_id": member.project.id})
    response = owner_client.post(url, follow=True)
    assert response.redirect_chain[-1][0].startswith(settings_url(member.project))
    assert "The old key no longer works" in response.content.decode()


# --- Settings: personal API keys ---------------------------------------------------------------


def _secret_in(html: str) -> str:
    match = re.search(r"pbp_[A-Za-z0-9_-]{20,}", html)
    assert match, "no personal key secret on the page"
    return match.group(0)


def test_personal_key_secret_is_shown_once_and_works(owner_client, member):
    url = reverse("personal-key-create", kwargs={"project_id": member.project.id})
    response = owner_client.post(url, {"label": "Nightly export"}, **HTMX)
    html = response.content.decode()
    assert "it will not be shown again" in html
    secret = _secret_in(html)

    assert personal_api_key_get(secret=secret).user == member.user
    later = owner_client.get(settings_url(member.project)).content.decode()
    assert "Nightly export" in later
    assert secret not in later
    assert secret[:10] in later  # the prefix, to recognise it


def _sessions_holding(secret: str) -> list[str]:
    """Keys of the rows of the session table whose data holds ``secret``, raw or decoded."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT session_key, session_data FROM {Session._meta.db_table}")
        rows = cursor.fetchall()
    assert rows, "the test client's login left no session row"
    return [key for key, data in rows if secret in data or secret in json.dumps(SessionStore().decode(data))]


def test_personal_key_without_javascript_is_shown_in_the_answer_and_stored_nowhere(owner_client, member):
    url = reverse("personal-key-create", kwargs={"project_id": member.project.id})
    response = owner_client.post(url, {"label": "cron"})
    # The whole settings page, with the new key, in the answer to the POST itself.
    assert response.status_code == 201
    html = response.content.decode()
    assert "<html" in html and "it will not be shown again" in html and 'id="members"' in html
    secret = _secret_in(html)
    assert "no-store" in response["Cache-Control"]

    assert _sessions_holding(secret) == []
    assert secret not in owner_client.get(settings_url(member.project)).content.decode()
    assert PersonalAPIKey.objects.filter(user=member.user, label="cron").count() == 1

    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert reader.get(reverse("api-events", kwargs={"project_id": member.project.id})).status_code == 200


def test_personal_key_with_htmx_is_stored_nowhere_either(owner_client, member):
    url = reverse("personal-key-create", kwargs={"project_id": member.project.id})
    response = owner_client.post(url, {"label": "notebook"}, **HTMX)
    secret = _secret_in(response.content.decode())
    assert "no-store" in response["Cache-Control"]
    assert _sessions_holding(secret) == []


def test_personal_key_needs_a_label(owner_client, member):
    url = reverse("personal-key-create", kwargs={"project_id": member.project.id})
    response = owner_client.post(url, {"label": ""}, **HTMX)
    assert "This field is required." in response.content.decode()
    assert not PersonalAPIKey.objects.exists()


def test_revoking_a_personal_key(owner_client, member):
    url = reverse("personal-key-create", kwargs={"project_id": member.project.id})
    secret = _secret_in(owner_client.post(url, {"label": "temp"}, **HTMX).content.decode())
    key = PersonalAPIKey.objects.get(label="temp")

    revoke = reverse("personal-key-revoke", kwargs={"project_id": member.project.id, "key_id": key.id})
    response = owner_client.post(revoke, **HTMX)

    assert "Key revoked" in response.content.decode()
    assert personal_api_key_get(secret=secret) is None
    assert "temp" not in owner_client.get(settings_url(member.project)).content.decode()


def test_cannot_revoke_someone_elses_key(owner_client, member):
    from apps.projects.services import personal_api_key_create

    issued = personal_api_key_create(user=UserFactory(), label="theirs")
    revoke = reverse("personal-key-revoke", kwargs={"project_id": member.project.id, "key_id": issued.key.id})
    assert owner_client.post(revoke).status_code == 404
    assert personal_api_key_get(secret=issued.secret) is not None


# --- Settings: project and members ----------------------------------------------------------------


def test_owner_renames_the_project(owner_client, member):
    url = reverse("project-edit", kwargs={"project_id": member.project.id})
    response = owner_client.post(url, {"name": "Renamed", "timezone": "Asia/Tokyo"}, **HTMX)
    assert "Project saved." in response.content.decode()
    project = Project.objects.get(pk=member.project.pk)
    assert (project.name, project.timezone) == ("Renamed", "Asia/Tokyo")


def test_member_sees_read_only_settings_and_gets_403_on_owner_actions(client, member):
    plain = add_member(member.project)
    client.force_login(plain.user)
    project_id = member.project.id

    page = client.get(settings_url(member.project)).content.decode()
    assert "Only owners can change these." in page
    assert "Rotate key" not in page and "Add member" not in page

    owner_membership = Membership.objects.get(project=member.project, user=member.user)
    forbidden = [
        (reverse("project-ingest-key-rotate", kwargs={"project_id": project_id}), {}),
        (reverse("project-edit", kwargs={"project_id": project_id}), {"name": "Mine now", "timezone": "UTC"}),
        (reverse("member-add", kwargs={"project_id": project_id}), {"login": plain.user.username, "role": "owner"}),
        (reverse("member-role", kwargs={"project_id": project_id, "membership_id": plain.id}), {"role": "owner"}),
        (reverse("member-remove", kwargs={"project_id": project_id, "membership_id": owner_membership.id}), {}),
    ]
    for url, data in forbidden:
        assert client.post(url, data).status_code == 403, url
    project = Project.objects.get(pk=project_id)
    assert project.api_key == member.project.api_key and project.name == member.project.name
    assert Membership.objects.get(pk=plain.pk).role == "member"
    assert Membership.objects.filter(pk=owner_membership.pk).exists()


def test_owner_adds_a_member_by_email_and_by_username(owner_client, member):
    alice = UserFactory(username="alice", email="alice@example.org")
    bob = UserFactory(username="bob")
    url = reverse("member-add", kwargs={"project_id": member.project.id})

    response = owner_client.post(url, {"login": "ALICE@example.org", "role": "member"}, **HTMX)
    assert "alice added as member." in response.content.decode()
    owner_client.post(url, {"login": "bob", "role": "owner"}, **HTMX)

    roles = dict(Membership.objects.filter(project=member.project).values_list("user__username", "role"))
    assert roles[alice.username] == "member" and roles[bob.username] == "owner"


def test_adding_an_unknown_or_existing_member_shows_an_error(owner_client, member):
    url = reverse("member-add", kwargs={"project_id": member.project.id})
    unknown = owner_client.post(url, {"login": "nobody", "role": "member"}, **HTMX).content.decode()
    assert "No active user is called" in unknown
    twice = owner_client.post(url, {"login": member.user.username, "role": "member"}, **HTMX).content.decode()
    assert "is already a member" in twice


def test_owner_changes_roles_and_removes_members(owner_client, member):
    other = add_member(member.project)
    role_url = reverse("member-role", kwargs={"project_id": member.project.id, "membership_id": other.id})
    owner_client.post(role_url, {"role": "owner"}, **HTMX)
    assert Membership.objects.get(pk=other.pk).role == "owner"

    remove_url = reverse("member-remove", kwargs={"project_id": member.project.id, "membership_id": other.id})
    response = owner_client.post(remove_url, **HTMX)
    assert "removed from" in response.content.decode()
    assert not Membership.objects.filter(pk=other.pk).exists()


def test_the_last_owner_cannot_be_removed_or_demoted(owner_client, member):
    add_member(member.project)  # a plain member does not count as an owner
    project_id = member.project.id
    remove_url = reverse("member-remove", kwargs={"project_id": project_id, "membership_id": member.id})
    role_url = reverse("member-role", kwargs={"project_id": project_id, "membership_id": member.id})

    removed = owner_client.post(remove_url, **HTMX).content.decode()
    demoted = owner_client.post(role_url, {"role": "member"}, **HTMX).content.decode()

    for html in (removed, demoted):
        assert "A project needs at least one owner" in html
    assert Membership.objects.get(pk=member.pk).role == "owner"

    # without JavaScript: the same error as a message on the page
    response = owner_client.post(remove_url, follow=True)
    assert "A project needs at least one owner" in response.content.decode()
    assert Membership.objects.filter(pk=member.pk).exists()


def test_an_owner_can_leave_when_another_owner_remains(owner_client, member):
    add_member(member.project, role=Membership.Role.OWNER)
    url = reverse("member-remove", kwargs={"project_id": member.project.id, "membership_id": member.id})
    response = owner_client.post(url, **HTMX)
    assert response.headers["HX-Redirect"] == "/projects/"
    assert owner_client.get(settings_url(member.project)).status_code == 404


# --- Shell ------------------------------------------------------------------------------------


def test_sidebar_and_switcher_link_the_same_page_in_other_projects(owner_client, member):
    second = ProjectFactory(name="Second")
    MembershipFactory(project=second, user=member.user)
    html = owner_client.get(settings_url(member.project)).content.decode()
    assert 'class="sidebar-link active"' in html
    assert f'href="{settings_url(second)}"' in html  # the switcher keeps the page kind


# --- Audit log ------------------------------------------------------------------------------


def test_owner_actions_are_in_the_audit_log_with_who_and_when(owner_client, member):
    project = member.project
    other = add_member(project, username="dana")
    before = timezone.now()
    owner_client.post(reverse("project-ingest-key-rotate", kwargs={"project_id": project.id}))
    owner_client.post(reverse("member-role", kwargs={"project_id": project.id, "membership_id": other.id}), {"role": "viewer"})
    owner_client.post(reverse("member-remove", kwargs={"project_id": project.id, "membership_id": other.id}))
    owner_client.post(reverse("member-add", kwargs={"project_id": project.id}), {"login": "dana", "role": "member"})

    entries = list(project.audit_entries.order_by("id"))
    assert [e.action for e in entries] == ["ingest_key_rotated", "member_role_changed", "member_removed", "member_added"]
    assert all(e.actor_id == member.user.id and e.actor_name == member.user.username and e.created_at >= before for e in entries)
    assert entries[1].details == {"user": "dana", "from": "member", "to": "viewer"}

    page = owner_client.get(settings_url(project)).content.decode()
    assert 'id="audit-log"' in page and "Made dana viewer (was member)." in page


def test_only_owners_see_the_audit_log(client, member):
    viewer = add_member(member.project, role=Membership.Role.VIEWER)
    client.force_login(viewer.user)
    page = client.get(settings_url(member.project))
    assert page.status_code == 200 and 'id="audit-log"' not in page.content.decode()
    assert "you are a viewer" in page.content.decode()
