from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    """Saved insights, dashboards of them, and annotations: above every insight app, whose
    queries it saves and whose charts it shows."""

    name = "apps.dashboards"
    label = "dashboards"
