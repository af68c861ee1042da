from django.urls import path

from apps.persons import api, views

urlpatterns = [
    path("api/v1/projects/<int:project_id>/persons", api.PersonsAPI.as_view(), name="api-persons"),
    path("api/v1/projects/<int:project_id>/persons/<str:person_id>", api.PersonAPI.as_view(), name="api-person"),
    path("projects/<int:project_id>/settings/ingestion-warnings/", views.warnings_section, name="ingestion-warnings"),
]
