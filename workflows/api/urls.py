"""/api/v1/ routes (included from workflows.urls)."""

from django.urls import path, re_path

from . import views

app_name = "durable-api"

_instance = "instances/<str:instance_id>/"

urlpatterns = [
    path("instances/", views.InstancesView.as_view(), name="instances"),
    path(_instance, views.InstanceView.as_view(), name="instance"),
    path(f"{_instance}history/", views.HistoryView.as_view(), name="history"),
    path(f"{_instance}events/<str:event>/", views.EventView.as_view(), name="event"),
    path(f"{_instance}terminate/", views.TerminateView.as_view(), name="terminate"),
    path(f"{_instance}suspend/", views.SuspendView.as_view(), name="suspend"),
    path(f"{_instance}resume/", views.ResumeView.as_view(), name="resume"),
    path(f"{_instance}rewind/", views.RewindView.as_view(), name="rewind"),
    path(f"{_instance}restart/", views.RestartView.as_view(), name="restart"),
    re_path(r"^(?P<unmatched>.*)$", views.not_found),
]
