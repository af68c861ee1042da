from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data: the demo login, its shop project, two months of traffic and two funnels. It
    sits above every other app and nothing imports it."""

    name = "apps.demo"
    label = "demo"
