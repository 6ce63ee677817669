"""`durable serve`: web server + worker threads + timer poller in one process."""

from __future__ import annotations

import argparse
from typing import Any

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
    # Only `durable serve` needs the web server: other subcommands do not load Twisted,
    # and building the ASGI application (durableapp.asgi) waits until it is used.
    from daphne.endpoints import build_endpoint_description_strings
    from daphne.server import Server
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    from durableapp.asgi import application

    if not options["no_demo"]:
        seed = _demo_seeder()
        if seed is not None:
            seed(stdout)
    worker = Worker(**threads, force=options["force"])
    worker.start()
    stdout.write(f"durableapp on http://{options['host']}:{options['port']}/  (Ctrl-C to stop)")
    stdout.flush()
    try:
        Server(
            application=ASGIStaticFilesHandler(application),
            endpoints=build_endpoint_description_strings(
                host=options["host"], port=options["port"]
            ),
        ).run()
    finally:
        worker.stop()


def _demo_seeder():  # noqa: ANN202 - the demo module is optional
    try:
        from ..samples.demo import seed_demo
    except ImportError:
        return None
    return seed_demo
