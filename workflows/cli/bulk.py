"""`durable bulk ACTION …`: one operator action over many instances (or failed
compensations), carried out by the workers in chunks (docs/architecture.md, "Bulk
operations"). Prints a progress bar while it waits (--no-wait returns at once).

Examples::

    durable bulk terminate --name order --status running --created-before 2026-01-31 \\
        --reason "INC-42: bad deploy" --dry-run
    durable bulk purge --status terminated --reason "INC-42 clean-up"
    durable bulk raise-event --name claim --status running --event approve --data '{"ok": 1}' \\
        --reason "backlog approved by finance"
    durable bulk compensation-resolve --activity release_stock --reason "released in the WMS"
    durable bulk status 17 --outcomes skipped
    durable bulk cancel 17 --reason "wrong filter"
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from django.core.management.base import CommandError

from ..bulk_client import ACTIONS, COMPENSATIONS, BulkItemStatus, BulkState, action_of, describe
from ..client import DurableClient
from .output import emit, parse_json

HELP = "one action over many instances or failed compensations (terminate, purge, ...)"
COMMANDS = ("status", "cancel")
STALL_SECONDS = 30.0  # no progress for this long: say that a worker may be missing
BAR = 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = [name.replace("_", "-") for name in ACTIONS]
    parser.add_argument(
        "action",
        choices=[*actions, *COMMANDS],
        metavar="ACTION",
        help=", ".join(actions) + "; or status/cancel OPERATION",
    )
    parser.add_argument("operation", nargs="?", type=int, help="status/cancel: operation id")
    which = parser.add_argument_group("which targets (a filter, --id, or --all)")
    which.add_argument("--name", help="workflow (orchestrator) name")
    which.add_argument(
        "--status", action="append", help="instance status; repeat or separate with commas"
    )
    which.add_argument("--business-key")
    which.add_argument("--created-after", help="ISO time, inclusive (e.g. 2026-01-31T00:00)")
    which.add_argument("--created-before", help="ISO time, exclusive")
    which.add_argument("--search", help="substring of instance id, name or business key")
    which.add_argument("--needs-attention", action="store_true", help="only flagged instances")
    which.add_argument("--activity", help="compensation actions: the undo activity")
    which.add_argument("--instance", help="compensation actions: one instance's records")
    which.add_argument(
        "--id", dest="ids", action="append", help="an instance id (compensations: record id)"
    )
    which.add_argument(
        "--all", action="store_true", help="every instance (or failed compensation) of the hub"
    )
    parser.add_argument("--reason", help="why (required; the note of compensation decisions)")
    parser.add_argument("--event", help="raise-event: the event name")
    parser.add_argument("--data", help="raise-event: JSON data of the event")
    parser.add_argument("--dry-run", action="store_true", help="count what matches, change nothing")
    parser.add_argument("--no-wait", action="store_true", help="return once it started")
    parser.add_argument("--timeout", type=float, help="stop waiting after this many seconds")
    parser.add_argument("--chunk-size", type=int, help="targets per transaction (default 100)")
    parser.add_argument(
        "--outcomes", choices=BulkItemStatus.values, help="status: list these outcomes (50)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def run(o: dict[str, Any], out: Any, err: Any) -> None:
    client = DurableClient()
    if o["action"] in COMMANDS:
        if o["operation"] is None:
            raise CommandError(f"`durable bulk {o['action']}` needs the operation id.")
        if o["action"] == "cancel":
            state = client.cancel_bulk(o["operation"], by="cli", reason=o["reason"] or "")
            emit(out, o, state, summary(state))
            return
        _show(client, o, out)
        return
    if o["operation"] is not None:
        raise CommandError(f"Unexpected argument {o['operation']}: only status/cancel take one.")
    action = action_of(o["action"])
    targets = _targets(action.target, o)
    if o["dry_run"]:
        found = client.preview_bulk(action.name, **targets)
        emit(out, o, found, _preview(action.name, found))
        return
    if not (o["reason"] or "").strip():
        what = "note" if action.target == COMPENSATIONS else "reason"
        raise CommandError(f"--reason is required: the {what} goes into every audit entry.")
    state = client.start_bulk(
        action.name,
        **targets,
        reason=o["reason"],
        by="cli",
        event_name=o["event"],
        event_data=parse_json(o["data"], "--data"),
        chunk_size=o["chunk_size"],
    )
    if o["no_wait"]:
        emit(out, o, state, f"started bulk {state.action} #{state.id}: {state.matched} target(s)")
        return
    progress = out if not o["json"] else err
    state = _wait(client, state, progress, o["timeout"])
    emit(out, o, state, summary(state) + _problems(client, state))


def _targets(kind: str, o: dict[str, Any]) -> dict[str, Any]:
    if o["ids"]:
        if o["all"]:
            raise CommandError("--all and --id exclude each other.")
        if kind == COMPENSATIONS:
            try:
                return {"compensation_ids": [int(i) for i in o["ids"]]}
            except ValueError:
                raise CommandError(
                    "--id of a compensation action is a record id (a number)."
                ) from None
        return {"instance_ids": o["ids"]}
    if kind == COMPENSATIONS:
        spec = {"name": o["name"], "activity": o["activity"], "instance_id": o["instance"]}
        others = ("status", "business_key", "created_after", "created_before", "search")
    else:
        statuses = [s.strip() for given in o["status"] or [] for s in given.split(",")]
        spec = {
            "name": o["name"],
            "status": [s for s in statuses if s],
            "business_key": o["business_key"],
            "created_after": o["created_after"],
            "created_before": o["created_before"],
            "search": o["search"],
            "needs_attention": True if o["needs_attention"] else None,
        }
        others = ("activity", "instance")
    unused = [f"--{k.replace('_', '-')}" for k in others if o.get(k)]
    if unused:
        raise CommandError(f"{', '.join(unused)} does not apply to {o['action']}.")
    spec = {key: value for key, value in spec.items() if value not in (None, "", [])}
    if not spec and not o["all"]:
        raise CommandError(
            "Say which targets: filter options (--name, --status, ...), --id, or --all for "
            "every one of them. Try --dry-run first."
        )
    return {"filter": spec}


def bar(state: BulkState) -> str:
    """``[######-------] 40% 400/1000  done 390  skipped 10  failed 0``"""
    filled = BAR * state.percent // 100
    return (
        f"[{'#' * filled}{'-' * (BAR - filled)}] {state.percent:3d}% "
        f"{state.processed}/{state.matched}  done {state.done}  skipped {state.skipped}  "
        f"failed {state.failed}"
    )


def _wait(client: DurableClient, state: BulkState, out: Any, timeout: float | None) -> BulkState:
    """Redraw the bar on a terminal (a line every few seconds otherwise) until it ends."""
    tty = getattr(out, "isatty", lambda: False)()
    started = last_change = time.monotonic()
    last_line = started - 60  # the first line at once
    seen, warned = -1, False
    try:
        while True:
            now = time.monotonic()
            if state.processed != seen:
                seen, last_change = state.processed, now
            if tty:
                out.write(f"\r{bar(state)}", ending="")
                out.flush()
            elif state.is_finished or now - last_line >= 2:
                out.write(bar(state))
                last_line = now
            if state.is_finished:
                if tty:
                    out.write("")
                return state
            if not warned and now - last_change > STALL_SECONDS:
                warned = True
                out.write(
                    f"\nno progress for {STALL_SECONDS:.0f} s: is a worker running "
                    "(`durable worker`, or `durable serve`)? It goes on once one is."
                )
            if timeout is not None and now - started > timeout:
                raise CommandError(
                    f"Still running after {timeout:g} s ({state.processed} of {state.matched}); "
                    f"it goes on: `durable bulk status {state.id}`."
                )
            time.sleep(0.5)
            state = client.bulk_operation(state.id)
    except KeyboardInterrupt:
        raise CommandError(
            f"Stopped waiting; bulk operation {state.id} goes on. `durable bulk status "
            f"{state.id}` shows it, `durable bulk cancel {state.id}` stops it."
        ) from None


def summary(state: BulkState) -> str:
    event = f" {state.parameters['event_name']}" if state.parameters.get("event_name") else ""
    return (
        f"bulk {state.action}{event} #{state.id} {state.status}: {state.matched} matched "
        f"({describe(state.filter)}), {state.done} done, {state.skipped} skipped, "
        f"{state.failed} failed, {state.cancelled} cancelled; by {state.actor}: {state.reason}"
    )


def _problems(client: DurableClient, state: BulkState) -> str:
    """The first few skipped and failed targets with their reasons."""
    lines = []
    for status in (BulkItemStatus.FAILED, BulkItemStatus.SKIPPED):
        page = client.bulk_outcomes(state.id, status=status, limit=10)
        lines += [f"  {status} {o.target}: {o.reason}" for o in page.items]
        if page.next_cursor:
            lines.append(f"  … `durable bulk status {state.id} --outcomes {status}` for all")
    return "\n" + "\n".join(lines) if lines else ""


def _show(client: DurableClient, o: dict[str, Any], out: Any) -> None:
    state = client.bulk_operation(o["operation"])
    if not o["outcomes"]:
        emit(out, o, state, f"{summary(state)}\n{bar(state)}")
        return
    page = client.bulk_outcomes(state.id, status=o["outcomes"], limit=50)
    lines = [f"{x.target:36} {x.status:9} {x.reason}".rstrip() for x in page.items]
    emit(out, o, page.items, "\n".join(lines) or f"no {o['outcomes']} outcomes")


def _preview(action: str, found: Any) -> str:
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(found.by_status.items())) or "none"
    lines = [
        f"dry run, nothing changed: {action} would select {found.matched} ({statuses}); "
        f"{found.allowed} in a status it applies to, the others would be skipped"
    ]
    if found.unknown:
        lines.append(f"unknown ids: {', '.join(found.unknown)}")
    lines += ["  " + "  ".join(str(v) for v in row.values()) for row in found.sample]
    return "\n".join(lines)
