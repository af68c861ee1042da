from django.urls import path

from apps.analytics import annotation_api, annotation_views, api, views

urlpatterns = [
    path("projects/<int:project_id>/", views.overview, name="analytics-overview"),
    path("projects/<int:project_id>/trends/", views.trends, name="analytics-trends"),
    path("projects/<int:project_id>/trends.csv", views.trends_csv, name="analytics-trends-csv"),
    path("projects/<int:project_id>/retention/", views.retention_page, name="analytics-retention"),
    path("projects/<int:project_id>/retention.csv", views.retention_csv, name="analytics-retention-csv"),
    path("projects/<int:project_id>/retention/persons/", views.retention_persons, name="analytics-retention-persons"),
    path("projects/<int:project_id>/stickiness/", views.stickiness_page, name="analytics-stickiness"),
    path("projects/<int:project_id>/stickiness.csv", views.stickiness_csv, name="analytics-stickiness-csv"),
    path("projects/<int:project_id>/lifecycle/", views.lifecycle_page, name="analytics-lifecycle"),
    path("projects/<int:project_id>/lifecycle.csv", views.lifecycle_csv, name="analytics-lifecycle-csv"),
    path("projects/<int:project_id>/explorer/", views.explorer, name="analytics-explorer"),
    path("projects/<int:project_id>/explorer/new", views.explorer_new, name="analytics-explorer-new"),
    path("projects/<int:project_id>/live/", views.live, name="analytics-live"),
    path("projects/<int:project_id>/users/", views.users, name="analytics-users"),
    path("projects/<int:project_id>/annotations/", annotation_views.annotations_list, name="annotations-list"),
    path("projects/<int:project_id>/annotations/<int:annotation_id>/edit", annotation_views.annotation_edit, name="annotation-edit"),
    path("projects/<int:project_id>/annotations/<int:annotation_id>/delete", annotation_views.annotation_delete_view, name="annotation-delete"),
    path("api/v1/projects/<int:project_id>/annotations", annotation_api.AnnotationListAPI.as_view(), name="api-annotations"),
    path("api/v1/projects/<int:project_id>/annotations/<int:annotation_id>", annotation_api.AnnotationDetailAPI.as_view(), name="api-annotation"),
    path("api/v1/projects/<int:project_id>/events", api.EventsAPI.as_view(), name="api-events"),
    path("api/v1/projects/<int:project_id>/insights/active-users", api.ActiveUsersAPI.as_view(), name="api-active-users"),
    path("api/v1/projects/<int:project_id>/insights/trends", api.TrendsAPI.as_view(), name="api-trends"),
    path("api/v1/projects/<int:project_id>/insights/top-events", api.TopEventsAPI.as_view(), name="api-top-events"),
    path("api/v1/projects/<int:project_id>/insights/overview", api.OverviewAPI.as_view(), name="api-overview"),
    path("api/v1/projects/<int:project_id>/insights/retention", api.RetentionAPI.as_view(), name="api-retention"),
    path("api/v1/projects/<int:project_id>/insights/retention/persons", api.RetentionPersonsAPI.as_view(), name="api-retention-persons"),
    path("api/v1/projects/<int:project_id>/insights/stickiness", api.StickinessAPI.as_view(), name="api-stickiness"),
    path("api/v1/projects/<int:project_id>/insights/lifecycle", api.LifecycleAPI.as_view(), name="api-lifecycle"),
]
