"""The public, read-only side of dashboards: ``/shared/<token>/`` (included by pulseboard/urls.py)."""

from django.urls import path

from apps.dashboards import share_views

urlpatterns = [
    path("<str:token>/", share_views.shared_dashboard, name="shared-dashboard"),
    path("<str:token>/tiles/<int:tile_id>/", share_views.shared_tile, name="shared-tile"),
    path("<str:token>/tiles/<int:tile_id>/csv/", share_views.shared_tile_csv, name="shared-tile-csv"),
]
