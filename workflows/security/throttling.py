"""The API's throttle, and the client address that it and the login lockout use."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle, UserRateThrottle


class ApiRateThrottle(UserRateThrottle):
    """Requests per user (token or session; anonymous ones per client address), at most
    ``settings.API_THROTTLE_RATE`` (DJANGO_API_THROTTLE_RATE, e.g. ``20/second``; empty:
    no limit). Over it: 429 with Retry-After. Counted in the default cache: per process
    unless DJANGO_CACHE_URL names a shared one."""

    scope = "api"

    def get_rate(self) -> str | None:
        # Read on every request (DRF binds its rates when it is imported).
        return settings.API_THROTTLE_RATE or None


def client_address(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or with DJANGO_PROXY_COUNT=N (N reverse proxies
    in front, each appending to X-Forwarded-For) the address the outermost one saw.

    DRF's own rule (NUM_PROXIES), so the login lockout (AXES_CLIENT_IP_CALLABLE) and the
    API throttle name the same client.
    """
    return BaseThrottle().get_ident(request)
