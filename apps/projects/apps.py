from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "apps.projects"
    label = "projects"

    def ready(self):
        from apps.projects import openapi  # noqa: F401  (registers the personal API key scheme)
