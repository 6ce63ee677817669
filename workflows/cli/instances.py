"""Instance subcommands for scripts and operators: start, status, raise-event, ..."""

from __future__ import annotations

import argparse
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from django.utils import timezone

from ..client import SORT_CHOICES, DurableClient
from ..engine.errors import InvalidInput, InvalidState
from .output import emit, parse_json


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def _start_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="registered orchestrator name")
    p.add_argument("--input", help="JSON input, e.g. '{\"count\": 3}'")
    p.add_argument("--id", dest="instance_id", help="instance id (default: generated)")
    p.add_argument("--version", type=int, help="orchestrator version (default: latest)")
    p.add_argument("--business-key", default="", help="correlation key, e.g. an order number")
    p.add_argument(
        "--replace",
        action="store_true",
        help="replace a finished instance with this --id (deletes its input and history)",
    )
    p.add_argument("--wait", type=float, metavar="SECONDS", help="wait for the result")
    _json_flag(p)


def _start(o: dict[str, Any], out: Any, err: Any) -> None:
    client = DurableClient()
    iid = client.start(
        o["name"],
        parse_json(o["input"], "--input"),
        instance_id=o["instance_id"],
        version=o["version"],
        business_key=o["business_key"],
        by="cli",
        replace=o["replace"],
    )
    if o["wait"]:
        try:
            state = client.wait_for_completion(iid, timeout=o["wait"])
        except TimeoutError as exc:  # one line for the operator, not a traceback
            raise InvalidState(f"{exc} It goes on; see `durable status {iid}`.") from None
        output = "" if state.output is None else state.output
        emit(out, o, state, f"{iid} {state.status} {output}")
        return
    emit(out, o, {"instance_id": iid}, f"started {iid}")


def _status_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("instance_id")
    p.add_argument("--history", action="store_true", help="include the history events")
    _json_flag(p)


def _status(o: dict[str, Any], out: Any, err: Any) -> None:
    state = DurableClient().get_status(o["instance_id"], history=o["history"])
    lines = [
        f"{state.instance_id}  {state.name} v{state.version}  {state.status}",
        f"created {state.created_at:%Y-%m-%d %H:%M:%S}  updated {state.updated_at:%H:%M:%S}",
    ]
    if state.custom_status is not None:
        lines.append(f"custom status: {state.custom_status}")
    if state.search_attributes:
        pairs = ", ".join(f"{k}={v}" for k, v in sorted(state.search_attributes.items()))
        lines.append(f"search attributes: {pairs}")
    if state.output is not None:
        lines.append(f"output: {state.output}")
    if state.failure:
        lines.append(f"failure: {state.failure.get('type')}: {state.failure.get('message')}")
    if state.needs_attention:
        lines.append(f"NEEDS ATTENTION: {state.attention_reason}")
    for event in state.history or []:
        lines.append(f"  {event['seq']:>4} {event['kind']}")
    emit(out, o, state, "\n".join(lines))


def _event_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("instance_id")
    p.add_argument("event_name")
    p.add_argument("--data", help="JSON data of the event")
    p.add_argument("--event-id", help="deduplication id: a repeat changes nothing")
    _json_flag(p)


def _raise_event(o: dict[str, Any], out: Any, err: Any) -> None:
    result = DurableClient().raise_event(
        o["instance_id"],
        o["event_name"],
        parse_json(o["data"], "--data"),
        event_id=o["event_id"],
        sender="cli",
    )
    emit(out, o, result, f"{result.outcome}")


def _reason_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("instance_id")
    p.add_argument("--reason", default="", help="why (kept in the audit log)")
    _json_flag(p)


def _operation(method: str, verb: str):  # noqa: ANN202
    def run(o: dict[str, Any], out: Any, err: Any) -> None:
        getattr(DurableClient(), method)(o["instance_id"], o["reason"], by="cli")
        emit(
            out, o, {"instance_id": o["instance_id"], "done": method}, f"{verb} {o['instance_id']}"
        )

    return run


def _purge_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("instance_id", nargs="?", help="one finished instance")
    p.add_argument(
        "--finished-before",
        help="purge every instance finished before this ISO time (e.g. 2026-01-31T00:00)",
    )
    _json_flag(p)


def _purge(o: dict[str, Any], out: Any, err: Any) -> None:
    before = None
    if o["finished_before"]:
        try:
            before = datetime.fromisoformat(o["finished_before"])
        except ValueError:
            raise InvalidInput(
                f"--finished-before {o['finished_before']!r} is not an ISO date/time."
            ) from None
        if timezone.is_naive(before):
            before = timezone.make_aware(before, timezone.utc)
    count = DurableClient().purge(o["instance_id"], finished_before=before, by="cli")
    emit(out, o, {"purged": count}, f"purged {count} instance(s)")


def _list_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name")
    p.add_argument("--status")
    p.add_argument("--business-key")
    p.add_argument(
        "--attr",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="search attribute filter, e.g. --attr customer=acme (repeat: all must match)",
    )
    p.add_argument("--sort", help=f"order: {', '.join(SORT_CHOICES)} (default -created)")
    p.add_argument("--cursor", help="the page after (or before) this one, as printed")
    p.add_argument("--limit", type=int, default=20)
    _json_flag(p)


def _attributes(pairs: list[str]) -> dict[str, str] | None:
    found: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"--attr {pair!r}: use name=value, e.g. --attr customer=acme.")
        found[name.strip()] = value
    return found or None


def _list(o: dict[str, Any], out: Any, err: Any) -> None:
    page = DurableClient().query(
        name=o["name"],
        status=o["status"],
        business_key=o["business_key"],
        attributes=_attributes(o["attr"]),
        sort=o["sort"],
        cursor=o["cursor"],
        limit=o["limit"],
    )
    lines = [
        f"{s.instance_id:36} {s.name:24} {s.status:10} {s.created_at:%Y-%m-%d %H:%M}"
        + "".join(f"  {k}={v}" for k, v in sorted(s.search_attributes.items()))
        for s in page.items
    ]
    if page.next_cursor:
        lines.append(f"more: --cursor {page.next_cursor}")
    emit(out, o, page.items, "\n".join(lines) or "no instances")


def _sub(help: str, add: Any, run: Any) -> SimpleNamespace:
    return SimpleNamespace(HELP=help, add_arguments=add, run=run)


SUBCOMMANDS = {
    "start": _sub("start an orchestration", _start_args, _start),
    "status": _sub("show an instance", _status_args, _status),
    "list": _sub("list instances", _list_args, _list),
    "raise-event": _sub("raise an external event", _event_args, _raise_event),
    "terminate": _sub("terminate an instance", _reason_args, _operation("terminate", "terminated")),
    "suspend": _sub("suspend an instance", _reason_args, _operation("suspend", "suspended")),
    "resume": _sub("resume an instance", _reason_args, _operation("resume", "resumed")),
    "purge": _sub("delete finished instances and their history", _purge_args, _purge),
}
