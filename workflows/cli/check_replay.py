"""`durable check-replay`: would the code now deployed replay the instances in the database?

Run it with the new code before a deploy (e.g. in CI against a copy of production, or
on one machine of the new release before the workers switch): it exits non-zero and
lists every instance whose history the code no longer matches.
"""

from __future__ import annotations

import argparse
import json
from datetime import timedelta
from typing import Any

from ..engine import IncompatibleCode
from ..engine.errors import InvalidInput
from ..versioning import check_replay, missing_code

HELP = (
    "replay running instances (--all: also recently finished ones) against the code now "
    "deployed, writing nothing; exits non-zero listing those that no longer match"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="only instances of this orchestrator")
    parser.add_argument(
        "--all",
        action="store_true",
        help="also replay instances finished in the last --days days: same status and output",
    )
    parser.add_argument(
        "--days", type=float, default=7.0, help="with --all: how far back (default 7)"
    )
    parser.add_argument(
        "--limit", type=int, default=1000, help="with --all: at most this many (default 1000)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="only check that versions and activities still exist (the worker start-up check)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def run(options: dict[str, Any], stdout: Any, stderr: Any) -> None:
    if options["days"] <= 0 or options["limit"] < 1:
        raise InvalidInput("--days must be positive and --limit at least 1.")
    if options["quick"]:
        if options["name"] or options["all"]:
            raise InvalidInput("--quick checks every active instance; leave out --name and --all.")
        _run_quick(options, stdout)
        return
    report = check_replay(
        name=options["name"],
        include_finished=options["all"],
        finished_within=timedelta(days=options["days"]),
        finished_limit=options["limit"],
    )
    if options["json"]:
        stdout.write(json.dumps(report.to_dict(), indent=2, sort_keys=True))
    else:
        checked = f"{report.active_checked} active"
        if options["all"]:
            checked += f" and {report.finished_checked} finished"
        if report.ok:
            stdout.write(f"ok: {checked} instance(s) replay with the deployed code")
        for problem in report.problems:
            stdout.write(f"MISMATCH {problem}")
    if not report.ok:
        raise IncompatibleCode(report.problems, "the deployed code")


def _run_quick(options: dict[str, Any], stdout: Any) -> None:
    missing = missing_code()
    if options["json"]:
        rows = [vars(m) for m in missing]
        stdout.write(json.dumps({"ok": not missing, "missing": rows}, indent=2, sort_keys=True))
    elif not missing:
        stdout.write("ok: every active instance's orchestrator version is registered")
    for item in missing if not options["json"] else []:
        stdout.write(f"MISSING {item}")
    if missing:
        raise IncompatibleCode(missing, "the deployed code")
