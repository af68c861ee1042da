"""Accounts: sign-up, email invites, password reset and change, through the test client as a
browser would, on the real Postgres and Redis; email is caught by Django's locmem backend."""

import hashlib
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.ingest import stream
from apps.projects.models import AuditEntry, Invite, Membership
from apps.projects.services import INVITE_DAYS
from conftest import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()
HTMX = {"HTTP_HX_REQUEST": "true"}
NEW_PASSWORD = "a quite new passphrase 42"
INVITE_LINK = re.compile(r"http://testserver/invites/[A-Za-z0-9_-]+/")
RESET_LINK = re.compile(r"http://testserver/password/reset/[^/\s]+/[^/\s]+/")


@pytest.fixture(autouse=True)
def fresh_throttle():
    """Each test starts with no sign-up, reset or invite counted against its address."""
    client = stream.client()
    for key in client.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}:throttle:*", count=1000):
        client.delete(key)
    yield


@pytest.fixture
def owner_client(member):
    client = Client()
    client.force_login(member.user)
    return client


def invite_url(project) -> str:
    return reverse("invite-create", kwargs={"project_id": project.id})


def send_invite(client, project, login: str, role: str = "member", **headers):
    return client.post(invite_url(project), {"login": login, "role": role}, **headers)


def the_link(message, pattern=INVITE_LINK) -> str:
    """The link of an email, the same in its text and in its HTML part."""
    links = pattern.findall(message.body)
    assert len(links) == 1, message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and f'href="{links[0]}"' in html
    return links[0]


def path_of(url: str) -> str:
    return url.removeprefix("http://testserver")


# --- Invites ------------------------------------------------------------------------------


