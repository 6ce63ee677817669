"""Console routes of schedules (included under /console/schedules/ by workflows/urls.py)."""

from django.urls import path

from . import views

app_name = "schedules"

urlpatterns = [
    path("", views.schedules_page, name="list"),
    path("create/", views.create, name="create"),
    path("<str:schedule_id>/<slug:action>/", views.act, name="act"),
]
