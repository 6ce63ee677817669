"""Response helpers shared by the page modules: login, 403/404, messages and HTMX fragments.

HTMX requests get fragments; their messages travel with them as an out-of-band swap of
``#flash``. A refused action answers 4xx with the message (``X-Durable-Message``), and
``static/workflows/live.js`` lets htmx swap that into ``#flash`` instead of dropping it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect, reswap, retarget

from workflows.engine import DurableError
from workflows.rules import http_status

FLASH = "workflows/partials/_flash.html"
ERROR_PAGE = "workflows/error.html"


def login_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Like Django's, but an HTMX request after the session ended reloads the login page."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            if request.htmx:
                page = request.htmx.current_url_abs_path or request.path
                return HttpResponseClientRedirect(f"{settings.LOGIN_URL}?next={page}")
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapper


def require(check: Callable[[Any], bool], message: str) -> Callable[..., Any]:
    """Signed in and ``check(user)``, else a 403 with ``message``."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not check(request.user):
                return forbidden(request, message)
            return view(request, *args, **kwargs)

        return login_required(wrapper)

    return decorator


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    return refused(request, message, 403, "Not allowed")


def not_found(request: HttpRequest, message: str) -> HttpResponse:
    return refused(request, message, 404, "Not found")


def refused(request: HttpRequest, message: str, status: int, title: str) -> HttpResponse:
    """A 4xx: an inline message for HTMX, a small page otherwise."""
    if request.htmx:
        return message_response(request, message, status)
    context = {"title": title, "message": message, "status": status}
    return render(request, ERROR_PAGE, context, status=status)


def status_of(exc: DurableError) -> int:
    """The HTTP status of a refusal: the REST API's, from the shared table in
    ``workflows.rules`` (e.g. 409 for InstanceExists).

    Pages catch every DurableError to show its message; for one the table does not list
    they answer 400, so the person still reads the message instead of a server error page.

    Example::

        return message_response(request, str(exc), status_of(exc))
    """
    return http_status(exc) or 400


def message_response(
    request: HttpRequest, text: str, status: int = 400, level: int = messages.ERROR
) -> HttpResponse:
    """An HTMX answer that only shows ``text`` in ``#flash``."""
    messages.add_message(request, level, text)
    response = render(request, FLASH, {}, status=status)
    response["X-Durable-Message"] = "1"
    retarget(response, "#flash")
    reswap(response, "innerHTML")
    return response


def field_error(request: HttpRequest, text: str, target_id: str, status: int = 400) -> HttpResponse:
    """An HTMX answer that shows ``text`` next to the field (in ``#target_id``) instead of
    at the top of the page; nothing else on the page changes.

    Example::

        return field_error(request, "Write what you did by hand.", f"note-{pk}-error")
    """
    response = HttpResponse(format_html('<span class="field-error">{}</span>', text), status=status)
    response["X-Durable-Message"] = "1"
    retarget(response, f"#{target_id}")
    reswap(response, "innerHTML")
    return response


def fragment(
    request: HttpRequest, template: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    """A partial for HTMX, plus any pending messages swapped out of band into ``#flash``."""
    html = render_to_string(template, context, request)
    if len(messages.get_messages(request)):
        html += render_to_string(FLASH, {"oob": True}, request)
    return HttpResponse(html, status=status)


def back(request: HttpRequest, fallback: str) -> HttpResponseRedirect:
    """Redirect to the form's ``next`` when it is ours, else to ``fallback``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return HttpResponseRedirect(target if target and allowed else fallback)
