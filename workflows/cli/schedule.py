"""`durable schedule ACTION …`: list, create, pause, resume, trigger, backfill and delete
schedules (docs/architecture.md, "Schedules"). Changes are made as the actor "cli".

Examples::

    durable schedule list
    durable schedule create nightly --orchestrator nightly_cleanup --cron "30 2 * * *" \\
        --timezone Europe/Berlin --overlap skip --catchup latest --input '{"keep_days": 30}'
    durable schedule create probe --orchestrator deployment_monitor --interval 300 --offset 30
    durable schedule pause nightly --note "database migration tonight"
    durable schedule resume nightly
    durable schedule trigger nightly
    durable schedule backfill nightly --start 2026-01-01T00:00Z --end 2026-01-07T00:00Z
    durable schedule delete nightly
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import CommandError

from ..client import DurableClient
from ..schedules.client import ScheduleState
from ..schedules.policies import CATCHUP, OVERLAP
from .output import emit, parse_json

HELP = "durable cron and interval starts: list, create, pause, resume, trigger, backfill, delete"
ACTIONS = ("list", "show", "create", "pause", "resume", "trigger", "backfill", "delete")
NEEDS_ID = frozenset(ACTIONS) - {"list"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS, metavar="ACTION", help=", ".join(ACTIONS))
    parser.add_argument("schedule_id", nargs="?", help="the schedule's id")
    spec = parser.add_argument_group("create")
    spec.add_argument("--orchestrator", help="the orchestrator to start")
    spec.add_argument("--version", type=int, help="pin this version (default: the latest)")
    spec.add_argument("--cron", help='five-field cron expression, e.g. "*/5 * * * *"')
    spec.add_argument("--timezone", help="IANA time zone of --cron (default UTC)")
    spec.add_argument("--interval", type=int, help="every this many seconds (instead of --cron)")
    spec.add_argument("--offset", type=int, help="--interval: seconds after each boundary")
    spec.add_argument("--input", help="JSON input of every run")
    spec.add_argument(
        "--pass-scheduled-time", action="store_true", help='add "scheduled_at" to the input'
    )
    spec.add_argument("--start-at", help="no run before (ISO time with offset)")
    spec.add_argument("--end-at", help="no run after")
    spec.add_argument("--jitter", type=int, help="delay each run by up to this many seconds")
    spec.add_argument("--overlap", choices=OVERLAP, help="while the previous run goes")
    spec.add_argument("--catchup", choices=CATCHUP, help="after downtime")
    spec.add_argument("--catchup-window", type=int, help="seconds back catch-up reaches")
    parser.add_argument("--note", help="create: a note; pause/resume: why")
    parser.add_argument("--start", help="backfill: start of the past range (ISO time)")
    parser.add_argument("--end", help="backfill: end of the range (inclusive)")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def _spec(o: dict[str, Any]) -> dict[str, Any]:
    if not o["orchestrator"]:
        raise CommandError("--orchestrator is required: the orchestrator each run starts.")
    options = {
        "orchestrator": o["orchestrator"],
        "version": o["version"],
        "cron": o["cron"],
        "timezone": o["timezone"],
        "interval": o["interval"],
        "offset": o["offset"],
        "start_at": o["start_at"],
        "end_at": o["end_at"],
        "jitter": o["jitter"],
        "overlap": o["overlap"],
        "catchup": o["catchup"],
        "catchup_window": o["catchup_window"],
        "note": o["note"],
    }
    spec = {key: value for key, value in options.items() if value is not None}
    if o["input"] is not None:
        spec["input"] = parse_json(o["input"], "--input")
    if o["pass_scheduled_time"]:
        spec["pass_scheduled_time"] = True
    return spec


def line(state: ScheduleState) -> str:
    when = state.spec["cron"] or f"every {state.spec['interval']} s"
    if state.spec["cron"] and state.spec["timezone"] != "UTC":
        when += f" ({state.spec['timezone']})"
    if state.paused:
        upcoming = f"paused by {state.paused_by}" + (
            f": {state.paused_note}" if state.paused_note else ""
        )
    else:
        upcoming = f"next {state.next_run_at:%Y-%m-%d %H:%M:%S}Z" if state.next_run_at else "ended"
    counts = f"started {state.started}, skipped {state.skipped}, missed {state.missed}"
    return f"{state.id}: {state.orchestrator} {when}; {upcoming}; {counts}"


def run(o: dict[str, Any], out: Any, err: Any) -> None:
    client = DurableClient()
    action, schedule_id = o["action"], o["schedule_id"]
    if action in NEEDS_ID and not schedule_id:
        raise CommandError(f"`durable schedule {action}` needs the schedule id.")
    if action == "list":
        found = client.schedules()
        emit(out, o, found, "\n".join(line(s) for s in found) or "no schedules")
    elif action == "show":
        emit(out, o, client.schedule(schedule_id), line(client.schedule(schedule_id)))
    elif action == "create":
        state = client.create_schedule(schedule_id, _spec(o), by="cli")
        emit(out, o, state, "created " + line(state))
    elif action in ("pause", "resume"):
        change = client.pause_schedule if action == "pause" else client.resume_schedule
        state = change(schedule_id, note=o["note"] or "", by="cli")
        emit(out, o, state, f"{action}d " + line(state))
    elif action == "trigger":
        found = client.trigger_schedule(schedule_id, by="cli")
        started = f": {found['instance_id']}" if found["instance_id"] else ""
        emit(out, o, found, f"{found['outcome']}{started}")
    elif action == "backfill":
        if not (o["start"] and o["end"]):
            raise CommandError("`durable schedule backfill` needs --start and --end.")
        counts = client.backfill_schedule(schedule_id, o["start"], o["end"], o["overlap"], by="cli")
        human = ", ".join(f"{name} {n}" for name, n in counts.items())
        emit(out, o, counts, f"backfill of {schedule_id}: {human}")
    else:
        client.delete_schedule(schedule_id, by="cli")
        emit(out, o, {"deleted": schedule_id}, f"deleted {schedule_id}")
