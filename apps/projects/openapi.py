"""How the read APIs authenticate, in the OpenAPI schema: ``Authorization: Bearer <personal
API key>`` (Swagger's Authorize button takes one), next to the session cookie of a login.
Registered with drf-spectacular by importing this module (``ProjectsConfig.ready``)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object


class PersonalAPIKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apps.projects.authentication.PersonalAPIKeyAuthentication"
    name = "personalApiKey"

    def get_security_definition(self, auto_schema):
        return {
            **build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Bearer"),
            "description": "A personal API key (a project's settings page, Personal API keys). Project ingest keys are refused here.",
        }
