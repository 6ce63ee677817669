"""`durable worker`: consume this task hub's queues (RabbitMQ/Redis) until stopped."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from django.core.management.base import CommandError

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
        "--metrics-port",
        type=_port,
        help="serve this process's Prometheus metrics on this port (1-65535)",
    )
    parser.add_argument(
        "--queues",
        help="comma-separated queues to serve: orchestrations, default (activities) and "
        "activities' own queues (@activity(queue=...)); default: all",
    )


_SIGNAL_CHECK_SECONDS = 0.5


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give a number 1-65535")
    return int(text)


def run(options: dict[str, Any], stdout: Any, stderr: Any) -> None:
    queues = options.get("queues")
    worker = Worker(
        **thread_options(options),
        force=options["force"],
        queues=queues.split(",") if queues is not None else None,
    )
    # The port first: a port that cannot be served stops the worker before it takes work.
    metrics = _serve_metrics(options["metrics_port"])
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        worker.start()  # IncompatibleCode unless --force: see workflows/versioning.py
        try:
            stdout.write("worker running; Ctrl-C to stop")
            stdout.flush()
            # With a timeout: Python runs a signal's handler in the main thread only, and a
            # SIGTERM the kernel hands to another thread does not wake a main thread blocked
            # in a wait without one (a CI run's worker once ignored its SIGTERM for 60 s;
            # this is the one cause we found that fits).
            while not stop.wait(_SIGNAL_CHECK_SECONDS):
                pass
        finally:
            worker.stop()
    finally:
        if metrics is not None:
            metrics.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve_metrics(port: int | None) -> Any:
    if not port:
        return None
    try:
        return serve_worker_metrics(port)
    except OSError as exc:  # taken by another process, or not ours to bind
        raise CommandError(
            f"--metrics-port {port}: cannot serve metrics there ({exc.strerror or exc}); "
            "choose a free port, or leave the option out."
        ) from None
