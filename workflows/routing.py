"""Websocket URL patterns, mounted by durableapp.asgi under AuthMiddlewareStack."""

websocket_urlpatterns: list = []
