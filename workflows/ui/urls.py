"""URLs of the web UI (mounted at the site root by workflows/urls.py)."""

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import path, reverse
from django.views.generic import RedirectView

from . import access, approvals, bulk, console, dashboard, instances, saved_views, start
from .http import login_required

app_name = "ui"


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Operators land on the console, everyone else on their approvals."""
    page = "ui:console" if access.can_view_console(request.user) else "ui:approvals"
    return HttpResponseRedirect(reverse(page))


urlpatterns = [
    path("", home, name="home"),
    # Browsers ask for it on every page (the admin and API docs too): no 404 in the console.
    path("favicon.ico", RedirectView.as_view(url=static("workflows/favicon.svg"), permanent=True)),
    path("approvals/", approvals.approvals_page, name="approvals"),
    path("approvals/list/", approvals.approvals_list, name="approvals-list"),
    path("approvals/<int:pk>/decide/", approvals.decide, name="decide"),
    path("approvals/<int:pk>/claim/", approvals.claim, name="claim"),
    path("approvals/<int:pk>/release/", approvals.release, name="release"),
    path("console/", console.console_page, name="console"),
    path("console/overview/", console.console_overview, name="console-overview"),
    path("console/instances/", console.console_instances, name="console-instances"),
    path("console/views/", saved_views.save_view, name="save-view"),
    path("console/views/<int:pk>/delete/", saved_views.delete_view, name="delete-view"),
    path("console/bulk/", bulk.operations_page, name="bulk-operations"),
    path("console/bulk/review/", bulk.review, name="bulk-review"),
    path("console/bulk/start/", bulk.start, name="bulk-start"),
    path("console/bulk/<int:pk>/", bulk.operation_page, name="bulk-operation"),
    path("console/bulk/<int:pk>/progress/", bulk.progress, name="bulk-progress"),
    path("console/bulk/<int:pk>/outcomes/", bulk.outcomes, name="bulk-outcomes"),
    path("console/bulk/<int:pk>/cancel/", bulk.cancel, name="bulk-cancel"),
    path("console/dashboard/", dashboard.dashboard_page, name="dashboard"),
    path("console/dashboard/body/", dashboard.dashboard_body, name="dashboard-body"),
    path("start/", start.start_page, name="start"),
    path("instances/<str:instance_id>/", instances.instance_page, name="instance"),
    path("instances/<str:instance_id>/body/", instances.instance_body, name="instance-body"),
    path("instances/<str:instance_id>/history.json", instances.history_json, name="history-json"),
    path("instances/<str:instance_id>/events/", instances.raise_event, name="raise-event"),
    path("instances/<str:instance_id>/<slug:action>/", instances.operate, name="operate"),
    path(
        "compensations/<int:pk>/<slug:decision>/",
        instances.decide_compensation,
        name="compensation",
    ),
]
