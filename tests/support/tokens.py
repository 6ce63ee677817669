"""API tokens for tests: real ones (hashed, expiring: workflows/security), by their key.

Example::

    api.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
"""

from __future__ import annotations

from typing import Any


def token_for(user: Any, name: str = "tests", days: int | None = None) -> str:
    """The key of a new token of ``user`` (only its digest is stored)."""
    from workflows.security.tokens import issue

    return issue(user, name=name, days=days)[1]
