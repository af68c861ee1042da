from django.urls import path

from apps.digests import api, views

urlpatterns = [
    path("projects/<int:project_id>/digest/", views.digest_settings, name="digests-settings"),
    path("projects/<int:project_id>/digest/send", views.digest_send_now_view, name="digests-send-now"),
    path("digest/unsubscribe/<str:token>/", views.digest_unsubscribe, name="digests-unsubscribe"),
    path("api/v1/projects/<int:project_id>/digest/subscription", api.DigestSubscriptionAPI.as_view(), name="api-digest-subscription"),
]
