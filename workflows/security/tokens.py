"""Making, finding and revoking API tokens (the CLI, the admin and authentication use these).

A key is 30 random bytes as URL-safe base64 (40 characters, 240 bits); the database
keeps its SHA-256 digest, compared in constant time, and its first 8 characters to find
it. Tokens expire after ``settings.API_TOKEN_DAYS`` (DJANGO_API_TOKEN_DAYS) unless made
with other ``days``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from .models import ApiToken

KEY_BYTES = 30
PREFIX_LENGTH = 8
# A key longer than this is not one of ours: refused before hashing it.
MAX_KEY_LENGTH = 200
# last_used_at is written at most this often per token, not on every request.
TOUCH_EVERY = timedelta(minutes=1)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue(user: Any, name: str = "", days: int | None = None) -> tuple[ApiToken, str]:
    """A new token of ``user`` and its key: the only time the key exists outside the client.

    Example::

        token, key = issue(user, name="billing sync", days=30)
    """
    days = settings.API_TOKEN_DAYS if days is None else days
    if days < 1:
        raise ValueError(f"a token must live at least 1 day, not {days}")
    key = secrets.token_urlsafe(KEY_BYTES)
    while key.startswith("-"):  # its prefix names it on the command line: not an option
        key = secrets.token_urlsafe(KEY_BYTES)
    now = timezone.now()
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=key[:PREFIX_LENGTH],
        digest=digest(key),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    return token, key


def find(key: str) -> ApiToken | None:
    """The token of ``key`` (expired ones too, so callers can say so); None if there is none."""
    if not key or len(key) > MAX_KEY_LENGTH:
        return None
    wanted = digest(key)
    candidates = ApiToken.objects.select_related("user").filter(prefix=key[:PREFIX_LENGTH])
    for token in candidates:
        if hmac.compare_digest(token.digest, wanted):
            return token
    return None


def mark_used(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def tokens_of(user: Any = None) -> QuerySet[ApiToken]:
    """Every token (of ``user`` if given), newest first."""
    tokens = ApiToken.objects.select_related("user")
    return tokens.filter(user=user) if user is not None else tokens


def revoke(user: Any, prefixes: tuple[str, ...] | list[str] = ()) -> int:
    """Delete the tokens of ``user`` whose id (prefix) is in ``prefixes``, or all of them
    if none is given; the number deleted."""
    tokens = ApiToken.objects.filter(user=user)
    if prefixes:
        tokens = tokens.filter(prefix__in=list(prefixes))
    deleted, _ = tokens.delete()
    return deleted
