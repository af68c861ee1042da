from django.urls import path

from apps.funnels import api, views

urlpatterns = [
    path("projects/<int:project_id>/funnels/", views.funnel_list, name="funnels-list"),
    path("projects/<int:project_id>/funnels/new/", views.funnel_new, name="funnels-new"),
    path("projects/<int:project_id>/funnels/run/", views.funnel_adhoc, name="funnels-adhoc"),
    path("projects/<int:project_id>/funnels/<int:funnel_id>/", views.funnel_detail, name="funnels-detail"),
    path("projects/<int:project_id>/funnels/<int:funnel_id>/edit/", views.funnel_edit, name="funnels-edit"),
    path("projects/<int:project_id>/funnels/<int:funnel_id>/delete/", views.funnel_delete, name="funnels-delete"),
    path("api/v1/projects/<int:project_id>/funnels", api.FunnelListAPI.as_view(), name="api-funnels"),
    path("api/v1/projects/<int:project_id>/funnels/query", api.FunnelQueryAPI.as_view(), name="api-funnels-query"),
    path("api/v1/projects/<int:project_id>/funnels/<int:funnel_id>", api.FunnelDetailAPI.as_view(), name="api-funnel"),
    path(
        "api/v1/projects/<int:project_id>/funnels/<int:funnel_id>/results",
        api.FunnelResultsAPI.as_view(),
        name="api-funnel-results",
    ),
]
