from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from .health import healthz

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: the CSP allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("api/v1/", include("workflows.api.urls")),
    path("healthz", healthz, name="healthz"),
    path("metrics", include("workflows.metrics")),  # Prometheus (workflows/metrics.py)
    path("console/schedules/", include("workflows.schedules.urls")),  # schedules/views.py
    path("console/entities/", include("workflows.entities.urls")),  # entities/views.py
    path("", include("workflows.ui.urls")),
]
