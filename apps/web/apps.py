from django.apps import AppConfig


class WebConfig(AppConfig):
    """Sessions, paths and the web overview: how visits begin, move and end."""

    name = "apps.web"
    label = "web"
