from django.urls import path

from apps.projects import accounts, views

urlpatterns = [
    path("login/", accounts.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("signup/", accounts.signup, name="signup"),
    path("invites/<str:token>/", accounts.invite_accept, name="invite-accept"),
    path("password/change/", accounts.PasswordChangeView.as_view(), name="password_change"),
    path("password/change/done/", accounts.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password/reset/", accounts.PasswordResetView.as_view(), name="password_reset"),
    path("password/reset/sent/", accounts.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("password/reset/<uidb64>/<token>/", accounts.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("password/reset/done/", accounts.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("projects/", views.project_list, name="project-list"),
    path("projects/<int:project_id>/settings/", views.project_settings, name="project-settings"),
    path("projects/<int:project_id>/settings/ingest-key/rotate/", views.ingest_key_rotate, name="project-ingest-key-rotate"),
    path("projects/<int:project_id>/settings/project/", views.project_edit, name="project-edit"),
    path("projects/<int:project_id>/settings/limits/", views.ingest_guards_save, name="project-ingest-guards"),
    path("projects/<int:project_id>/settings/server-keys/", views.server_key_create, name="server-key-create"),
    path("projects/<int:project_id>/settings/server-keys/<int:key_id>/revoke/", views.server_key_revoke, name="server-key-revoke"),
    path("projects/<int:project_id>/settings/keys/", views.personal_key_create, name="personal-key-create"),
    path("projects/<int:project_id>/settings/keys/<int:key_id>/revoke/", views.personal_key_revoke, name="personal-key-revoke"),
    path("projects/<int:project_id>/settings/members/", views.member_add, name="member-add"),
    path("projects/<int:project_id>/settings/members/<int:membership_id>/role/", views.member_role, name="member-role"),
    path("projects/<int:project_id>/settings/members/<int:membership_id>/remove/", views.member_remove, name="member-remove"),
    path("projects/<int:project_id>/settings/invites/", accounts.invite_create, name="invite-create"),
    path("projects/<int:project_id>/settings/invites/<int:invite_id>/revoke/", accounts.invite_revoke, name="invite-revoke"),
]
