from django.contrib import admin
from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.projects.views import home
from pulseboard.health import healthz, livez


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """Browsers ask for /favicon.ico whatever a page links to: send them to the icon."""
    return HttpResponseRedirect(static("favicon.svg"))


urlpatterns = [
    path("", home, name="home"),
    path("favicon.ico", favicon, name="favicon"),
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
    path("", include("apps.web.urls")),
    path("", include("apps.dashboards.urls")),
    path("", include("apps.alerts.urls")),
    path("", include("apps.digests.urls")),
    # Dashboards shared by a public read-only link: the token opens that dashboard only.
    path("shared/", include("apps.dashboards.share_urls")),
]
