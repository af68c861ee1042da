from django.urls import path

from apps.persons import api, views

urlpatterns = [
    path("projects/<int:project_id>/persons/", views.persons_page, name="persons-list"),
    path("projects/<int:project_id>/persons/of/", views.person_of_id, name="person-of-id"),
    path("projects/<int:project_id>/persons/<str:person_id>/", views.person_page, name="person-detail"),
    path("projects/<int:project_id>/settings/ingestion-warnings/", views.warnings_section, name="ingestion-warnings"),
    path("api/v1/projects/<int:project_id>/persons", api.PersonsAPI.as_view(), name="api-persons"),
    path("api/v1/projects/<int:project_id>/persons/<str:person_id>", api.PersonAPI.as_view(), name="api-person"),
]
