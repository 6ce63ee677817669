"""`durable token create|list|revoke`: API tokens for integrations (workflows/security).

Keys are stored hashed: `create` prints a new key once and it can never be shown again.
Each token expires (DJANGO_API_TOKEN_DAYS, default 90 days, or --days); a user may have
several, named by their id (the key's first 8 characters).
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import CommandError

from .output import emit

HELP = "create, list or revoke users' REST API tokens"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="token_action", metavar="action", required=True)
    create = actions.add_parser(
        "create", help="make a new token and print its key (shown only this once)"
    )
    create.add_argument("username")
    create.add_argument("--name", default="", help="what the token is for")
    create.add_argument(
        "--days", type=int, default=None, help="days until it expires (DJANGO_API_TOKEN_DAYS)"
    )
    create.add_argument("--reset", action="store_true", help="revoke the user's other tokens first")
    listing = actions.add_parser("list", help="list tokens (never their keys)")
    listing.add_argument("username", nargs="?", help="only this user's tokens")
    listing.add_argument("--json", action="store_true", help="print JSON")
    revoke = actions.add_parser("revoke", help="delete tokens of a user")
    revoke.add_argument("username")
    revoke.add_argument(
        "ids", nargs="*", metavar="ID", help="token ids from `list` (none: all the user's)"
    )


def run(options: dict[str, Any], stdout: Any, stderr: Any) -> None:
    from ..security import tokens

    action = options["token_action"]
    if action == "list":
        _list(options, stdout, tokens)
        return
    user = _user(options["username"])
    name = user.get_username()
    if action == "revoke":
        ids = options["ids"]
        deleted = tokens.revoke(user, ids)
        if deleted:
            stdout.write(f"revoked {deleted} token{'s' if deleted > 1 else ''} of {name}")
        elif ids:
            raise CommandError(f"{name} has no token {', '.join(ids)}: see `durable token list`")
        else:
            stdout.write(f"{name} had no token")
        return
    days = options["days"]
    if days is not None and days < 1:
        raise CommandError(f"--days {days}: a token must live at least 1 day")
    if options["reset"]:
        tokens.revoke(user)
    token, key = tokens.issue(user, name=options["name"], days=days)
    # Shown once: only its digest is kept. The key is the last word, for scripts:
    # TOKEN=$(... | awk '{print $NF}')
    stdout.write(
        f"new token {token.prefix} for {name}, expires {token.expires_at:%Y-%m-%d %H:%M} UTC "
        f"(store the key now, it is not shown again): {key}"
    )


def _list(options: dict[str, Any], stdout: Any, tokens: Any) -> None:
    user = _user(options["username"]) if options["username"] else None
    rows = [
        {
            "id": t.prefix,
            "user": t.user.get_username(),
            "name": t.name,
            "created_at": t.created_at,
            "expires_at": t.expires_at,
            "last_used_at": t.last_used_at,
            "state": "expired" if t.expired else "active",
        }
        for t in tokens.tokens_of(user)
    ]
    lines = [
        f"{r['id']:<9} {r['user']:<16} {r['state']:<8} expires {r['expires_at']:%Y-%m-%d}  "
        f"last used {_when(r['last_used_at']):<16}  {r['name']}".rstrip()
        for r in rows
    ]
    emit(stdout, options, rows, "\n".join(lines) if lines else "no tokens")


def _when(moment: Any) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "never"


def _user(username: str) -> Any:
    from django.contrib.auth import get_user_model

    User = get_user_model()  # noqa: N806 - Django's idiom
    try:
        return User.objects.get_by_natural_key(username)
    except User.DoesNotExist:
        raise CommandError(
            f"No user {username!r}. Create one first: python manage.py createsuperuser "
            f"--username {username}"
        ) from None
