from django.urls import path

from apps.ingest import views

urlpatterns = [
    path("api/v1/events", views.ingest_events, name="ingest-events"),
    path("demo/", views.sdk_demo, name="sdk-demo"),
]
