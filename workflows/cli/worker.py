"""`durable worker`: consume this task hub's queues (RabbitMQ/Redis) until stopped."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from ..metrics import serve_worker_metrics
from ..runtime.worker import Worker
from .pools import add_thread_arguments, thread_options

HELP = "run a worker process: activity/orchestration threads plus the timer poller"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_thread_arguments(parser)
    parser.add_argument(
        "--force",
        action="store_true",
        help="start even if active instances need orchestrator versions this code lacks",
    )
    parser.add_argument(
        "--metrics-port", type=int, help="serve this process's Prometheus metrics on this port"
    )
    parser.add_argument(
        "--queues",
        help="comma-separated queues to serve: orchestrations, default (activities) and "
        "activities' own queues (@activity(queue=...)); default: all",
    )


def run(options: dict[str, Any], stdout: Any, stderr: Any) -> None:
    queues = options.get("queues")
    worker = Worker(
        **thread_options(options),
        force=options["force"],
        queues=queues.split(",") if queues is not None else None,
    )
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        worker.start()  # IncompatibleCode unless --force: see workflows/versioning.py
        metrics = None
        try:
            if options["metrics_port"]:
                metrics = serve_worker_metrics(options["metrics_port"])
            stdout.write("worker running; Ctrl-C to stop")
            stdout.flush()
            stop.wait()
        finally:
            if metrics is not None:
                metrics.shutdown()
            worker.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
