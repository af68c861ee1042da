from django.conf import settings
from django.db import models

from apps.projects.models import Project


class SavedInsight(models.Model):
    """An insight saved from its page: its type and the page's query, whole (series, math,
    filters, breakdown, interval and a relative or fixed range), as the page's own GET
    parameters. Opening it opens the page with them; a tile renders them through the
    registry (:mod:`apps.dashboards.registry`)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="saved_insights")
    kind = models.CharField(max_length=32, help_text="A key of the insight registry: trends, funnel, retention...")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    query = models.JSONField(default=dict, blank=True, help_text="The page's GET parameters: name -> list of values.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_viewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["project", "-updated_at"], name="savedinsight_project_updated")]

    def __str__(self) -> str:
        return self.name


class Dashboard(models.Model):
    """Tiles of saved insights and Markdown text, laid out on a grid. ``date_range`` (page
    GET parameters such as ``{"range": ["30d"]}``), when set, overrides the tiles' own ranges."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="dashboards")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    is_default = models.BooleanField(default=False, help_text="The project's home dashboard (one per project).")
    date_range = models.JSONField(default=dict, blank=True)
    # A read-only public link: only a SHA-256 of its token is kept; the link is shown once.
    share_token_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    shared_at = models.DateTimeField(null=True, blank=True)
    shared_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_default", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project"], condition=models.Q(is_default=True), name="dashboard_one_default_per_project")
        ]

    def __str__(self) -> str:
        return self.name


class Tile(models.Model):
    """A saved insight, or a Markdown text card, at a place of its dashboard's grid."""

    dashboard = models.ForeignKey(Dashboard, on_delete=models.CASCADE, related_name="tiles")
    insight = models.ForeignKey(SavedInsight, on_delete=models.CASCADE, null=True, blank=True, related_name="tiles")
    text = models.TextField(blank=True, help_text="Markdown, for a text card (no insight). Raw HTML is escaped.")
    x = models.PositiveSmallIntegerField(default=0)
    y = models.PositiveSmallIntegerField(default=0)
    w = models.PositiveSmallIntegerField(default=6)
    h = models.PositiveSmallIntegerField(default=4)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["y", "x", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(insight__isnull=False) | ~models.Q(text=""), name="tile_insight_or_text"
            )
        ]

    def __str__(self) -> str:
        return f"tile {self.pk} of {self.dashboard}"
