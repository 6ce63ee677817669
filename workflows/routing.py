"""Websocket URL patterns, mounted by durableapp.asgi under AuthMiddlewareStack."""

from django.urls import path, re_path

from .ui.consumers import InstanceUpdates

websocket_urlpatterns: list = [
    path("ws/instances/", InstanceUpdates.as_asgi()),
    re_path(
        r"^ws/instances/(?P<instance_id>[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199})/$",
        InstanceUpdates.as_asgi(),
    ),
]
