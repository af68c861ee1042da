from functools import cache

from axes.backends import AxesStandaloneBackend
from django.contrib.auth import backends, get_user_model
from rest_framework import authentication, exceptions

from apps.projects.selectors import personal_api_key_get
from apps.projects.services import personal_api_key_used
from pulseboard.prepared import PreparedLookup


class LoginLockoutBackend(AxesStandaloneBackend):
    """django-axes' lockout check, first in ``AUTHENTICATION_BACKENDS``: a login over HTTP of
    a locked-out username or client address is refused before any password is checked.

    ``authenticate()`` without a request is no login over HTTP (Django's test client's
    ``login()``, a shell): it has no client address to count, and axes would raise instead
    of letting the next backend check the password, so it is passed on as is.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


class UserBackend(backends.ModelBackend):
    """Django's ModelBackend, except that the user of a session (read on every logged-in
    request) is fetched with prepared SQL instead of a queryset compiled each time."""

    def get_user(self, user_id):
        user = _user_by_id().get([user_id])
        return user if user is not None and self.user_can_authenticate(user) else None


@cache
def _user_by_id() -> PreparedLookup:
    model = get_user_model()
    return PreparedLookup(model, f"WHERE t.{model._meta.pk.column} = %s")


class PersonalAPIKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <personal API key>``. Project ingest keys are never accepted here."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        if scheme != self.keyword:
            return None
        secret = secret.strip()
        if not secret:
            raise exceptions.AuthenticationFailed("Empty Bearer token.")
        key = personal_api_key_get(secret=secret)
        if key is None:
            raise exceptions.AuthenticationFailed(
                "Invalid personal API key. Reading needs a personal key; project ingest keys are write-only."
            )
        personal_api_key_used(key=key)
        return key.user, None

    def authenticate_header(self, request):
        return self.keyword
