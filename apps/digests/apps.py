from django.apps import AppConfig


class DigestsConfig(AppConfig):
    """Daily and weekly email digests of a project, one subscription per member: above the
    insight apps, whose figures they send."""

    name = "apps.digests"
    label = "digests"
