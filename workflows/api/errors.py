"""One JSON error shape for the API; statuses come from the project's one table.

The table from error class to HTTP status is ``workflows.rules.ERROR_STATUSES``, shared
with the UI so both answer a refusal alike. A view may extend or override it with its own
``error_statuses`` (the events view maps InstanceFinished to 410 Gone; for operations it
stays a 409 like every other InvalidState).

Every error answer is ``{"error": "<code>", "detail": "<message>"}``, plus ``"fields"``
(``{field: [messages]}``) when a request body or query string failed validation.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from ..rules import DATABASE_RETRY_AFTER, ERROR_STATUSES, http_status

log = logging.getLogger("workflows.api")

__all__ = [
    "ERROR_STATUSES",
    "RequestTooLarge",
    "error_body",
    "error_code",
    "exception_handler",
    "status_for",
]

# DRF's own codes, where ours says more.
_RENAMED = {"parse_error": "malformed_json"}


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = "The request body is too large."


def error_body(code: str, detail: str, fields: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "detail": detail}
    if fields is not None:
        body["fields"] = fields
    return body


def error_code(exc_class: type[Exception]) -> str:
    """``InstanceNotFound`` -> ``instance_not_found``; ``UnknownOrchestratorError`` ->
    ``unknown_orchestrator``."""
    name = re.sub(r"Error$", "", exc_class.__name__)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def status_for(exc: Exception, overrides: dict[type[Exception], int] | None = None) -> int | None:
    """The status of ``exc`` for a view with ``overrides`` (see ``rules.http_status``).

    Example::

        status_for(InstanceFinished("x", "completed", "deliver"), {InstanceFinished: 410})
    """
    return http_status(exc, overrides)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: client refusals and DRF errors -> ``{"error", "detail"}``.

    The database away (a lost or refused connection) is a 503 with Retry-After. Anything
    else is a bug and is left to Django (a 500 with a logged traceback).
    """
    view = context.get("view")
    code = status_for(exc, getattr(view, "error_statuses", None))
    if code is not None:
        return Response(error_body(error_code(type(exc)), str(exc)), status=code)
    if isinstance(exc, DatabaseOperationalError | InterfaceError):
        # The database refused or lost the connection (down, restarting, out of
        # connections): nothing the client did wrong. A 503 the client may retry, not a
        # 500. Not "nothing was changed": requests are not one transaction, and the
        # connection may go after a change committed (a start, then reading its status).
        log.warning("API request could not reach the database: %s", exc)
        set_rollback()
        body = error_body(
            "database_unavailable",
            "The database is not reachable right now. Try again in a few seconds "
            "(Retry-After); after a change, read the resource first to see whether it "
            "was made.",
        )
        return Response(body, status=503, headers={"Retry-After": str(DATABASE_RETRY_AFTER)})

    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = error_body("invalid_input", _first_message(fields), fields)
    else:
        code = _RENAMED.get(exc.default_code, exc.default_code)
        body = error_body(code, str(exc.detail))
    set_rollback()
    return Response(body, status=exc.status_code, headers=headers)


def _first_message(detail: Any, path: tuple[str, ...] = ()) -> str:
    """A one-line summary naming the first offending field: ``name: This field is required.``"""
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        skip = key == "non_field_errors" or isinstance(key, int)  # list positions
        return _first_message(value, path if skip else (*path, str(key)))
    if isinstance(detail, list) and detail:
        return _first_message(detail[0], path)
    where = ".".join(path)
    return f"{where}: {detail}" if where else str(detail)
