"""Who may use what in the UI (docs/architecture.md, "Who may do what"). One place, used
by views, templates and sockets.

Rules:

- Every page needs a signed-in user.
- Approvals: any signed-in user sees the requests of their own groups (superusers: all)
  and decides those (``workflows.approvals.may_decide``).
- Console and any instance page: ``workflows.view_instance`` or
  ``workflows.operate_instance``. An approver may also open the page of an instance
  that has a request for one of their groups, to see what they are deciding.
- Inputs, outputs, failure text (also in the attention reason), custom status, event data
  and history payloads: ``workflows.view_payloads``; without it pages get
  ``DurableClient``'s redacted view (an approver always sees the details of their own
  request: what they are asked to decide).
- Start a workflow: ``workflows.start_instance``.
- Raise an event: ``workflows.raise_event``.
- Terminate, suspend, resume, rewind, retry an episode, restart, and retry / resolve /
  skip a compensation: ``workflows.operate_instance``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflows.client import DurableClient, may_see_every_instance, may_see_payloads

VIEW = "workflows.view_instance"
OPERATE = "workflows.operate_instance"
PAYLOADS = "workflows.view_payloads"
START = "workflows.start_instance"
RAISE_EVENT = "workflows.raise_event"


# Who sees which instance, and whose payloads, is DurableClient's rule (workflows/client.py,
# "who may do what"), shared with the API and the admin; these only name it for the pages.
def can_view_console(user: Any) -> bool:
    return may_see_every_instance(user)


def can_view_instance(user: Any, instance_id: str, client: DurableClient | None = None) -> bool:
    """Console viewers see every instance; approvers the ones that ask their groups."""
    return (client or DurableClient()).may_view(user, instance_id)


def can_see_payloads(user: Any) -> bool:
    return may_see_payloads(user)


def can_operate(user: Any) -> bool:
    return bool(user.is_authenticated and user.has_perm(OPERATE))


def can_raise_events(user: Any) -> bool:
    return bool(user.is_authenticated and user.has_perm(RAISE_EVENT))


def can_start(user: Any) -> bool:
    return bool(user.is_authenticated and user.has_perm(START))


@dataclass(frozen=True)
class Capabilities:
    """What the nav and the pages offer to one user."""

    console: bool
    start: bool
    payloads: bool
    operate: bool
    raise_event: bool
    admin: bool

    @classmethod
    def of(cls, user: Any) -> Capabilities:
        return cls(
            console=can_view_console(user),
            start=can_start(user),
            payloads=can_see_payloads(user),
            operate=can_operate(user),
            raise_event=can_raise_events(user),
            admin=bool(user.is_authenticated and user.is_staff),
        )
