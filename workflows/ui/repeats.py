"""A second identical action from the same page is a no-op with a message, not a second
action (a double click, a resubmitted form, two tabs of one person).

Each action form carries ``seen``: the newest audit entry of the instance when the page
was drawn. If the same person's same action is in the audit log after it, the action was
done already in this state: the page says so and nothing runs again (no second audit
entry). A live refresh draws the form again with the new ``seen``, so doing it again on
purpose after the state moved on still works.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.utils import formats, timezone


def seen_token(audit: Iterable[Any]) -> int:
    """The newest audit entry's id (0 without any): the state the form was drawn in."""
    return max((entry.pk for entry in audit), default=0)


def parse_seen(value: Any) -> int | None:
    """The posted ``seen`` as an id, or None when absent or not a number (no check then)."""
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def repeated(audit: Iterable[Any], user: Any, action: str, seen: int | None) -> Any | None:
    """The audit entry of ``user`` doing ``action`` after ``seen``, if there is one.

    Example::

        done = repeated(queries.audit_entries(hub, iid, 20), request.user, "rewind", 41)
    """
    if seen is None:
        return None
    for entry in audit:
        if entry.pk > seen and entry.action == action and entry.user_id == user.pk:
            return entry
    return None


def already_done(entry: Any, what: str) -> str:
    """The message for a repeat: ``"You already rewound it at 14:02:11; nothing was done
    again."``."""
    when = formats.time_format(timezone.localtime(entry.created_at), "H:i:s")
    return f"You already {what} at {when} (UTC); nothing was done again."
