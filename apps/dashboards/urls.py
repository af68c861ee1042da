from django.urls import path  # noqa: F401

from apps.dashboards import dashboard_api, dashboard_views, insight_api, insight_views

urlpatterns: list = []

# Saved insights (the list, saving from a page, and the API).
urlpatterns += [
    path("projects/<int:project_id>/insights/", insight_views.insight_list, name="insights-list"),
    path("projects/<int:project_id>/insights/new/", insight_views.insight_new, name="insights-new"),
    path("projects/<int:project_id>/insights/funnel/", insight_views.insight_funnel, name="insights-funnel"),
    path("projects/<int:project_id>/insights/<int:insight_id>/", insight_views.insight_open, name="insights-open"),
    path("projects/<int:project_id>/insights/<int:insight_id>/update/", insight_views.insight_update, name="insights-update"),
    path("projects/<int:project_id>/insights/<int:insight_id>/rename/", insight_views.insight_rename, name="insights-rename"),
    path("projects/<int:project_id>/insights/<int:insight_id>/duplicate/", insight_views.insight_duplicate, name="insights-duplicate"),
    path("projects/<int:project_id>/insights/<int:insight_id>/delete/", insight_views.insight_delete, name="insights-delete"),
    path("api/v1/projects/<int:project_id>/insights", insight_api.InsightListAPI.as_view(), name="api-saved-insights"),
    path("api/v1/projects/<int:project_id>/insights/<int:insight_id>", insight_api.InsightDetailAPI.as_view(), name="api-saved-insight"),
    path(
        "api/v1/projects/<int:project_id>/insights/<int:insight_id>/results",
        insight_api.InsightResultsAPI.as_view(),
        name="api-saved-insight-results",
    ),
]

# Dashboards: pages, tiles (each loads on its own), and the API (the page saves its layout there).
_board = "projects/<int:project_id>/dashboards/<int:dashboard_id>"
_tile = f"{_board}/tiles/<int:tile_id>"
_api = "api/v1/projects/<int:project_id>/dashboards"
urlpatterns += [
    path("projects/<int:project_id>/dashboards/", dashboard_views.dashboard_list, name="dashboards-list"),
    path("projects/<int:project_id>/dashboards/home/", dashboard_views.dashboard_home, name="dashboards-home"),
    path(f"{_board}/", dashboard_views.dashboard_detail, name="dashboards-detail"),
    path(f"{_board}/edit/", dashboard_views.dashboard_edit, name="dashboards-edit"),
    path(f"{_board}/delete/", dashboard_views.dashboard_delete, name="dashboards-delete"),
    path(f"{_board}/make-home/", dashboard_views.dashboard_make_home, name="dashboards-make-home"),
    path(f"{_board}/range/", dashboard_views.dashboard_range, name="dashboards-range"),
    path(f"{_board}/share/", dashboard_views.dashboard_share, name="dashboards-share"),
    path(f"{_board}/share/revoke/", dashboard_views.dashboard_share_revoke, name="dashboards-share-revoke"),
    path(f"{_board}/tiles/new/", dashboard_views.tile_new, name="dashboards-tile-new"),
    path(f"{_board}/tiles/insights/", dashboard_views.tile_insights, name="dashboards-tile-insights"),
    path(f"{_tile}/", dashboard_views.tile_body, name="dashboards-tile"),
    path(f"{_tile}/edit/", dashboard_views.tile_edit, name="dashboards-tile-edit"),
    path(f"{_tile}/delete/", dashboard_views.tile_delete, name="dashboards-tile-delete"),
    path(f"{_tile}/csv/", dashboard_views.tile_csv, name="dashboards-tile-csv"),
    path(_api, dashboard_api.DashboardListAPI.as_view(), name="api-dashboards"),
    path(f"{_api}/<int:dashboard_id>", dashboard_api.DashboardDetailAPI.as_view(), name="api-dashboard"),
    path(f"{_api}/<int:dashboard_id>/tiles", dashboard_api.TileListAPI.as_view(), name="api-dashboard-tiles"),
    path(f"{_api}/<int:dashboard_id>/tiles/<int:tile_id>", dashboard_api.TileDetailAPI.as_view(), name="api-dashboard-tile"),
    path(f"{_api}/<int:dashboard_id>/layout", dashboard_api.LayoutAPI.as_view(), name="api-dashboard-layout"),
]
