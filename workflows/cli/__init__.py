"""Subcommands of `manage.py durable`, one module each (HELP, add_arguments, run)."""

from __future__ import annotations

from types import ModuleType

from . import (
    bulk,
    check_replay,
    entity,
    instances,
    payloads,
    rotate_key,
    schedule,
    serve,
    token,
    worker,
)

SUBCOMMANDS: dict[str, ModuleType] = {
    "serve": serve,
    "worker": worker,
    "token": token,
    "check-replay": check_replay,
    "bulk": bulk,
    "schedule": schedule,
    "entity": entity,
    "rotate-key": rotate_key,
    "payloads": payloads,
    **instances.SUBCOMMANDS,
}
