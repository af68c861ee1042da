from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "apps.ingest"
    label = "ingest"

    def ready(self) -> None:
        from apps.ingest import health
        from pulseboard.health import health_section_register

        health_section_register(name="stream", report=health.stream_report)
        health_section_register(name="dead_letter", report=health.dead_letter_report)
        health_section_register(name="flush", report=health.flush_report)
        health_section_register(name="reconcile", report=health.reconcile_report)
