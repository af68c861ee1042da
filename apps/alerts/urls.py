from django.urls import path

from apps.alerts import api, views

_alert = "projects/<int:project_id>/alerts/<int:alert_id>"
_api = "api/v1/projects/<int:project_id>/alerts"
urlpatterns = [
    path("projects/<int:project_id>/alerts/", views.alert_list, name="alerts-list"),
    path("projects/<int:project_id>/alerts/new/", views.alert_new, name="alerts-new"),
    path(f"{_alert}/", views.alert_detail, name="alerts-detail"),
    path(f"{_alert}/edit/", views.alert_edit, name="alerts-edit"),
    path(f"{_alert}/test/", views.alert_test, name="alerts-test"),
    path(f"{_alert}/snooze/", views.alert_snooze_view, name="alerts-snooze"),
    path(f"{_alert}/rotate-secret/", views.alert_rotate, name="alerts-rotate"),
    path(f"{_alert}/delete/", views.alert_delete_view, name="alerts-delete"),
    path(_api, api.AlertListAPI.as_view(), name="api-alerts"),
    path(f"{_api}/<int:alert_id>", api.AlertDetailAPI.as_view(), name="api-alert"),
    path(f"{_api}/<int:alert_id>/test", api.AlertTestAPI.as_view(), name="api-alert-test"),
]
