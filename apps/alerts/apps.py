from django.apps import AppConfig


class AlertsConfig(AppConfig):
    """Alerts on trend figures: above the insight apps, whose trends they judge."""

    name = "apps.alerts"
    label = "alerts"
