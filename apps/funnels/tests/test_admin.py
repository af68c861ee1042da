"""Funnels in the Django admin: steps inline with the 2–20 rule, the creator recorded, a
results preview; and a funnel made there shows up on the dashboard."""

import re

import pytest
from django.test import Client

from apps.funnels.models import Funnel, FunnelStep
from apps.funnels.services import funnel_create
from apps.funnels.tests.test_api import journeys  # noqa: F401  (a fixture)
from conftest import PASSWORD

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
