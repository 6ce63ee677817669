"""Subcommands of `manage.py durable`, one module each (HELP, add_arguments, run)."""

from __future__ import annotations

from types import ModuleType

from . import instances, serve, worker

SUBCOMMANDS: dict[str, ModuleType] = {
    "serve": serve,
    "worker": worker,
    **instances.SUBCOMMANDS,
}
