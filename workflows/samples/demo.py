"""Demo data for ``durable serve``: people to log in as and a few sample instances.

Idempotent: users and groups are created only when missing (a new user's random
password is printed once, never stored in code), and instances are started only in
an empty task hub. It only writes a few rows, so serve starts at once; the embedded
worker runs the instances afterwards.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.db import DatabaseError, transaction

GROUPS = ("approvers", "operators")
OPERATOR_PERMISSIONS = ("start_instance", "view_payloads", "raise_event", "operate_instance")

# name, input, business key: one instance per page of the UI worth looking at.
INSTANCES: list[tuple[str, dict[str, Any], str]] = [
    ("provision_customer", {"name": "Ada Lovelace", "email": "ada@example.com"}, "cus-ada"),
    (
        "expense_approval",
        {
            "amount": 420.0,
            "requester": "sam",
            "purpose": "conference travel",
            "approver_group": "approvers",
            "timeout_seconds": 86400,
            "escalation_group": "operators",
        },
        "exp-2041",
    ),
    (
        "order_saga",
        {
            "order_id": "o-1001",
            "items": [{"sku": "BOOK-1", "qty": 2}],
            "amount": 59.9,
            "fail": {"step": "confirm_order", "mode": "permanent"},
            "fail_compensation": {"step": "refund_payment", "mode": "permanent"},
        },
        "o-1001",
    ),
    (
        "deployment_monitor",
        {
            "deployment_id": "web-42",
            "ready_after_checks": 1000,
            "interval_seconds": 30,
            "max_attempts": 2880,
        },
        "web-42",
    ),
    ("process_files", {"count": 12, "max_parallel": 3, "fail_items": [7]}, "inbox-2026-01"),
]


def seed_demo(stdout: Any) -> None:
    """Create the demo groups, users and instances that are missing; report on stdout."""
    try:
        _seed_people(stdout)
        _seed_instances(stdout)
    except DatabaseError as exc:
        _say(stdout, f"demo: not seeded ({exc}); run `python manage.py migrate` first.")


def _say(stdout: Any, line: str) -> None:
    stdout.write(line if line.endswith("\n") else line + "\n")


def _seed_people(stdout: Any) -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission

    user_model = get_user_model()
    with transaction.atomic():
        groups = {name: Group.objects.get_or_create(name=name)[0] for name in GROUPS}
        groups["operators"].permissions.add(
            *Permission.objects.filter(
                content_type__app_label="workflows", codename__in=OPERATOR_PERMISSIONS
            )
        )
        people = [("approver", "approvers", False), ("operator", "operators", False)]
        people.append(("admin", None, True))
        created = []
        for username, group, superuser in people:
            if user_model.objects.filter(username=username).exists():
                _say(
                    stdout,
                    f"demo: user {username!r} exists; reset its password with "
                    f"`python manage.py changepassword {username}`",
                )
                continue
            password = secrets.token_urlsafe(12)
            if superuser:
                user = user_model.objects.create_superuser(username, "", password)
            else:
                user = user_model.objects.create_user(username, "", password)
            if group:
                user.groups.add(groups[group])
            created.append((username, group or "superuser", password))
    for username, role, password in created:
        _say(stdout, f"demo: created user {username!r} ({role}) with password {password}")


def _seed_instances(stdout: Any) -> None:
    from workflows.client import DurableClient
    from workflows.models import Instance

    client = DurableClient()
    if Instance.objects.filter(task_hub=client.hub).exists():
        _say(stdout, "demo: instances exist already; none started")
        return
    for name, input, business_key in INSTANCES:
        client.start(name, input, business_key=business_key)
    names = ", ".join(name for name, _, _ in INSTANCES)
    _say(stdout, f"demo: started {len(INSTANCES)} sample instances ({names})")
