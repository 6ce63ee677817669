"""Websocket URL patterns, mounted by durableapp.asgi under AuthMiddlewareStack.

The last pattern takes every path the others do not: channels' URLRouter would otherwise
raise ValueError ("No route found for path ...") for ``/ws/nope/``, which the server turns
into an error and a traceback in the log for every probe or stale bookmark. Such a socket is
refused with close code :data:`NOT_FOUND` instead (the 404 of websockets, as 4401 and 4403
are the consumer's 401 and 403).
"""

from __future__ import annotations

from typing import Any

from django.urls import path, re_path

from .ui.bulk_live import BulkProgress
from .ui.consumers import InstanceUpdates

# Application close codes are 4000-4999 (RFC 6455); the consumer uses 4401 and 4403 alike.
NOT_FOUND = 4404


async def no_route(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A websocket ASGI application that refuses the handshake with close code 4404.

    Refused before accepting, like the consumer's 4401 and 4403: the server answers the
    handshake with 403, and channels' WebsocketCommunicator reports ``(False, 4404)``.

    Example::

        connected, code = await WebsocketCommunicator(application, "/ws/nope/").connect()
        # -> (False, 4404)
    """
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": NOT_FOUND})
    # Any other first message (a disconnect) needs no answer: the socket is gone.


websocket_urlpatterns: list = [
    path("ws/instances/", InstanceUpdates.as_asgi()),
    re_path(
        r"^ws/instances/(?P<instance_id>[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199})/$",
        InstanceUpdates.as_asgi(),
    ),
    path("ws/bulk-operations/<int:pk>/", BulkProgress.as_asgi()),
    re_path(r"", no_route),  # last: everything no pattern above takes
]
