"""Pages that answer a whole document or an HTMX partial at one URL say so in ``Vary``, so
that no cache hands one to the other; both answers are really different."""

import pytest
from django.urls import reverse

from apps.funnels.services import funnel_create
from conftest import MembershipFactory

pytestmark = pytest.mark.django_db

PAGES = [
    ("project-list", {}),
    ("project-settings", {"project_id": None}),
    ("refused-events", {"project_id": None}),
    ("ingestion-warnings", {"project_id": None}),
    ("analytics-overview", {"project_id": None}),
    ("analytics-trends", {"project_id": None}),
    ("analytics-explorer", {"project_id": None}),
    ("analytics-live", {"project_id": None}),
    ("persons-list", {"project_id": None}),
    ("funnels-list", {"project_id": None}),
    ("funnels-new", {"project_id": None}),
    ("funnels-detail", {"project_id": None, "funnel_id": None}),
]


@pytest.fixture
def owner():
    membership = MembershipFactory()
    funnel = funnel_create(project=membership.project, name="Signup", steps=[{"event": "a"}, {"event": "b"}])
    return membership, funnel


def url_of(name: str, kwargs: dict, membership, funnel) -> str:
    values = {"project_id": membership.project.id, "funnel_id": funnel.id}
    return reverse(name, kwargs={key: values[key] for key in kwargs})


def vary(response) -> set[str]:
    return {part.strip().lower() for part in response.get("Vary", "").split(",")}


@pytest.mark.parametrize(("name", "kwargs"), PAGES)
def test_the_page_and_its_partial_both_vary_on_hx_request(client, owner, name, kwargs):
    membership, funnel = owner
    client.force_login(membership.user)
    url = url_of(name, kwargs, membership, funnel)
    whole = client.get(url)
    partial = client.get(url, HTTP_HX_REQUEST="true")
    assert whole.status_code == partial.status_code == 200
    assert "<html" in whole.content.decode() and "<html" not in partial.content.decode()
    for response in (whole, partial):
        assert {"hx-request", "hx-history-restore-request"} <= vary(response), (url, response.get("Vary"))


def test_a_history_restore_gets_the_whole_page(client, owner):
    membership, _ = owner
    client.force_login(membership.user)
    url = reverse("analytics-overview", kwargs={"project_id": membership.project.id})
    restored = client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in restored.content.decode() and "hx-request" in vary(restored)


def test_an_error_page_of_bad_parameters_varies_too(client, owner):
    membership, _ = owner
    client.force_login(membership.user)
    url = reverse("analytics-trends", kwargs={"project_id": membership.project.id}) + "?interval=fortnight"
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        response = client.get(url, **headers)
        assert response.status_code == 400 and "hx-request" in vary(response)


def test_a_redirect_chosen_by_hx_request_varies(client, owner):
    """Deleting a funnel sends the browser to the list: an HX-Redirect header for HTMX, a
    302 otherwise."""
    membership, funnel = owner
    client.force_login(membership.user)
    url = reverse("funnels-delete", kwargs={"project_id": membership.project.id, "funnel_id": funnel.id})
    response = client.post(url, HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == reverse("funnels-list", kwargs={"project_id": membership.project.id})
    assert "hx-request" in vary(response)
