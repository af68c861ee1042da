from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "apps.analytics"
    label = "analytics"

    def ready(self) -> None:
        from apps.analytics.annotations import chart_annotate
        from apps.analytics.live import live_broadcast
        from apps.ingest.hooks import stored_subscribe
        from apps.query.charts import time_chart_finisher_add

        # The live feed hears of every batch the flush stores (apps/ingest/hooks.py).
        stored_subscribe(name="live feed", receiver=live_broadcast)
        # Every time-series chart, of this app or of another (the Sessions chart), shows the
        # project's annotations (apps/query/charts.py).
        time_chart_finisher_add("annotations", chart_annotate)
