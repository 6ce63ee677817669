"""`durable rotate-key`: re-encrypt every stored payload under DURABLE_PAYLOAD_KEY_ID.

Run it after adding a new key to DURABLE_PAYLOAD_KEYS, naming it in DURABLE_PAYLOAD_KEY_ID
and restarting every process (new writes then use it); workers may keep running. It
prints its progress after each batch; stopped anywhere, it continues where it was when
run again. When it reports 0 rows left, the old key may be removed. With the codec off
(DURABLE_PAYLOAD_CODEC="") it decrypts everything instead (docs/architecture.md, "Payloads").
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..conf import conf
from ..engine.errors import InvalidInput
from ..payloads.rotation import DEFAULT_BATCH, Progress, remaining, rotate

HELP = "re-encrypt stored payloads under DURABLE_PAYLOAD_KEY_ID, in batches (resumable)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--batch",
        type=int,
        default=DEFAULT_BATCH,
        help=f"rows per transaction (default {DEFAULT_BATCH})",
    )
    parser.add_argument(
        "--check", action="store_true", help="only count the rows not yet rotated; write nothing"
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def run(options: dict[str, Any], stdout: Any, stderr: Any) -> None:
    if options["batch"] < 1:
        raise InvalidInput("--batch must be at least 1.")
    target = f"key {conf.PAYLOAD_KEY_ID!r}" if conf.PAYLOAD_CODEC else "clear text (codec off)"
    if not options["check"]:
        if not options["json"]:
            stdout.write(f"rotating stored payloads to {target}")

        def report(progress: Progress) -> None:
            if not options["json"]:
                stdout.write(progress.line())

        totals = rotate(batch=options["batch"], report=report)
    else:
        totals = {}
    left = remaining()
    if options["json"]:
        stdout.write(
            json.dumps({"target": target, "rewritten": totals, "left": left}, sort_keys=True)
        )
        return
    for table, count in sorted(left.items()):
        if options["check"] or count:
            stdout.write(f"{table}: {count} row(s) not under {target}")
    if not any(left.values()):
        stdout.write(f"done: every stored payload is under {target}")
    else:
        stdout.write("rows are left (busy or written meanwhile by an old process): run it again")
