"""Console routes of entities (included under /console/entities/ by workflows/urls.py)."""

from django.urls import path

from . import views

app_name = "entities"

urlpatterns = [
    path("", views.entities_page, name="list"),
    path("<str:name>/<str:key>/", views.entity_page, name="entity"),
    path("<str:name>/<str:key>/signal/", views.signal, name="signal"),
]
