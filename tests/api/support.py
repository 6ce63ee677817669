"""Helpers of the API tests (fixtures are in conftest.py)."""

from __future__ import annotations

from typing import Any

CODENAMES = ("start_instance", "view_payloads", "raise_event", "operate_instance")


def grant(user: Any, *codenames: str) -> None:
    """Give ``user`` our permissions (and Django's own ``view_instance``). get_or_create:
    keeps working once the Instance model declares them in Meta.permissions (then the rows
    already exist)."""
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    from workflows.api.permissions import PERMISSIONS
    from workflows.models import Instance

    content_type = ContentType.objects.get_for_model(Instance)
    for codename in codenames:
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type,
            codename=codename,
            defaults={"name": PERMISSIONS.get(codename, codename)},
        )
        user.user_permissions.add(permission)


def url(instance_id: str, suffix: str = "") -> str:
    return f"/api/v1/instances/{instance_id}/{suffix}"


def instance_count() -> int:
    from workflows.client import DurableClient

    return len(DurableClient().query(limit=500).items)
