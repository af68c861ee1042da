"""Funnels in the Django admin: steps inline with the 2–20 rule, the creator recorded, a
results preview; and a funnel made there shows up on the dashboard."""

import re
from types import SimpleNamespace

import pytest
from django.test import Client

from apps.funnels.models import Funnel, FunnelStep
from apps.funnels.services import funnel_create
from apps.funnels.tests.test_api import journeys  # noqa: F401  (a fixture)
from conftest import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/funnels/funnel/add/"


def admin_form(project_id, steps, **fields):
    data = {
        "project": str(project_id),
        "name": "Admin funnel",
        "description": "",
        "order_mode": "ordered",
        "window_value": "7",
        "window_unit": "days",
        "breakdown_property": "",
        "steps-TOTAL_FORMS": str(len(steps)),
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "20",
    }
    for i, (order, event, filters) in enumerate(steps):
        data.update({f"steps-{i}-order": str(order), f"steps-{i}-event": event, f"steps-{i}-label": "", f"steps-{i}-filters": filters})
    data.update(fields)
    return data


def test_add_form_with_inline_steps(admin_client, admin_user, member, journeys):  # noqa: F811
    # Steps typed out of order: they are counted by their order numbers.
    steps = [(2, "created_project", "[]"), (1, "signed_up", '[{"key": "plan", "operator": "equals", "value": "pro"}]'), (3, "purchase", "[]")]
    response = admin_client.post(ADD_URL, admin_form(member.project.id, steps))
    assert response.status_code == 302, re.findall(r'class="errorlist[^"]*">(.*?)</ul>', response.content.decode(), re.S)
    funnel = Funnel.objects.get()
    assert funnel.created_by == admin_user and funnel.project == member.project
    assert [(s.order, s.event) for s in funnel.steps.all()] == [(1, "signed_up"), (2, "created_project"), (3, "purchase")]
    assert funnel.steps.first().filters == [{"key": "plan", "operator": "equals", "value": "pro"}]

    # The change page shows the steps sorted and the current results.
    html = admin_client.get(f"/admin/funnels/funnel/{funnel.id}/change/").content.decode()
    assert html.index('value="signed_up"') < html.index('value="created_project"') < html.index('value="purchase"')
    assert "Current results (last 30 days)" in html
    preview = re.findall(r"<tr><td>(\d)\. ([^<]+)</td><td[^>]*>(\d+)</td><td[^>]*>([^<]+)</td>", html)
    assert preview == [("1", "signed_up", "3", "100%"), ("2", "created_project", "2", "66.67%"), ("3", "purchase", "1", "33.33%")]

    # The member sees it on the dashboard: in the list, and its results page.
    client = Client()
    assert client.login(username=member.user.username, password=PASSWORD)
    listing = client.get(f"/projects/{member.project.id}/funnels/").content.decode()
    assert "Admin funnel" in listing and f'href="/projects/{member.project.id}/funnels/{funnel.id}/"' in listing
    results = client.get(f"/projects/{member.project.id}/funnels/{funnel.id}/?range=7d").content.decode()
    assert re.findall(r'data-step-count="\d">(\d+)<', results) == ["3", "2", "1"]


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([(1, "signed_up", "[]")], "A funnel needs between 2 and 20 steps. This one has 1."),
        ([(i, f"e{i}", "[]") for i in range(1, 22)], "A funnel needs between 2 and 20 steps. This one has 21."),
        ([(1, "a", "[]"), (1, "b", "[]")], "Please correct the duplicate data for order"),
        ([(1, "a", "[]"), (2, "b", '[{"key": "plan", "operator": "like", "value": "x"}]')], "the operator must be one of"),
        ([(1, "a", "[]"), (2, "b", '[{"key": "plan", "operator": "equals"}]')], "needs a value"),
    ],
)
def test_inline_validation(admin_client, member, steps, message):
    response = admin_client.post(ADD_URL, admin_form(member.project.id, steps))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Funnel.objects.exists()


def test_deleting_steps_below_two_is_refused(admin_client, member):
    funnel = funnel_create(project=member.project, name="f", steps=[{"event": "a"}, {"event": "b"}])
    ids = list(funnel.steps.values_list("id", flat=True))
    data = admin_form(member.project.id, [], name="f")
    data.update({"steps-TOTAL_FORMS": "2", "steps-INITIAL_FORMS": "2"})
    for i, (step_id, event) in enumerate(zip(ids, ["a", "b"])):
        data.update({f"steps-{i}-id": str(step_id), f"steps-{i}-funnel": str(funnel.id), f"steps-{i}-order": str(i + 1), f"steps-{i}-event": event, f"steps-{i}-filters": "[]"})
    data["steps-1-DELETE"] = "on"
    response = admin_client.post(f"/admin/funnels/funnel/{funnel.id}/change/", data)
    assert response.status_code == 200 and "This one has 1." in response.content.decode()
    assert FunnelStep.objects.filter(funnel=funnel).count() == 2


