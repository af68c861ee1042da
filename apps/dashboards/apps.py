from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    """Saved insights, dashboards of them, and annotations: above every insight app, whose
    queries it saves and whose charts it shows."""

    name = "apps.dashboards"
    label = "dashboards"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from apps.dashboards import cache, dashboards
        from apps.analytics.models import Annotation
        from apps.funnels.models import Funnel
        from apps.ingest.hooks import changed_subscribe, stored_subscribe, written_subscribe
        from apps.projects.models import Project

        # Cached tiles are keyed on a per-project data watermark: every stored batch and
        # every deletion moves it (apps/ingest/hooks.py), so the next load computes afresh.
        # A batch moves it twice: in the flush, once the rows are in ClickHouse (the written
        # hook, which never drops a batch; after the persons' merges, which subscribed
        # first), and once it is settled (the after-storage hook, best effort).
        written_subscribe(name="dashboard cache", receiver=cache.watermarks_bump_written)
        stored_subscribe(name="dashboard cache", receiver=cache.watermarks_bump_stored)
        changed_subscribe(name="dashboard cache", receiver=cache.watermark_bump)
        # A funnel tile shows its funnel's current definition (the funnel is saved with its
        # steps, in one transaction), and time-series tiles show the project's annotations:
        # an edit of either moves the watermark too.
        for model in (Funnel, Annotation):
            name = model.__name__.lower()
            post_save.connect(cache.definition_changed, sender=model, dispatch_uid=f"dashboards-cache-{name}-save")
            post_delete.connect(cache.definition_changed, sender=model, dispatch_uid=f"dashboards-cache-{name}-delete")
        # Every project gets its home dashboard when it is created.
        post_save.connect(dashboards.project_created, sender=Project, dispatch_uid="dashboards-default-dashboard")
