"""`durable entity ACTION …`: get, signal, list and purge entities (docs/architecture.md,
"Entities"). Signals are sent as the actor "cli".

Examples::

    durable entity list --name bank_account
    durable entity get bank_account alice
    durable entity signal bank_account alice deposit --input 100 --signal-id pay-77
    durable entity purge bank_account alice
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from django.core.management.base import CommandError

from ..client import DurableClient
from ..entities.client import EntityState
from .output import emit, parse_json

HELP = "durable entities: get, signal, list, purge"
ACTIONS = ("get", "signal", "list", "purge")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS, metavar="ACTION", help=", ".join(ACTIONS))
    parser.add_argument("name", nargs="?", help="the entity's name")
    parser.add_argument("key", nargs="?", help="the entity's key")
    parser.add_argument("operation", nargs="?", help="signal: the operation")
    parser.add_argument("--input", help="signal: the operation's JSON input")
    parser.add_argument("--signal-id", help="signal: the same id again queues nothing")
    parser.add_argument("--name", dest="name_filter", help="list: only this entity name")
    parser.add_argument("--key", dest="key_filter", help="list: keys containing this text")
    parser.add_argument("--limit", type=int, default=100, help="list: at most this many")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def line(state: EntityState) -> str:
    lock = f"; locked by {state.lock_holder}" if state.lock_holder else ""
    queued = f"; {state.queued_count} queued" if state.queued_count else ""
    shown = json.dumps(state.state) if state.exists else "(no state)"
    return f"{state.entity} v{state.version}: {shown}{lock}{queued}"


def run(o: dict[str, Any], out: Any, err: Any) -> None:
    client = DurableClient()
    action = o["action"]
    if action == "list":
        found = client.list_entities(o["name_filter"], o["key_filter"], o["limit"])
        emit(out, o, [s.as_dict() for s in found], "\n".join(map(line, found)) or "no entities")
        return
    if not (o["name"] and o["key"]):
        raise CommandError(f"`durable entity {action}` needs the entity's NAME and KEY.")
    entity = (o["name"], o["key"])
    if action == "get":
        state = client.get_entity(entity)
        emit(out, o, state.as_dict(), line(state))
    elif action == "signal":
        if not o["operation"]:
            raise CommandError("`durable entity signal NAME KEY OPERATION` needs the operation.")
        value = parse_json(o["input"], "--input") if o["input"] is not None else None
        queued = client.signal_entity(
            entity, o["operation"], value, signal_id=o["signal_id"], by="cli"
        )
        human = "queued" if queued else "already sent (same --signal-id): nothing queued"
        emit(out, o, {"queued": queued}, f"{o['operation']} to @{o['name']}@{o['key']}: {human}")
    else:
        client.purge_entity(entity, by="cli")
        emit(out, o, {"purged": f"@{o['name']}@{o['key']}"}, f"purged @{o['name']}@{o['key']}")