def test_an_invite_email_link_creates_an_account_with_the_invited_role(owner_client, member, mailoutbox):
    assert settings.PULSEBOARD_SIGNUP == "invite"  # invites are how an invite-only install grows
    response = send_invite(owner_client, member.project, "new.person@example.org", "viewer", **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Invite sent to new.person@example.org as viewer" in html

    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["new.person@example.org"] and member.project.name in message.subject
    link = the_link(message)
    assert link in html  # the owner sees the link once, in this answer
    token = link.rstrip("/").rsplit("/", 1)[1]
    invite = Invite.objects.get(project=member.project)
    assert invite.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in invite.token_hash
    assert invite.invited_by == member.user and invite.role == "viewer"
    assert timedelta(days=INVITE_DAYS) - timedelta(minutes=1) < invite.expires_at - timezone.now() <= timedelta(days=INVITE_DAYS)

    # The settings page lists it as pending, with its expiry and a Revoke button, without the link.
    page = owner_client.get(reverse("project-settings", kwargs={"project_id": member.project.id})).content.decode()
    assert "Pending invites" in page and "new.person@example.org" in page and "Revoke" in page
    assert invite.expires_at.strftime("%b %-d, %Y") in page and token not in page

    visitor = Client()
    form = visitor.get(path_of(link))
    assert form.status_code == 200
    assert 'value="new.person@example.org"' in form.content.decode() and "Create account and join" in form.content.decode()
    joined = visitor.post(path_of(link), {"username": "newbie", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert joined.status_code == 302
    user = User.objects.get(username="newbie")
    assert user.email == "new.person@example.org" and not user.is_staff and not user.is_superuser
    assert Membership.objects.get(project=member.project, user=user).role == "viewer"
    landing = visitor.get(joined.url)
    assert landing.status_code == 200 and landing.context["user"] == user
    assert f"You joined {member.project.name} as viewer" in landing.content.decode()

    invite.refresh_from_db()
    assert invite.accepted_by == user and invite.accepted_at is not None
    actions = list(AuditEntry.objects.filter(project=member.project).values_list("action", flat=True))
    assert AuditEntry.Action.INVITE_SENT in actions and AuditEntry.Action.INVITE_ACCEPTED in actions

    # The link works once: anyone else, logged in or not, gets a 410 page and nothing else.
    for other in (Client(), owner_client):
        again = other.get(path_of(link))
        assert again.status_code == 410 and "already been used" in again.content.decode()
    assert Client().post(path_of(link), {"username": "second", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}).status_code == 410
    assert not User.objects.filter(username="second").exists()
    # ...while the person who used it is taken to the project.
    assert visitor.get(path_of(link)).status_code == 302


def test_an_expired_invite_is_gone_and_an_unknown_one_not_found(owner_client, member, mailoutbox):
    send_invite(owner_client, member.project, "late@example.org")
    link = path_of(the_link(mailoutbox[0]))
    with time_machine.travel(timezone.now() + timedelta(days=INVITE_DAYS + 1)):
        page = Client().get(link)
        assert page.status_code == 410 and "This invite has expired" in page.content.decode()
        post = Client().post(link, {"username": "late", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
        assert post.status_code == 410
    assert not User.objects.filter(username="late").exists()

    unknown = Client().get(reverse("invite-accept", kwargs={"token": "not-a-real-token"}))
    assert unknown.status_code == 404 and "This invite link is not valid" in unknown.content.decode()
    assert Client().get("/invites/" + "x" * 500 + "/").status_code == 404


def test_a_revoked_invite_stops_working(owner_client, member, mailoutbox):
    send_invite(owner_client, member.project, "gone@example.org")
    invite = Invite.objects.get(email="gone@example.org")
    revoke = reverse("invite-revoke", kwargs={"project_id": member.project.id, "invite_id": invite.id})
    html = owner_client.post(revoke, **HTMX).content.decode()
    assert "Invite of gone@example.org withdrawn" in html and "Pending invites" not in html
    page = Client().get(path_of(the_link(mailoutbox[0])))
    assert page.status_code == 410 and "withdrawn" in page.content.decode()
    assert AuditEntry.objects.filter(project=member.project, action=AuditEntry.Action.INVITE_REVOKED).count() == 1


def test_a_second_invite_to_the_same_address_replaces_the_first(owner_client, member, mailoutbox):
    send_invite(owner_client, member.project, "twice@example.org")
    send_invite(owner_client, member.project, "Twice@Example.org", "owner")
    first, second = (path_of(the_link(m)) for m in mailoutbox)
    assert Client().get(first).status_code == 410
    visitor = Client()
    visitor.post(second, {"username": "twice", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert Membership.objects.get(user__username="twice", project=member.project).role == "owner"


def test_inviting_a_member_is_a_form_error_and_an_existing_user_is_added(owner_client, member, mailoutbox):
    existing = MembershipFactory(project=member.project, role="member", user__email="Already@Example.org")
    for login in ("already@example.org", existing.user.username, member.user.email):
        html = send_invite(owner_client, member.project, login, **HTMX).content.decode()
        assert "is already a member of" in html and 'class="field-error"' in html, login
    # a member whose address several accounts share is still found by the invite
    UserFactory(email="already@example.org")
    html = send_invite(owner_client, member.project, "already@example.org", **HTMX).content.decode()
    assert "already@example.org is already a member of" in html

    outsider = UserFactory(username="carol", email="carol@example.org")
    html = send_invite(owner_client, member.project, "carol@example.org", "viewer", **HTMX).content.decode()
    assert "carol added as viewer." in html
    assert Membership.objects.get(project=member.project, user=outsider).role == "viewer"

    nonsense = send_invite(owner_client, member.project, "not an address", **HTMX).content.decode()
    assert "To invite someone new, enter their email address" in nonsense
    assert mailoutbox == [] and not Invite.objects.exists()

    # Without JavaScript: the whole page, the form filled in with its error.
    page = send_invite(owner_client, member.project, existing.user.username)
    assert page.status_code == 200 and "is already a member of" in page.content.decode() and "<html" in page.content.decode()


def test_only_owners_invite_and_revoke(client, member, mailoutbox):
    owner_client = Client()
    owner_client.force_login(member.user)
    send_invite(owner_client, member.project, "pending@example.org")
    invite = Invite.objects.get()
    revoke = reverse("invite-revoke", kwargs={"project_id": member.project.id, "invite_id": invite.id})
    for role in ("member", "viewer"):
        someone = MembershipFactory(project=member.project, role=role)
        client.force_login(someone.user)
        assert send_invite(client, member.project, f"{role}-friend@example.org").status_code == 403
        assert client.post(revoke).status_code == 403
        page = client.get(reverse("project-settings", kwargs={"project_id": member.project.id})).content.decode()
        assert "pending@example.org" not in page and 'id="invite-form"' not in page
    stranger = MembershipFactory()  # owns another project
    client.force_login(stranger.user)
    assert send_invite(client, member.project, "x@example.org").status_code == 404
    assert client.post(revoke).status_code == 404
    # an owner of another project cannot revoke this one's invite through their own project
    other_revoke = reverse("invite-revoke", kwargs={"project_id": stranger.project.id, "invite_id": invite.id})
    assert client.post(other_revoke).status_code == 404
    assert Client().post(invite_url(member.project), {"login": "a@example.org", "role": "member"}).status_code == 302  # to login
    assert Invite.objects.count() == 1 and Invite.objects.get().revoked_at is None and len(mailoutbox) == 1


def test_an_invite_to_an_address_with_an_account_asks_to_log_in(owner_client, member, mailoutbox):
    """Two accounts share the address, so it is no login: the owner's form sends an invite."""
    UserFactory(username="dana", email="dana@example.org")
    UserFactory(username="dana2", email="dana@example.org")
    send_invite(owner_client, member.project, "dana@example.org", "viewer")
    link = path_of(the_link(mailoutbox[0]))

    visitor = Client()
    page = visitor.get(link).content.decode()
    assert "already exists. Log in to accept" in page
    assert "/login/?next=" + link.replace("/", "%2F") in page
    visitor.post(link, {"username": "dana3", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert not User.objects.filter(username="dana3").exists()

    logged_in = visitor.post("/login/", {"username": "dana", "password": PASSWORD, "next": link})
    assert logged_in.status_code == 302 and logged_in.url == link
    assert "Accept and join as dana" in visitor.get(link).content.decode()
    assert visitor.post(link).status_code == 302
    assert Membership.objects.get(user__username="dana", project=member.project).role == "viewer"
    assert Invite.objects.get().accepted_by.username == "dana"


def test_a_logged_in_user_accepts_an_invite_sent_to_another_address(owner_client, member, mailoutbox):
    send_invite(owner_client, member.project, "team@example.org", "member")
    link = path_of(the_link(mailoutbox[0]))
    erin = UserFactory(username="erin", email="erin@example.org")
    visitor = Client()
    visitor.force_login(erin)
    page = visitor.get(link).content.decode()
    assert "The invite was sent to team@example.org" in page
    response = visitor.post(link, follow=True)
    assert response.status_code == 200 and f"You joined {member.project.name} as member" in response.content.decode()
    assert Membership.objects.get(user=erin, project=member.project).role == "member"


def test_bad_input_on_the_invite_page_shows_field_errors(owner_client, member, mailoutbox):
    UserFactory(username="taken")
    send_invite(owner_client, member.project, "fresh@example.org")
    link = path_of(the_link(mailoutbox[0]))
    cases = [
        ({"username": "taken", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, "already exists"),
        ({"username": "fresh", "password1": NEW_PASSWORD, "password2": "something else entirely"}, "didn’t match"),
        ({"username": "fresh", "password1": "short", "password2": "short"}, "too short"),
        ({"username": "fresh", "password1": "password123", "password2": "password123"}, "too common"),
        ({"username": "bad name!", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, "Enter a valid username"),
        ({"username": "", "password1": "", "password2": ""}, "This field is required"),
    ]
    for data, error in cases:
        response = Client().post(link, data)
        assert response.status_code == 200, data
        assert error in response.content.decode() and 'class="field-error"' in response.content.decode(), data
    assert not User.objects.filter(email="fresh@example.org").exists()
    assert Invite.objects.get().accepted_at is None


# --- Sign-up --------------------------------------------------------------------------------


def signup_data(username="alice", email="alice@example.org", password=NEW_PASSWORD, confirm=None):
    return {"username": username, "email": email, "password1": password, "password2": confirm or password}


def test_the_first_account_of_an_empty_install_is_its_administrator(client):
    assert not User.objects.exists() and settings.PULSEBOARD_SIGNUP == "invite"
    login = client.get("/login/").content.decode()
    assert "Create the first one" in login and 'href="/signup/"' in login
    page = client.get("/signup/").content.decode()
    assert "Create the first account" in page and 'name="password2"' in page

    response = client.post("/signup/", signup_data("admin", "admin@example.org"))
    assert response.status_code == 302 and response.url == reverse("project-list")
    admin = User.objects.get()
    assert admin.username == "admin" and admin.is_staff and admin.is_superuser and admin.check_password(NEW_PASSWORD)
    assert client.get(response.url).context["user"] == admin
    assert client.get("/admin/").status_code == 200

    # The install is invite-only from now on: no form, and a POST creates nothing.
    anonymous = Client()
    closed = anonymous.get("/signup/").content.decode()
    assert "by invitation only" in closed and 'name="password1"' not in closed
    assert anonymous.post("/signup/", signup_data("mallory", "m@example.org")).status_code == 403
    assert User.objects.count() == 1
    login = anonymous.get("/login/").content.decode()
    assert 'href="/signup/"' not in login and "Forgot your password?" in login


def test_open_sign_up_creates_plain_accounts(client, member, settings):
    settings.PULSEBOARD_SIGNUP = "open"
    assert 'href="/signup/"' in client.get("/login/").content.decode()
    response = client.post("/signup/", signup_data(), follow=True)
    assert response.status_code == 200
    user = User.objects.get(username="alice")
    assert response.context["user"] == user and user.email == "alice@example.org"
    assert not user.is_staff and not user.is_superuser
    assert not Membership.objects.filter(user=user).exists()
    # A logged-in visitor is sent on.
    assert client.get("/signup/").status_code == 302


def test_sign_up_shows_field_errors(client, member, settings):
    settings.PULSEBOARD_SIGNUP = "open"
    UserFactory(username="taken", email="taken@example.org")
    cases = [
        (signup_data(username="TAKEN"), "already exists"),
        (signup_data(email="Taken@example.org"), "An account with this email address already exists"),
        (signup_data(email="not-an-email"), "Enter a valid email address"),
        (signup_data(email=""), "This field is required"),
        (signup_data(confirm="another one altogether"), "didn’t match"),
        (signup_data(password="abc"), "too short"),
        (signup_data(password="qwertyuiop"), "too common"),
    ]
    for data, error in cases:
        response = client.post("/signup/", data)
        assert response.status_code == 200, data
        html = response.content.decode()
        assert error in html and 'class="field-error"' in html, (data, error)
    assert not User.objects.filter(username="alice").exists()


def test_sign_ups_are_limited_per_address(member, settings):
    settings.PULSEBOARD_SIGNUP = "open"
    settings.ACCOUNT_RATE_PER_HOUR = 2
    for n in range(2):
        assert Client(REMOTE_ADDR="198.51.100.7").post("/signup/", signup_data(f"u{n}", f"u{n}@example.org")).status_code == 302
    refused = Client(REMOTE_ADDR="198.51.100.7").post("/signup/", signup_data("u2", "u2@example.org"))
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "Too many requests" in refused.content.decode()
    assert not User.objects.filter(username="u2").exists()
    assert Client(REMOTE_ADDR="198.51.100.8").post("/signup/", signup_data("u3", "u3@example.org")).status_code == 302


# --- Passwords ------------------------------------------------------------------------------


def test_password_reset_by_email(client, member, mailoutbox):
    login = client.get("/login/").content.decode()
    assert f'href="{reverse("password_reset")}"' in login and "Forgot your password?" in login

    response = client.post(reverse("password_reset"), {"email": member.user.email.upper()})
    assert response.status_code == 302 and response.url == reverse("password_reset_done")
    assert "Check your email" in client.get(response.url).content.decode()
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [member.user.email]
    link = the_link(mailoutbox[0], RESET_LINK)

    # Django swaps the token for a session marker, then shows the form.
    form_page = client.get(path_of(link), follow=True)
    assert form_page.status_code == 200 and "Choose a new password" in form_page.content.decode()
    set_url = form_page.redirect_chain[-1][0]
    mismatch = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": "nope nope nope"})
    assert mismatch.status_code == 200 and "didn’t match" in mismatch.content.decode()
    done = client.post(set_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302 and done.url == reverse("password_reset_complete")
    assert "Password changed" in client.get(done.url).content.decode()

    # The link works once; the new password logs in, the old one no longer does.
    assert "This link does not work" in Client().get(path_of(link), follow=True).content.decode()
    fresh = Client()
    assert "Please enter a correct username" in fresh.post("/login/", {"username": member.user.username, "password": PASSWORD}).content.decode()
    logged_in = fresh.post("/login/", {"username": member.user.username, "password": NEW_PASSWORD})
    assert logged_in.status_code == 302 and fresh.get("/projects/").context["user"] == member.user


def test_password_reset_of_an_unknown_address_says_the_same_and_sends_nothing(client, member, mailoutbox):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.org"})
    assert response.status_code == 302 and response.url == reverse("password_reset_done")
    assert mailoutbox == []
    bad = client.post(reverse("password_reset"), {"email": "not an email"})
    assert bad.status_code == 200 and "Enter a valid email address" in bad.content.decode()


def test_password_reset_requests_are_limited(member, mailoutbox, settings):
    settings.ACCOUNT_RATE_PER_HOUR = 3
    ip = {"REMOTE_ADDR": "203.0.113.9"}
    # One address gets at most a third of them...
    for _ in range(3):
        assert Client(**ip).post(reverse("password_reset"), {"email": member.user.email}).status_code == 302
    assert len(mailoutbox) == 1
    # ...and one client address is refused past the limit.
    refused = Client(**ip).post(reverse("password_reset"), {"email": "someone@example.org"})
    assert refused.status_code == 429 and "Too many requests" in refused.content.decode()


def test_password_change(member):
    client = Client()
    client.force_login(member.user)
    page = client.get("/projects/").content.decode()
    assert f'href="{reverse("password_change")}"' in page  # in the top bar, beside Log out
    assert client.get(reverse("password_change")).status_code == 200
    wrong = client.post(reverse("password_change"), {"old_password": "nope", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert wrong.status_code == 200 and "Your old password was entered incorrectly" in wrong.content.decode()
    weak = client.post(reverse("password_change"), {"old_password": PASSWORD, "new_password1": "12345678", "new_password2": "12345678"})
    assert weak.status_code == 200 and "too common" in weak.content.decode()
    done = client.post(reverse("password_change"), {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302 and done.url == reverse("password_change_done")
    assert client.get("/projects/").status_code == 200  # this session stays
    fresh = Client()
    assert fresh.post("/login/", {"username": member.user.username, "password": NEW_PASSWORD}).status_code == 302
    assert Client().get(reverse("password_change")).status_code == 302  # to login


# --- Email settings -------------------------------------------------------------------------


def email_settings(tmp_path: Path, **environment) -> dict:
    """The email settings that pulseboard/settings.py derives from ``environment``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_") and k != "DEFAULT_FROM_EMAIL"}
    env.update(PULSEBOARD_DEPLOYMENT="embedded", PULSEBOARD_VAR_DIR=str(tmp_path), **environment)
    code = (
        "import json, pulseboard.settings as s; print(json.dumps({k: getattr(s, k) for k in "
        "['EMAIL_BACKEND', 'EMAIL_HOST', 'EMAIL_PORT', 'EMAIL_HOST_USER', 'EMAIL_HOST_PASSWORD', 'EMAIL_USE_TLS', 'EMAIL_USE_SSL', 'DEFAULT_FROM_EMAIL', 'PULSEBOARD_SIGNUP']}))"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=settings.BASE_DIR)
    assert result.returncode == 0, result.stderr
    import json

    return json.loads(result.stdout.strip().splitlines()[-1])


def test_email_settings_come_from_the_environment(tmp_path):
    default = email_settings(tmp_path)
    assert default["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend" and default["PULSEBOARD_SIGNUP"] == "invite"

    url = email_settings(tmp_path, EMAIL_URL="submission://mailer:p%40ss@mail.example.com:2525", DEFAULT_FROM_EMAIL="PB <pb@example.com>")
    assert url == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "mail.example.com",
        "EMAIL_PORT": 2525,
        "EMAIL_HOST_USER": "mailer",
        "EMAIL_HOST_PASSWORD": "p@ss",
        "EMAIL_USE_TLS": True,
        "EMAIL_USE_SSL": False,
        "DEFAULT_FROM_EMAIL": "PB <pb@example.com>",
        "PULSEBOARD_SIGNUP": "invite",
    }
    separate = email_settings(tmp_path, EMAIL_HOST="smtp.example.net", EMAIL_USE_TLS="1", EMAIL_HOST_USER="u", PULSEBOARD_SIGNUP="open")
    assert separate["EMAIL_BACKEND"].endswith("smtp.EmailBackend") and separate["EMAIL_PORT"] == 587 and separate["EMAIL_USE_TLS"]
    assert separate["PULSEBOARD_SIGNUP"] == "open"
    override = email_settings(tmp_path, EMAIL_HOST="smtp.example.net", EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend")
    assert override["EMAIL_BACKEND"] == "django.core.mail.backends.dummy.EmailBackend"
