"""GET/PUT /api/v1/projects/<id>/digest/subscription: a member's own digest, as JSON."""

import pytest
from rest_framework.test import APIClient

from apps.digests.selectors import subscription_frequency
from apps.projects.services import personal_api_key_create
from conftest import MembershipFactory

pytestmark = pytest.mark.django_db


def path(project_id):
    return f"/api/v1/projects/{project_id}/digest/subscription"


def test_read_and_set(member, reader):
    answer = reader.get(path(member.project.id))
    assert answer.status_code == 200
    assert answer.json() == {"frequency": "off", "email": member.user.email, "timezone": "UTC"}
    changed = reader.put(path(member.project.id), {"frequency": "weekly"}, format="json")
    assert changed.status_code == 200 and changed.json()["frequency"] == "weekly"
    assert subscription_frequency(project=member.project, user=member.user) == "weekly"
    assert reader.get(path(member.project.id)).json()["frequency"] == "weekly"


@pytest.mark.parametrize("body", [{}, {"frequency": "hourly"}, {"frequency": None}, {"frequency": 3}])
def test_bad_input_is_a_400_naming_the_field(member, reader, body):
    answer = reader.put(path(member.project.id), body, format="json")
    assert answer.status_code == 400
    assert answer.json()["field"] == "frequency" and answer.json()["message"] == "Pick off, daily or weekly."
    assert subscription_frequency(project=member.project, user=member.user) == "off"


def test_a_body_that_is_not_an_object_is_a_400(member, reader):
    answer = reader.put(path(member.project.id), ["daily"], format="json")
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_input"


def test_each_member_sets_their_own(member, reader):
    other = MembershipFactory(project=member.project, role="viewer")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {personal_api_key_create(user=other.user, label='t').secret}")
    assert client.put(path(member.project.id), {"frequency": "daily"}, format="json").status_code == 200
    assert subscription_frequency(project=member.project, user=other.user) == "daily"
    assert subscription_frequency(project=member.project, user=member.user) == "off"


def test_tenancy_and_authentication(member, reader):
    stranger = MembershipFactory()
    assert reader.get(path(stranger.project.id)).status_code == 404
    assert reader.put(path(stranger.project.id), {"frequency": "daily"}, format="json").status_code == 404
    assert subscription_frequency(project=stranger.project, user=member.user) == "off"
    assert APIClient().get(path(member.project.id)).status_code == 401
    ingest_key_only = APIClient()
    ingest_key_only.credentials(HTTP_AUTHORIZATION=f"Bearer {member.project.api_key}")
    assert ingest_key_only.get(path(member.project.id)).status_code == 401
