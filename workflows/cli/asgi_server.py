"""daphne for `durable serve`, which alone imports this module (when it runs): the other
subcommands, a worker above all, do not load Twisted or build the ASGI application."""

from __future__ import annotations

from typing import Any

from daphne.endpoints import build_endpoint_description_strings
from daphne.server import Server
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from durableapp.asgi import application


class _Server(Server):
    """daphne's server, keeping why it could not listen (daphne only logs it and stops)."""

    listen_failure: str | None = None

    def listen_error(self, failure: Any) -> None:
        self.listen_failure = failure.getErrorMessage()
        super().listen_error(failure)


def serve(host: str, port: int) -> str | None:
    """Serve until stopped; why it could not listen on ``host:port``, or None.

    Example::

        failure = serve("127.0.0.1", 8000)  # returns on Ctrl-C (None) or a taken port
    """
    server = _Server(
        application=ASGIStaticFilesHandler(application),
        endpoints=build_endpoint_description_strings(host=host, port=port),
    )
    server.run()
    return server.listen_failure
