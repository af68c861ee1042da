"""WebSocket routes. Each app that pushes to the browser adds its consumers here."""

from django.urls import path

from apps.analytics.consumers import live_socket

websocket_urlpatterns: list = [
    # apps.analytics.live.live_socket_path builds this path for the live page.
    path("ws/projects/<int:project_id>/live/", live_socket(), name="live-socket"),
]
