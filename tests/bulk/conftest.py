"""Fixtures of the bulk operation tests: people, instances in given states, and running an
operation's chunks in this process (no worker) or waiting for real workers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.support import workflows  # noqa: F401 - registers t_wait_event, t_chain, ...

OPERATOR = ("operate_instance", "view_instance", "view_payloads", "raise_event")


def grant(user: Any, *codenames: str) -> None:
    from django.contrib.auth.models import Permission

    perms = Permission.objects.filter(content_type__app_label="workflows", codename__in=codenames)
    assert perms.count() == len(codenames), f"unknown permission in {codenames}"
    user.user_permissions.add(*perms)


@pytest.fixture
def client(db):
    from workflows.client import DurableClient

    return DurableClient()


@pytest.fixture
def make_user(db) -> Callable[..., Any]:
    """``make_user("olga", "operate_instance", ...)``: a user holding exactly those."""
    from django.contrib.auth import get_user_model

    def make(username: str, *codenames: str) -> Any:
        user = get_user_model().objects.create_user(username)
        grant(user, *codenames)
        return get_user_model().objects.get(pk=user.pk)  # a fresh permission cache

    return make


@pytest.fixture
def operator(make_user) -> Any:
    return make_user("olga", *OPERATOR)


@pytest.fixture
def make_instances(client) -> Callable[..., list[str]]:
    """``make_instances(5, status="running", prefix="a")``: instances of t_wait_event put
    in a status directly (no worker runs them)."""
    from workflows.models import Instance

    def make(count: int, status: str = "running", prefix: str = "i", **fields: Any) -> list[str]:
        ids = [f"{prefix}-{n:05d}" for n in range(count)]
        for iid in ids:
            client.start("t_wait_event", None, instance_id=iid, business_key=fields.get("key", ""))
        update = {k: v for k, v in fields.items() if k != "key"}
        Instance.objects.filter(instance_id__in=ids).update(status=status, **update)
        return ids

    return make


def drive(client: Any, instance_id: str, steps: int = 20) -> str:
    """Run the instance's episodes and activities here until it waits or finishes (as a
    worker would, without one); its status."""
    from tests.support.episodes import run_episode
    from tests.support.outcomes import record_task_outcome
    from workflows.engine import default_registry
    from workflows.engine.activity import ActivityContext, run_activity
    from workflows.models import ActivityTask, Instance
    from workflows.runtime.activities import claim_task

    instance = Instance.objects.get(task_hub=client.hub, instance_id=instance_id)
    for _ in range(steps):
        run_episode(instance.pk)
        task = ActivityTask.objects.filter(instance=instance, status="scheduled").first()
        if task is None:
            break
        task = claim_task(task.pk)
        ctx = ActivityContext(instance_id, task.name, task.attempt, task.idempotency_key, 1)
        outcome = run_activity(default_registry, ctx, task.input)
        record_task_outcome(task.pk, outcome.ok, outcome.result, outcome.failure)
    instance.refresh_from_db()
    return instance.status


@pytest.fixture
def run_all(client) -> Callable[[int], Any]:
    """Carry out an operation here, chunk after chunk, as the bulk actor would."""

    def run(operation_id: int, limit: int = 10_000) -> Any:
        for _ in range(limit):
            if not client.run_bulk_chunk(operation_id).more:
                break
        return client.bulk_operation(operation_id)

    return run


def audit_of(instance_id: str) -> list[tuple[str, Any, str]]:
    """(action, bulk operation id, note) of the instance's audit entries, oldest first."""
    from workflows.models import AuditEntry

    return [
        (e.action, (e.detail or {}).get("bulk_operation"), e.note)
        for e in AuditEntry.objects.filter(instance_ref=instance_id).order_by("pk")
    ]


@pytest.fixture
def api_as(make_user) -> Callable[..., Any]:
    """``api_as("olga", "operate_instance")``: an APIClient with a token of a new user
    holding those permissions (none: signed in only)."""
    from rest_framework.test import APIClient

    from tests.support.tokens import token_for

    def make(username: str, *codenames: str) -> APIClient:
        user = make_user(username, *codenames)
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
        api.user = user
        return api

    return make


@pytest.fixture
def api(api_as) -> Any:
    """An operator's API client."""
    return api_as("olga", *OPERATOR)


@pytest.fixture
def web(make_user) -> Callable[..., Any]:
    """``web("olga", *perms)``: Django's test client signed in as a new user holding them."""
    from django.test import Client

    def make(username: str, *codenames: str, **extra: Any) -> Client:
        user = make_user(username, *codenames)
        if extra:
            type(user).objects.filter(pk=user.pk).update(**extra)
        browser = Client()
        browser.force_login(user)
        browser.user = user
        return browser

    return make


@pytest.fixture
def console(web) -> Any:
    """An operator's browser."""
    return web("olga", *OPERATOR)
