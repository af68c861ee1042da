"""Prepared lookups build the same model instances as the ORM does."""

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.projects.authentication import UserBackend
from apps.projects.models import Project
from apps.projects.selectors import project_get_for_user
from conftest import MembershipFactory
from pulseboard.prepared import PreparedLookup

pytestmark = pytest.mark.django_db


def fields_of(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


def assert_same(got, expected):
    assert fields_of(got) == fields_of(expected)
    assert {name: type(value) for name, value in fields_of(got).items()} == {name: type(value) for name, value in fields_of(expected).items()}
    assert not got._state.adding and got._state.db == expected._state.db


def test_the_user_and_project_are_the_orm_s_own(member):
    user = member.user
    user.last_login = timezone.now()
    user.save()
    assert_same(UserBackend().get_user(user.pk), get_user_model().objects.get(pk=user.pk))
    assert_same(project_get_for_user(user=user, project_id=member.project.id), Project.objects.get(pk=member.project.id))


def test_nothing_found_is_none_and_an_inactive_user_has_no_session(member):
    assert PreparedLookup(Project, "WHERE t.id = %s").get([member.project.id + 1000]) is None
    type(member.user).objects.filter(pk=member.user.pk).update(is_active=False)
    assert UserBackend().get_user(member.user.pk) is None


def test_a_loaded_instance_saves_as_an_update(member):
    other = MembershipFactory()
    project = project_get_for_user(user=member.user, project_id=member.project.id)
    project.name = "Renamed"
    project.save()
    assert Project.objects.count() == 2
    assert Project.objects.get(pk=member.project.id).name == "Renamed"
    assert Project.objects.get(pk=other.project.id).name == other.project.name
