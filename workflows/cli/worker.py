"""`durable worker`: consume this task hub's queues (RabbitMQ/Redis) until stopped."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

HELP = "run a worker process: activity/orchestration threads plus the timer poller"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=None, help="worker threads (default 4)")


def run(options: dict[str, Any], stdout: Any, stderr: Any) -> None:
    from ..runtime.worker import Worker

    if options["threads"] is not None and options["threads"] < 1:
        from ..engine.errors import InvalidInput

        raise InvalidInput("--threads must be at least 1.")
    worker = Worker(threads=options["threads"])
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    worker.start()
    stdout.write("worker running; Ctrl-C to stop")
    stdout.flush()
    stop.wait()
    worker.stop()
