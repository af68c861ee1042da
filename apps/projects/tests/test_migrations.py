"""Data migrations of the projects app, run on rows written the old way."""

import importlib

import pytest
from django.apps import apps
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session

pytestmark = pytest.mark.django_db


def test_secrets_that_older_versions_left_in_sessions_are_removed():
    forget = importlib.import_module("apps.projects.migrations.0002_sessions_forget_new_key_secrets")
    secret = "pbp_AbCdEfGhIjKlMnOpQrStUvWxYz012345"
    holding = SessionStore()
    holding.update({"_auth_user_id": "7", "projects:new_personal_key": {"project_id": 1, "key_id": 2, "secret": secret}})
    holding.save()
    other = SessionStore()
    other.update({"_auth_user_id": "8"})
    other.save()
    untouched = Session.objects.get(session_key=other.session_key).session_data

    forget.sessions_forget_new_key_secrets(apps, None)

    data = Session.objects.get(session_key=holding.session_key).session_data
    assert SessionStore().decode(data) == {"_auth_user_id": "7"}
    assert Session.objects.get(session_key=other.session_key).session_data == untouched
