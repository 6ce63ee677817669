"""`durable token create|revoke USER`: API tokens (DRF authtoken) for integrations."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import CommandError

HELP = "create or revoke a user's REST API token"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="token_action", metavar="action", required=True)
    create = actions.add_parser("create", help="print the user's token (made if missing)")
    create.add_argument("username")
    create.add_argument(
        "--reset", action="store_true", help="replace an existing token with a new one"
    )
    revoke = actions.add_parser("revoke", help="delete the user's token")
    revoke.add_argument("username")


def run(options: dict[str, Any], stdout: Any, stderr: Any) -> None:
    from rest_framework.authtoken.models import Token

    user = _user(options["username"])
    if options["token_action"] == "revoke":
        deleted, _ = Token.objects.filter(user=user).delete()
        stdout.write(
            f"revoked the token of {user.get_username()}"
            if deleted
            else f"{user.get_username()} had no token"
        )
        return
    if options["reset"]:
        Token.objects.filter(user=user).delete()
    token, created = Token.objects.get_or_create(user=user)
    what = "new token" if created else "existing token"
    # The key is the last word, for scripts: TOKEN=$(... | awk '{print $NF}')
    stdout.write(f"{what} for {user.get_username()}: {token.key}")


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
