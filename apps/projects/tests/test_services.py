import json
from io import StringIO

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from apps.projects.models import Membership, PersonalAPIKey, Project
from apps.projects.selectors import personal_api_key_get, project_for_ingest_key, project_get_for_user
from apps.projects.services import personal_api_key_create, personal_api_key_used, project_create, project_rotate_api_key
from conftest import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def bootstrap_json(*flags: str, **overrides) -> dict:
    options = {"username": "ops", "password": "s3cret-pass", "project": "Shop", **overrides}
    out = StringIO()
    call_command("bootstrap", "--json", f"--username={options['username']}", f"--password={options['password']}", f"--project={options['project']}", *flags, stdout=out)
    return json.loads(out.getvalue())


def test_bootstrap_prints_working_keys():
    keys = bootstrap_json()
    assert set(keys) == {"project_id", "api_key", "personal_api_key"}
    project = Project.objects.get(id=keys["project_id"])
    assert project.api_key == keys["api_key"]
    user = personal_api_key_get(secret=keys["personal_api_key"]).user
    assert user.username == "ops" and user.check_password("s3cret-pass")
    assert Membership.objects.get(project=project, user=user).role == "owner"


def test_bootstrap_is_idempotent():
    first = bootstrap_json()
    second = bootstrap_json()
    assert (second["project_id"], second["api_key"]) == (first["project_id"], first["api_key"])
    assert Project.objects.count() == 1 and Membership.objects.count() == 1
    # the personal key is re-issued (a secret is only shown once), and the old one is revoked
    assert personal_api_key_get(secret=first["personal_api_key"]) is None
    assert personal_api_key_get(secret=second["personal_api_key"]) is not None
    assert PersonalAPIKey.objects.count() == 1


def test_bootstrap_makes_staff_users_who_are_not_superusers():
    keys = bootstrap_json()
    user = personal_api_key_get(secret=keys["personal_api_key"]).user
    assert user.is_staff and not user.is_superuser


def test_bootstrap_superuser_flag_makes_an_operator_and_is_what_counts_on_every_run():
    keys = bootstrap_json("--superuser")
    user = personal_api_key_get(secret=keys["personal_api_key"]).user
    assert user.is_staff and user.is_superuser
    # Run again without the flag (to reset a password, say): the user is no longer a superuser.
    bootstrap_json()
    user.refresh_from_db()
    assert user.is_staff and not user.is_superuser


def test_personal_key_is_stored_hashed():
    user = UserFactory()
    issued = personal_api_key_create(user=user, label="ci")
    stored = PersonalAPIKey.objects.get(pk=issued.key.pk)
    assert issued.secret not in (stored.secret_hash, stored.prefix)
    assert issued.secret.startswith(stored.prefix)


def test_rotating_the_ingest_key_revokes_the_old_one():
    project = project_create(name="P")
    old = project.api_key
    assert project_for_ingest_key(api_key=old).project_id == project.id
    new = project_rotate_api_key(project=project)
    assert new != old
    assert project_for_ingest_key(api_key=old) is None
    assert project_for_ingest_key(api_key=new).project_id == project.id


def test_timezone_must_be_an_iana_name():
    with pytest.raises(ValidationError):
        project_create(name="P", timezone="Mars/Olympus")


def test_only_members_get_a_project():
    from pulseboard.errors import NotFound

    a, b = MembershipFactory(), MembershipFactory()
    assert project_get_for_user(user=a.user, project_id=a.project.id) == a.project
    with pytest.raises(NotFound):
        project_get_for_user(user=a.user, project_id=b.project.id)


def test_everything_is_in_the_admin(admin_client):
    for path in ["projects/project", "projects/membership", "projects/personalapikey", "ingest/eventdefinition", "ingest/ingestrequest"]:
        assert admin_client.get(f"/admin/{path}/").status_code == 200


def test_admin_creates_a_project_with_an_ingest_key(admin_client):
    response = admin_client.post(
        "/admin/projects/project/add/",
        {"name": "From admin", "timezone": "Europe/Berlin", "session_gap_minutes": "30", "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0"},
    )
    assert response.status_code == 302, response.content[:2000]
    assert Project.objects.get(name="From admin").api_key.startswith("pb_")


def test_looking_a_key_up_writes_nothing_and_a_request_it_authenticates_is_recorded(member):
    issued = personal_api_key_create(user=member.user, label="export")
    assert personal_api_key_get(secret=issued.secret).user == member.user
    assert PersonalAPIKey.objects.get(pk=issued.key.pk).last_used_at is None

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    before = timezone.now()
    assert client.get(f"/api/v1/projects/{member.project.id}/funnels").status_code == 200
    assert PersonalAPIKey.objects.get(pk=issued.key.pk).last_used_at >= before


def test_last_use_is_written_at_most_once_a_minute(member):
    key = personal_api_key_create(user=member.user, label="export").key
    first = timezone.now() - timedelta(hours=1)
    assert personal_api_key_used(key=key, now=first)
    assert not personal_api_key_used(key=key, now=first + timedelta(seconds=60))
    assert PersonalAPIKey.objects.get(pk=key.pk).last_used_at == first
    assert personal_api_key_used(key=key, now=first + timedelta(seconds=61))
    assert PersonalAPIKey.objects.get(pk=key.pk).last_used_at == first + timedelta(seconds=61)
