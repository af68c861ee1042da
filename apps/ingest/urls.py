from django.urls import path, re_path

from apps.ingest import data_views, gate_views, plan_api, plan_views, views

# Keep CORS_URLS_REGEX (settings) in step with these routes: browsers may call every one.
urlpatterns = [
    path("api/v1/events", views.ingest_events, name="ingest-events"),
    # PostHog: capture (posthog-js posts to /e/, posthog-python to /batch/), flags, remote config.
    re_path(r"^(?:e|batch|capture|track|i/v0/e)/?$", views.posthog_capture, name="posthog-capture"),
    re_path(r"^(?:flags|decide)/?$", views.posthog_flags, name="posthog-flags"),
    re_path(r"^array/(?P<token>[^/]+)/config$", views.posthog_config, name="posthog-config"),
    re_path(r"^array/(?P<token>[^/]+)/config\.js$", views.posthog_config_js, name="posthog-config-js"),
    # Segment's HTTP tracking API.
    re_path(r"^v1/(?P<kind>batch|track|identify|page|screen|alias)/?$", views.segment_api, name="segment-api"),
    path("demo/", views.sdk_demo, name="sdk-demo"),
    path("projects/<int:project_id>/settings/refused-events/", views.refused_events, name="refused-events"),
    path("projects/<int:project_id>/settings/ingest-usage/", gate_views.ingest_usage, name="ingest-usage"),
    # The Data page: retention, deleting events, deleting the project (owners).
    path("projects/<int:project_id>/settings/data/", data_views.data_settings, name="data-settings"),
    path("projects/<int:project_id>/settings/data/retention/", data_views.retention_save, name="data-retention"),
    path("projects/<int:project_id>/settings/data/events/preview/", data_views.events_preview, name="data-events-preview"),
    path("projects/<int:project_id>/settings/data/events/delete/", data_views.events_delete, name="data-events-delete"),
    path("projects/<int:project_id>/settings/data/events/<uuid:deletion_id>/", data_views.event_deletion_status, name="data-events-deletion"),
    path("projects/<int:project_id>/settings/data/project/delete/", data_views.project_delete, name="data-project-delete"),
    # The tracking plan: its page (members and owners edit) and its JSON twin.
    path("projects/<int:project_id>/tracking-plan/", plan_views.tracking_plan_page, name="tracking-plan"),
    path("projects/<int:project_id>/tracking-plan/violations/reset/", plan_views.tracking_plan_reset, name="tracking-plan-reset"),
    path("api/v1/projects/<int:project_id>/tracking-plan", plan_api.TrackingPlanAPI.as_view(), name="api-tracking-plan"),
]
