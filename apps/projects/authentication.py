from rest_framework import authentication, exceptions

from apps.projects.selectors import personal_api_key_authenticate


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
        user = personal_api_key_authenticate(secret=secret)
        if user is None:
            raise exceptions.AuthenticationFailed(
                "Invalid personal API key. Reading needs a personal key; project ingest keys are write-only."
            )
        return user, None

    def authenticate_header(self, request):
        return self.keyword
