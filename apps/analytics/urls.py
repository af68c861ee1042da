from django.urls import path

from apps.analytics import api

urlpatterns = [
    path("api/v1/projects/<int:project_id>/events", api.EventsAPI.as_view(), name="api-events"),
]
