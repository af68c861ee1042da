from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "apps.analytics"
    label = "analytics"

    def ready(self) -> None:
        from apps.analytics.live import live_broadcast
        from apps.ingest.hooks import stored_subscribe

        # The live feed hears of every batch the flush stores (apps/ingest/hooks.py).
        stored_subscribe(name="live feed", receiver=live_broadcast)
