"""Accounts in a real browser: an owner invites someone from the settings page, the invitee
follows the emailed link, creates an account and lands in the project; a forgotten password
is reset through its emailed link. The account pages are screenshotted wide and phone-sized
(test-artifacts/screenshots/accounts-<page>-<width>.png) and must not scroll sideways."""

import re

import pytest
from django.conf import settings as django_settings

from apps.ingest import stream
from apps.projects.models import Membership
from conftest import PASSWORD, MembershipFactory, browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "a quite new passphrase 42"
WIDTHS = {1280: 860, 390: 844}


@pytest.fixture(autouse=True)
def fresh_throttle():
    client = stream.client()
    for key in client.scan_iter(match=f"{django_settings.REDIS_KEY_PREFIX}:throttle:*", count=1000):
        client.delete(key)
    yield


def link_in(message, path: str) -> str:
    links = re.findall(r"https?://[^\s\"<]+" + re.escape(path) + r"[^\s\"<]*", message.body)
    assert len(links) == 1, message.body
    return links[0]


def shoot(page, name: str) -> None:
    """Screenshots of the current page at both widths; neither scrolls sideways."""
    for width, height in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot_as(f"accounts-{name}-{width}")
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name} at {width} px scrolls sideways"
    page.set_viewport_size({"width": 1280, "height": 860})


def test_an_owner_invites_someone_who_joins_from_the_email(page, live_server, mailoutbox):
    owner = MembershipFactory(project__name="Invite Shop")
    project = owner.project
    browser_login(page, owner.user.username)
    page.goto(f"/projects/{project.id}/settings/#members")
    page.fill("#invite-form input[name=login]", "newcomer@example.org")
    page.select_option("#invite-form select[name=role]", "member")
    page.click("#invite-form button[type=submit]")
    page.wait_for_selector("text=Invite sent to newcomer@example.org")
    assert page.locator("#pending-invites").inner_text().count("newcomer@example.org") == 1
    page.locator("#members").scroll_into_view_if_needed()
    page.screenshot_as("accounts-invite-sent-1280")

    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["newcomer@example.org"]
    link = link_in(mailoutbox[0], "/invites/")
    assert link.startswith(live_server.url)
    assert page.locator("#new-invite-link").inner_text() == link  # the owner sees it once

    page.context.clear_cookies()  # the invitee: another person, logged out
    page.goto(link)
    assert page.locator("input[name=email]").input_value() == "newcomer@example.org"
    shoot(page, "invite-accept")
    page.fill("input[name=username]", "newcomer")
    page.fill("input[name=password1]", NEW_PASSWORD)
    page.fill("input[name=password2]", NEW_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert f"/projects/{project.id}/" in page.url
    assert "You joined Invite Shop as member" in page.locator("#messages").inner_text()
    assert Membership.objects.get(project=project, user__username="newcomer").role == "member"

    # The link is spent: opening it again as someone else gives the "already used" page.
    page.context.clear_cookies()
    page.tolerate("410")
    page.goto(link)
    assert "already been used" in page.locator("h1").inner_text()
    shoot(page, "invite-used")


def test_a_forgotten_password_is_reset_from_the_email(page, live_server, mailoutbox, settings):
    owner = MembershipFactory()
    page.goto("/login/")
    shoot(page, "login")
    page.click("text=Forgot your password?")
    page.wait_for_load_state("networkidle")
    shoot(page, "reset-form")
    page.fill("input[name=email]", owner.user.email)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Check your email")
    shoot(page, "reset-sent")

    link = link_in(mailoutbox[-1], "/password/reset/")
    page.goto(link)
    page.wait_for_selector("text=Choose a new password")
    shoot(page, "reset-confirm")
    page.fill("input[name=new_password1]", NEW_PASSWORD)
    page.fill("input[name=new_password2]", NEW_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Your new password is set")

    browser_login(page, owner.user.username, PASSWORD)  # the old password no longer works
    assert "/login/" in page.url
    browser_login(page, owner.user.username, NEW_PASSWORD)
    assert "/login/" not in page.url
    page.goto("/password/change/")
    shoot(page, "password-change")

    # The sign-up pages, open and invite-only, for the screenshots.
    page.context.clear_cookies()
    page.goto("/signup/")
    assert "by invitation only" in page.content()
    shoot(page, "signup-invite-only")
    settings.PULSEBOARD_SIGNUP = "open"
    page.goto("/signup/")
    page.fill("input[name=username]", "x")
    page.fill("input[name=password1]", "short")
    page.fill("input[name=password2]", "other")
    page.click("button[type=submit]")
    page.wait_for_selector(".field-error")
    shoot(page, "signup-errors")
