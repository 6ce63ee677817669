"""The API's body limit, enforced before anything reads the body.

Django refuses a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (2.5 MB) the moment something
reads ``request.body``, with its HTML "Bad Request (400)" page: not the API's JSON error
shape, and not the status that says what was wrong. DRF reads ``request.body`` for its JSON
parser, so :class:`~workflows.api.parsers.BoundedJSONParser` comes too late for that.
:class:`BodyLimitMiddleware` therefore answers an ``/api/`` request whose body is over
``DURABLE_API_MAX_BODY_BYTES`` with the API's 413 (``{"error": "request_too_large",
"detail": ...}``) before the body is read:

- with a ``Content-Length``, from that header alone (nothing is read);
- without one (a chunked body), by reading at most limit + 1 bytes.

A body within the limit is read here (at most limit bytes) and kept on the request, so the
parser gets it from memory and Django's separate 2.5 MB check no longer applies to the API:
its one limit is ``DURABLE_API_MAX_BODY_BYTES``. Other paths (the UI's forms) are left to
Django's own limits.

Enabled in settings.MIDDLEWARE, before any middleware that may read the body::

    "workflows.api.limits.BodyLimitMiddleware",
"""

from __future__ import annotations

import io
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from .errors import RequestTooLarge, error_body
from .parsers import max_body_bytes, too_large

API_PREFIX = "/api/"


class BodyLimitMiddleware:
    """Answer a JSON 413 for an ``/api/`` body over the limit, before reading it.

    Example (a 3 MB body, limit 576 KiB)::

        POST /api/v1/instances/  Content-Length: 3000000
        -> 413 {"error": "request_too_large", "detail": "The request body is 3000000 bytes;
           the limit is 589824 bytes (DURABLE_API_MAX_BODY_BYTES). ..."}
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith(API_PREFIX):
            refusal = self._refuse_oversized(request)
            if refusal is not None:
                return refusal
        return self.get_response(request)

    def _refuse_oversized(self, request: HttpRequest) -> HttpResponse | None:
        limit = max_body_bytes()
        declared = _content_length(request)
        if declared is not None and declared > limit:
            return _answer(too_large(declared, limit))
        if declared == 0:
            return None  # no body: nothing to read (WSGI also sends chunked bodies as 0)
        # A length within the limit, or none at all (chunked, ASGI): read at most one byte
        # more than allowed, which tells "over the limit" without holding more.
        body = request.read(limit + 1)
        if len(body) > limit:
            return _answer(too_large(None, limit))
        # Hand the bytes on as if never read: ``request.body`` (DRF's parsers) and
        # ``request.read()`` both find them, and Django's own size check (a 400 HTML page
        # for over 2.5 MB) is not run again: the API's limit is the one above.
        request._body = body
        request._stream = io.BytesIO(body)
        request._read_started = False
        # Now known: DRF takes a body without a Content-Length for no body at all.
        request.META["CONTENT_LENGTH"] = str(len(body))
        return None


def _content_length(request: HttpRequest) -> int | None:
    """The declared body length, or None when absent or not a number (then read, bounded)."""
    value = request.META.get("CONTENT_LENGTH")
    if value is None or value == "":
        return None
    try:
        length = int(value)
    except ValueError:
        return None
    return length if length >= 0 else None


def _answer(error: RequestTooLarge) -> JsonResponse:
    return JsonResponse(error_body(error.default_code, str(error.detail)), status=error.status_code)
