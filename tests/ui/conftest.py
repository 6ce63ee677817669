"""Fixtures of the UI tests: people with given permissions and groups, and some state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client

from tests.support import ui_workflows  # noqa: F401 - registers ui_expense, ui_order, t_*

OPERATOR_PERMS = (
    "view_instance",
    "operate_instance",
    "view_payloads",
    "raise_event",
    "start_instance",
)


def grant(user: Any, *codenames: str) -> None:
    from django.contrib.auth.models import Permission

    perms = Permission.objects.filter(content_type__app_label="workflows", codename__in=codenames)
    assert perms.count() == len(codenames), f"unknown permission in {codenames}"
    user.user_permissions.add(*perms)


@pytest.fixture
def make_user(db) -> Callable[..., Any]:
    """``make_user("ann", perms=("view_instance",), groups=("managers",))``."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    def make(
        username: str,
        perms: tuple[str, ...] = (),
        groups: tuple[str, ...] = (),
        password: str | None = None,  # None: force_login only (hashing is slow on purpose)
        **extra: Any,
    ) -> Any:
        user = get_user_model().objects.create_user(username, password=password, **extra)
        grant(user, *perms)
        for name in groups:
            user.groups.add(Group.objects.get_or_create(name=name)[0])
        return user

    return make


def _signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def operator(make_user) -> Client:
    """May view, see payloads, operate, raise events and start."""
    return _signed_in(make_user("olga", OPERATOR_PERMS))


@pytest.fixture
def viewer(make_user) -> Client:
    """May view instances (the console) but not payloads or operations."""
    return _signed_in(make_user("victor", ("view_instance",)))


@pytest.fixture
def approver(make_user) -> Client:
    """A member of "managers" without any instance permission."""
    return _signed_in(make_user("mia", groups=("managers",)))


@pytest.fixture
def outsider(make_user) -> Client:
    """Signed in, no permission, no group."""
    return _signed_in(make_user("otto"))


@pytest.fixture
def durable(db):
    from workflows.client import DurableClient

    return DurableClient()


@pytest.fixture
def htmx() -> dict[str, str]:
    """Headers that make a test-client request look like an HTMX one."""
    return {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": "http://testserver/"}


@pytest.fixture
def running(durable) -> Callable[..., Any]:
    """An instance in a given status without any worker: ``running("order-1")``."""
    from workflows.models import Instance

    def make(instance_id: str, status: str = "running", name: str = "t_chain", **fields: Any):
        durable.start(name, 3, instance_id=instance_id, business_key=fields.pop("key", ""))
        Instance.objects.filter(instance_id=instance_id).update(status=status, **fields)
        return Instance.objects.get(instance_id=instance_id)

    return make


@pytest.fixture
def pending_approval(running) -> Callable[..., Any]:
    """A pending approval request of group ``managers`` on a running instance."""
    from django.utils import timezone

    from workflows.models import ApprovalRequest

    def make(instance_id: str = "claim-1", group: str = "managers", **fields: Any):
        instance = running(instance_id, name="ui_expense")
        defaults = {
            "name": "expense",
            "details": {"amount": 120, "purpose": "train tickets"},
            "deadline": timezone.now() + timedelta(hours=2),
        }
        return ApprovalRequest.objects.create(
            instance=instance,
            execution_id=instance.execution_id,
            task_id=fields.pop("task_id", 3),
            request_id=f"{instance_id}:{instance.execution_id}:3",
            assignees=group,
            **{**defaults, **fields},
        )

    return make


@pytest.fixture
def failed_compensation(running) -> Callable[..., Any]:
    """A compensation that failed for good on a running instance flagged for attention."""
    from workflows.models import CompensationRecord

    def make(instance_id: str = "order-1"):
        instance = running(
            instance_id,
            name="ui_order",
            needs_attention=True,
            attention_reason="compensation release reservation (ui_fail) failed: boom",
        )
        return CompensationRecord.objects.create(
            instance=instance,
            execution_id=instance.execution_id,
            task_id=2,
            compensation_id=f"{instance_id}:{instance.execution_id}:comp:2",
            step="release reservation",
            activity="ui_fail",
            input="the warehouse",
            order=1,
            status="failed",
            attempts=1,
            last_error={"type": "NonRetryableError", "message": "the warehouse is down"},
        )

    return make


# The browser fixtures (server, chromium, browser with its console check, people).
from tests.ui.browsing import browser, chromium, people, server, serving  # noqa: E402, F401
