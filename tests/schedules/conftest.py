"""Fixtures of the schedule tests: a client, people with given permissions, and a
schedule placed at a chosen time (the driver's clock is a parameter: no patching)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from tests.schedules import workflows  # noqa: F401 - registers s_wait, s_quick, s_declared


def grant(user: Any, *codenames: str) -> None:
    from django.contrib.auth.models import Permission

    perms = Permission.objects.filter(codename__in=codenames)
    assert perms.count() == len(codenames), f"unknown permission in {codenames}"
    user.user_permissions.add(*perms)


@pytest.fixture
def client(db):
    from workflows.client import DurableClient

    return DurableClient()


@pytest.fixture
def make_user(db) -> Callable[..., Any]:
    """``make_user("sam", "manage_schedule", "view_instance")``: a user holding those."""
    from django.contrib.auth import get_user_model

    def make(username: str, *codenames: str) -> Any:
        user = get_user_model().objects.create_user(username, password="pw-" + username)
        grant(user, *codenames)
        return get_user_model().objects.get(pk=user.pk)

    return make


@pytest.fixture
def scheduler(make_user) -> Any:
    return make_user("sam", "manage_schedule", "view_instance", "view_payloads")


@pytest.fixture
def make_schedule(client) -> Callable[..., Any]:
    """``make_schedule("s", at=t, cron=...)``: a schedule whose next time is ``at``."""
    from workflows.schedules.driver import place
    from workflows.schedules.models import Schedule

    def make(schedule_id: str, at: datetime | None = None, **spec: Any) -> Schedule:
        spec.setdefault("orchestrator", "s_wait")
        if "interval" not in spec:
            spec.setdefault("cron", "*/10 * * * *")
        client.create_schedule(schedule_id, spec)
        schedule = Schedule.objects.get(schedule_id=schedule_id)
        if at is not None:
            place(schedule, at - (at - at.replace(microsecond=0)) - _tiny())
            schedule.save()
        return schedule

    return make


def _tiny():
    from datetime import timedelta

    return timedelta(microseconds=1)
