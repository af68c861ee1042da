from django.urls import path, re_path

from apps.ingest import views

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
]
