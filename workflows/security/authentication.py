"""DRF authentication by ``Authorization: Token <key>`` against hashed, expiring ApiTokens.

It parses the header exactly as DRF's TokenAuthentication (same 401s and
``WWW-Authenticate: Token``; drf-spectacular documents it as ``tokenAuth``), and only
looks the key up differently.
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from .tokens import find, mark_used


class ApiTokenAuthentication(TokenAuthentication):
    keyword = "Token"

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        token = find(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if token.expired:
            raise exceptions.AuthenticationFailed(
                "Token has expired: ask an administrator for a new one."
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        mark_used(token)
        return token.user, token
