"""`durable serve`: web server + worker threads + timer poller in one process."""

from __future__ import annotations

import argparse
import socket
from typing import Any

from django.core.management.base import CommandError

from ..runtime.worker import Worker
from .pools import add_thread_arguments, thread_options

HELP = "run the app on one machine: ASGI web server, embedded worker and timer poller"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    add_thread_arguments(parser)
    parser.add_argument("--no-demo", action="store_true", help="do not seed demo data")
    parser.add_argument(
        "--force",
        action="store_true",
        help="start even if active instances need orchestrator versions this code lacks",
    )


def run(options: dict[str, Any], stdout: Any, stderr: Any) -> None:
    threads = thread_options(options)  # refused before anything changes
    host, port = options["host"], options["port"]
    check_can_listen(host, port)  # so is a taken port: no demo data, no worker started
    # Only `durable serve` needs the web server: other subcommands do not load Twisted,
    # and building the ASGI application (durableapp.asgi) waits until it is used.
    from .asgi_server import serve

    if not options["no_demo"]:
        seed = _demo_seeder()
        if seed is not None:
            seed(stdout)
    worker = Worker(**threads, force=options["force"])
    worker.start()
    stdout.write(f"durableapp on http://{host}:{port}/  (Ctrl-C to stop)")
    stdout.flush()
    try:
        failure = serve(host, port)
    finally:
        worker.stop()
    if failure is not None:  # taken after the check, by a program as quick as this one
        raise CommandError(cannot_listen(host, port, failure))


def check_can_listen(host: str, port: int) -> None:
    """A CommandError naming what to do when ``host:port`` cannot be listened on.

    Bound the way the server binds (SO_REUSEADDR: a port a stopped server left in
    TIME_WAIT is free), then closed at once.

    Example::

        check_can_listen("127.0.0.1", 8000)  # CommandError: Cannot listen on ... in use
    """
    if not 0 <= port < 65536:
        raise CommandError(
            f"--port {port} is not a port: choose one from 1 to 65535 (0: any free one)."
        )
    try:
        with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise CommandError(cannot_listen(host, port, exc.strerror or str(exc))) from None


def cannot_listen(host: str, port: int, reason: str) -> str:
    return (
        f"Cannot listen on {host}:{port} ({reason}). If another program uses the port, "
        "stop it or choose another port with --port; --host must be an address of this "
        "machine."
    )


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _demo_seeder():  # noqa: ANN202 - the demo module is optional
    try:
        from ..samples.demo import seed_demo
    except ImportError:
        return None
    return seed_demo
