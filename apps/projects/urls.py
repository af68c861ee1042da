from django.urls import path

from apps.projects import views

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("projects/", views.project_list, name="project-list"),
    path("projects/<int:project_id>/settings/", views.project_settings, name="project-settings"),
    path("projects/<int:project_id>/settings/ingest-key/rotate/", views.ingest_key_rotate, name="project-ingest-key-rotate"),
    path("projects/<int:project_id>/settings/project/", views.project_edit, name="project-edit"),
    path("projects/<int:project_id>/settings/keys/", views.personal_key_create, name="personal-key-create"),
    path("projects/<int:project_id>/settings/keys/<int:key_id>/revoke/", views.personal_key_revoke, name="personal-key-revoke"),
    path("projects/<int:project_id>/settings/members/", views.member_add, name="member-add"),
    path("projects/<int:project_id>/settings/members/<int:membership_id>/role/", views.member_role, name="member-role"),
    path("projects/<int:project_id>/settings/members/<int:membership_id>/remove/", views.member_remove, name="member-remove"),
]
