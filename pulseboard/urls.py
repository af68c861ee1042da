from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.projects.views import home
from pulseboard.health import healthz, livez

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("livez", livez, name="livez"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("apps.projects.urls")),
    path("", include("apps.ingest.urls")),
    path("", include("apps.persons.urls")),
    path("", include("apps.analytics.urls")),
    path("", include("apps.funnels.urls")),
]
