from django.urls import path

from apps.analytics import api

urlpatterns = [
    path("api/v1/projects/<int:project_id>/events", api.EventsAPI.as_view(), name="api-events"),
    path("api/v1/projects/<int:project_id>/insights/active-users", api.ActiveUsersAPI.as_view(), name="api-active-users"),
    path("api/v1/projects/<int:project_id>/insights/trends", api.TrendsAPI.as_view(), name="api-trends"),
    path("api/v1/projects/<int:project_id>/insights/top-events", api.TopEventsAPI.as_view(), name="api-top-events"),
    path("api/v1/projects/<int:project_id>/insights/overview", api.OverviewAPI.as_view(), name="api-overview"),
]
