"""Root URLs: the admin, the REST API under /api/ (learner_credit/api_urls.py), /health/, /metrics, /csrf/."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from common.health import ReadinessView, liveness

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("health/", ReadinessView.as_view(), name="health"),
    path("health/live/", liveness, name="health-live"),
    path("", include("django_prometheus.urls")),  # /metrics
    path("admin/", admin.site.urls),
    path("api/", include("learner_credit.api_urls")),
    path("", include("csrf.urls")),  # /csrf/api/v1/token, for Open edX frontends posting with JWT cookies
]

# JSON for unknown /api/ addresses (e.g. a malformed uuid in a path); Django's pages elsewhere.
handler404 = "common.api.not_found"
handler500 = "common.api.server_error"
# The admin's own style for a missing permission, naming it (common/admin.py).
handler403 = "common.admin.permission_denied"
