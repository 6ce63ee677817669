"""Who may do what (docs/architecture.md, "Who may do what"), as Django permissions of
the ``workflows`` app.

The codenames are declared on the Instance model (``Meta.permissions``); grant them to
users or groups in the admin. Superusers have all of them. Reading status (without
payloads) needs only a signed-in user.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

START = "start_instance"
VIEW_PAYLOADS = "view_payloads"
RAISE_EVENT = "raise_event"
OPERATE = "operate_instance"

# codename -> name: exactly the Instance.Meta.permissions entries.
PERMISSIONS: dict[str, str] = {
    START: "Can start workflow instances",
    VIEW_PAYLOADS: "Can see inputs, outputs and failure details",
    RAISE_EVENT: "Can raise events to instances",
    OPERATE: "Can terminate, suspend, resume, rewind, restart, purge and resolve",
}


def can(user: Any, codename: str) -> bool:
    return bool(user and user.is_authenticated and user.has_perm(f"workflows.{codename}"))


class DurablePermission(BasePermission):
    """Signed in, plus the codename the view names for the request's method.

    A view declares ``required_permissions = {"POST": START}``; methods not listed need
    only authentication. Anonymous requests get 401 (token auth is tried first).
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        codename = getattr(view, "required_permissions", {}).get(request.method)
        if codename and not can(request.user, codename):
            self.message = (
                f"You need the permission workflows.{codename} ({PERMISSIONS[codename]}) "
                "for this; ask an administrator to grant it."
            )
            return False
        return True
