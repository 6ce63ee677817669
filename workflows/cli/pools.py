"""The thread options shared by `durable worker` and `durable serve`."""

from __future__ import annotations

import argparse
from typing import Any

from ..engine.errors import InvalidInput


def add_thread_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--activity-threads",
        "--threads",
        dest="threads",
        type=int,
        default=None,
        help="threads running activities (default DURABLE_WORKER_THREADS, 4)",
    )
    parser.add_argument(
        "--orchestration-threads",
        type=int,
        default=None,
        help="threads running orchestration episodes, apart from activities so episodes "
        "never wait behind them (default DURABLE_ORCHESTRATION_THREADS, 2)",
    )


def thread_options(options: dict[str, Any]) -> dict[str, int | None]:
    """The Worker keyword arguments of the thread options; InvalidInput when one is < 1."""
    chosen = {
        "threads": options.get("threads"),
        "orchestration_threads": options.get("orchestration_threads"),
    }
    for name, flag in (
        ("threads", "--activity-threads"),
        ("orchestration_threads", "--orchestration-threads"),
    ):
        if chosen[name] is not None and chosen[name] < 1:
            raise InvalidInput(f"{flag} must be at least 1 (got {chosen[name]}).")
    return chosen
