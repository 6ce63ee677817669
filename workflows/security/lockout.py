"""The answer to a login that django-axes refuses (AXES_LOCKOUT_CALLABLE): 429, a page
that says why and for how long, and Retry-After."""

from __future__ import annotations

import math
from typing import Any

from axes.helpers import get_cool_off, get_failure_limit
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def locked_out(
    request: HttpRequest, original_response: Any = None, credentials: Any = None
) -> HttpResponse:
    cool_off = get_cool_off(request)
    seconds = math.ceil(cool_off.total_seconds()) if cool_off else None
    context = {
        "failure_limit": get_failure_limit(request, credentials),
        "minutes": math.ceil(seconds / 60) if seconds else None,
    }
    response = render(request, "security/locked_out.html", context, status=429)
    if seconds:
        response["Retry-After"] = str(seconds)
    return response
