"""The database away (a restart, no connection slots left): a 503 to retry, not a 500.

The REST API answers the same through its exception handler (``workflows/api/errors.py``);
this middleware does it for the pages, their HTMX requests and the admin. The page is
rendered without the request's context: the signed-in user, the navigation and the
waiting approvals all come from the database that just failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django_htmx.http import reswap, retarget

from workflows.rules import DATABASE_RETRY_AFTER

log = logging.getLogger("workflows.ui")

PAGE = "workflows/unavailable.html"
# Not "nothing was changed": the connection may have gone after an action's commit.
MESSAGE = (
    "The database cannot be reached just now (a restart?). Try again in a few seconds: "
    "the page then shows whether your last action was made."
)


class DatabaseUnavailableMiddleware:
    """Turns a lost or refused database connection in a view into a 503 with Retry-After.

    An HTMX request gets the message in ``#flash`` (``static/workflows/live.js`` swaps
    4xx/5xx answers that carry ``X-Durable-Message``); a page load gets a small page that
    says the same.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if not isinstance(exc, (OperationalError, InterfaceError)):
            return None
        log.warning("database unavailable for %s %s: %s", request.method, request.path, exc)
        htmx = getattr(request, "htmx", False)
        html = render_to_string(PAGE, {"message": MESSAGE, "fragment": bool(htmx)})
        response = HttpResponse(html, status=503)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER)
        if htmx:
            response["X-Durable-Message"] = "1"
            retarget(response, "#flash")
            reswap(response, "innerHTML")
        return response
