from django.urls import path

from apps.web import overview_api, overview_views, paths_api, paths_views, sessions_api, sessions_views

urlpatterns = [
    path("projects/<int:project_id>/web/", overview_views.web_overview_page, name="web-overview"),
    path("projects/<int:project_id>/web.csv", overview_views.web_overview_csv, name="web-overview-csv"),
    path("projects/<int:project_id>/web/sessions", overview_views.web_overview_sessions, name="web-overview-sessions"),
    path("api/v1/projects/<int:project_id>/insights/web", overview_api.WebOverviewAPI.as_view(), name="api-web-overview"),
    path("projects/<int:project_id>/sessions/", sessions_views.sessions_page, name="web-sessions"),
    path("projects/<int:project_id>/sessions.csv", sessions_views.sessions_csv, name="web-sessions-csv"),
    path("api/v1/projects/<int:project_id>/insights/sessions", sessions_api.SessionsAPI.as_view(), name="api-sessions"),
    path("projects/<int:project_id>/paths/", paths_views.paths_page, name="web-paths"),
    path("projects/<int:project_id>/paths.csv", paths_views.paths_csv, name="web-paths-csv"),
    path("api/v1/projects/<int:project_id>/insights/paths", paths_api.PathsAPI.as_view(), name="api-paths"),
]
