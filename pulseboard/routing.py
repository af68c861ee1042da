"""WebSocket routes. Each app that pushes to the browser adds its consumers here."""

websocket_urlpatterns: list = []