def test_preview_shows_an_engine_error_instead_of_crashing(admin_client, member):
    funnel = funnel_create(project=member.project, name="broken", steps=[{"event": "a"}, {"event": "b"}])
    # A filter the validation would refuse, written behind its back.
    FunnelStep.objects.filter(funnel=funnel, order=2).update(filters=[{"key": "k", "operator": "bogus", "value": "v"}])
    response = admin_client.get(f"/admin/funnels/funnel/{funnel.id}/change/")
    assert response.status_code == 200
    assert "The results could not be computed" in response.content.decode()


def test_changelist_filters_and_search(admin_client, member):
    funnel_create(project=member.project, name="Checkout", steps=[{"event": "a"}, {"event": "b"}], order_mode="strict")
    funnel_create(project=member.project, name="Onboarding", steps=[{"event": "a"}, {"event": "b"}, {"event": "c"}])
    html = admin_client.get("/admin/funnels/funnel/?q=check").content.decode()
    assert "Checkout" in html and "Onboarding" not in html
    html = admin_client.get("/admin/funnels/funnel/?order_mode__exact=ordered").content.decode()
    assert "Onboarding" in html and "Checkout" not in html
    html = admin_client.get(f"/admin/funnels/funnel/?project__id__exact={member.project.id}").content.decode()
    assert "Onboarding" in html and "Checkout" in html


# --- Tenancy: a staff user who is not a superuser works on their own projects' funnels only ----


@pytest.fixture
def tenants(db):
    """Staff users of two projects (neither a superuser), each project with a funnel; the
    client is logged in as the user of project A."""
    a = MembershipFactory(user=UserFactory(is_staff=True), project__name="Alpha project")
    b = MembershipFactory(user=UserFactory(is_staff=True), project__name="Bravo project")
    funnel_a = funnel_create(project=a.project, name="Alpha funnel", steps=[{"event": "a1"}, {"event": "a2"}])
    funnel_b = funnel_create(project=b.project, name="Bravo funnel", steps=[{"event": "b1"}, {"event": "b2"}])
    client = Client()
    client.force_login(a.user)
    return SimpleNamespace(a=a, b=b, funnel_a=funnel_a, funnel_b=funnel_b, client=client)


def change_form(funnel: Funnel, **fields) -> dict:
    """The change form of ``funnel`` as the admin would post it, with its steps unchanged."""
    steps = list(funnel.steps.all())
    data = admin_form(funnel.project_id, [], name=funnel.name)
    data.update({"steps-TOTAL_FORMS": str(len(steps)), "steps-INITIAL_FORMS": str(len(steps))})
    for i, step in enumerate(steps):
        data.update(
            {
                f"steps-{i}-id": str(step.id),
                f"steps-{i}-funnel": str(funnel.id),
                f"steps-{i}-order": str(step.order),
                f"steps-{i}-event": step.event,
                f"steps-{i}-label": step.label,
                f"steps-{i}-filters": "[]",
            }
        )
    data.update(fields)
    return data


def test_staff_member_lists_only_their_projects_funnels(tenants):
    html = tenants.client.get("/admin/funnels/funnel/").content.decode()
    assert "Alpha funnel" in html
    # Neither the other project's funnel nor its name (the project filter lists only the user's projects).
    assert "Bravo funnel" not in html and "Bravo project" not in html
    html = tenants.client.get(f"/admin/funnels/funnel/?project__id__exact={tenants.b.project.id}").content.decode()
    assert "Bravo funnel" not in html
    html = tenants.client.get("/admin/funnels/funnel/?q=Bravo").content.decode()
    assert "Bravo funnel" not in html


@pytest.mark.parametrize("page", ["change", "delete", "history"])
def test_staff_member_cannot_open_another_projects_funnel(tenants, page):
    response = tenants.client.get(f"/admin/funnels/funnel/{tenants.funnel_b.id}/{page}/")
    assert response.status_code == 302 and response.url == "/admin/"
    assert "Bravo" not in tenants.client.get(response.url).content.decode()


