"""`durable payloads gc`: delete stored payload objects that no row references.

Purges, continue-as-new, rewind and rotate-key delete the objects of the rows they drop
once they commit; what a rolled-back write or a crash left in the payload storage is
found here. Only objects older than --older-than (default 1h) are considered, so the
object of a write still in its transaction is never taken (docs/architecture.md,
"Payloads").

Examples::

    durable payloads gc --dry-run            # list what would go
    durable payloads gc --older-than 6h --batch 200
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import timedelta
from typing import Any

from ..engine.errors import InvalidInput
from ..payloads.gc import DEFAULT_BATCH, GcProgress, collect

HELP = "stored payload objects: gc deletes those no row references (after a grace period)"
ACTIONS = ("gc",)
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=ACTIONS, metavar="ACTION", help=", ".join(ACTIONS))
    parser.add_argument(
        "--older-than",
        default="1h",
        help="grace period: only objects older than this, e.g. 90m, 1h, 2d (default 1h)",
    )
    parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    parser.add_argument(
        "--batch",
        type=int,
        default=DEFAULT_BATCH,
        help=f"objects per check (default {DEFAULT_BATCH})",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def parse_age(text: str) -> timedelta:
    """``"90m"`` -> 90 minutes: a number and one of s, m, h, d; InvalidInput otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text or "")
    if match is None:
        raise InvalidInput(
            f"--older-than {text!r} is not a duration: write a whole number and a unit "
            "(s, m, h or d), e.g. 30m or 1h."
        )
    age = timedelta(**{UNITS[match[2]]: int(match[1])})
    if age < timedelta(minutes=1):
        raise InvalidInput(
            "--older-than must be at least 1m: a younger object may belong to a write "
            "whose transaction has not committed yet."
        )
    return age


def run(options: dict[str, Any], stdout: Any, stderr: Any) -> None:
    age = parse_age(options["older_than"])
    if options["batch"] < 1:
        raise InvalidInput("--batch must be at least 1.")
    quiet = options["json"]

    def report(progress: GcProgress) -> None:
        if quiet:
            return
        if progress.dry_run:
            for name in progress.batch_unreferenced:
                stdout.write(f"unreferenced: {name}")
        stdout.write(progress.line())

    result = collect(age, dry_run=options["dry_run"], batch=options["batch"], report=report)
    if quiet:
        fields = ("scanned", "old", "unreferenced", "deleted", "dry_run")
        stdout.write(json.dumps({k: getattr(result, k) for k in fields}, sort_keys=True))
    elif result.dry_run:
        stdout.write(f"dry run: {result.unreferenced} unreferenced object(s), nothing deleted")
    else:
        stdout.write(f"done: {result.deleted} unreferenced object(s) deleted")