def test_staff_member_cannot_change_or_delete_another_projects_funnel(tenants):
    funnel_b = tenants.funnel_b
    response = tenants.client.post(f"/admin/funnels/funnel/{funnel_b.id}/change/", change_form(funnel_b, name="Taken over"))
    assert response.status_code == 302 and response.url == "/admin/"
    response = tenants.client.post(f"/admin/funnels/funnel/{funnel_b.id}/delete/", {"post": "yes"})
    assert response.status_code == 302 and response.url == "/admin/"
    # The changelist's bulk delete only acts on the user's own funnels.
    tenants.client.post(
        "/admin/funnels/funnel/", {"action": "delete_selected", "_selected_action": [str(funnel_b.id)], "post": "yes"}
    )
    # Moving the user's own funnel into the other project is refused as well.
    funnel_a = tenants.funnel_a
    response = tenants.client.post(
        f"/admin/funnels/funnel/{funnel_a.id}/change/", change_form(funnel_a, project=str(tenants.b.project.id))
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()

    funnel_b.refresh_from_db()
    assert funnel_b.name == "Bravo funnel" and funnel_b.steps.count() == 2
    assert Funnel.objects.get(id=funnel_a.id).project_id == tenants.a.project.id


def test_staff_member_cannot_add_a_funnel_to_another_project(tenants):
    page = tenants.client.get(ADD_URL)
    assert page.status_code == 200
    assert list(page.context["adminform"].form.fields["project"].queryset) == [tenants.a.project]
    assert "Bravo" not in page.content.decode()

    response = tenants.client.post(ADD_URL, admin_form(tenants.b.project.id, [(1, "x", "[]"), (2, "y", "[]")], name="Planted"))
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not Funnel.objects.filter(name="Planted").exists()


def test_project_autocomplete_offers_only_the_users_projects(tenants):
    url = "/admin/autocomplete/?app_label=funnels&model_name=funnel&field_name=project"
    results = tenants.client.get(url).json()["results"]
    assert results == [{"id": str(tenants.a.project.id), "text": "Alpha project"}]
    assert tenants.client.get(f"{url}&term=Bravo").json()["results"] == []


def test_staff_member_adds_and_edits_their_funnels_with_steps(tenants):
    a = tenants.a
    # Only the funnels section and the projects they belong to: no users, keys or members.
    index = tenants.client.get("/admin/").content.decode()
    assert "/admin/funnels/funnel/" in index
    for hidden in ["/admin/auth/user/", "/admin/auth/group/", "/admin/projects/membership/", "/admin/projects/personalapikey/"]:
        assert hidden not in index

    steps = [(1, "signed_up", "[]"), (2, "purchase", '[{"key": "plan", "operator": "equals", "value": "pro"}]')]
    response = tenants.client.post(ADD_URL, admin_form(a.project.id, steps, name="Admin-made"))
    assert response.status_code == 302, re.findall(r'class="errorlist[^"]*">(.*?)</ul>', response.content.decode(), re.S)
    funnel = Funnel.objects.get(name="Admin-made")
    assert funnel.project == a.project and funnel.created_by == a.user
    assert [(s.order, s.event) for s in funnel.steps.all()] == [(1, "signed_up"), (2, "purchase")]

    page = tenants.client.get(f"/admin/funnels/funnel/{funnel.id}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' in html and 'value="signed_up"' in html and 'name="steps-TOTAL_FORMS"' in html

    data = change_form(funnel, name="Admin-made, renamed")
    data.update({"steps-TOTAL_FORMS": "3", "steps-2-order": "3", "steps-2-event": "renewed", "steps-2-label": "", "steps-2-filters": "[]"})
    response = tenants.client.post(f"/admin/funnels/funnel/{funnel.id}/change/", data)
    assert response.status_code == 302, re.findall(r'class="errorlist[^"]*">(.*?)</ul>', response.content.decode(), re.S)
    funnel.refresh_from_db()
    assert funnel.name == "Admin-made, renamed"
    assert [s.event for s in funnel.steps.all()] == ["signed_up", "purchase", "renewed"]

    response = tenants.client.post(f"/admin/funnels/funnel/{funnel.id}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Funnel.objects.filter(id=funnel.id).exists()


def test_staff_without_projects_sees_no_funnels_and_cannot_add(tenants):
    client = Client()
    client.force_login(UserFactory(is_staff=True))
    html = client.get("/admin/funnels/funnel/").content.decode()
    assert "Alpha funnel" not in html and "Bravo funnel" not in html
    assert client.get(ADD_URL).status_code == 403


def test_a_superuser_keeps_every_projects_funnels(admin_client, tenants):
    html = admin_client.get("/admin/funnels/funnel/").content.decode()
    assert "Alpha funnel" in html and "Bravo funnel" in html
    assert admin_client.get(f"/admin/funnels/funnel/{tenants.funnel_b.id}/change/").status_code == 200
    url = "/admin/autocomplete/?app_label=funnels&model_name=funnel&field_name=project"
    texts = {r["text"] for r in admin_client.get(url).json()["results"]}
    assert {"Alpha project", "Bravo project"} <= texts
