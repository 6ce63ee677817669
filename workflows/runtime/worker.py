"""A worker in this process: Dramatiq worker threads plus the timer poller/sweeper.

Used by ``durable serve`` (embedded broker, beside the web server), by
``durable worker`` (RabbitMQ/Redis, one process of many) and by the tests.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import dramatiq

from ..conf import conf
from ..engine.errors import InvalidInput
from ..engine.registry import RESERVED_QUEUES
from ..limits.config import routed_queues
from ..versioning import verify_deployment
from .actors import activity_actor, run_orchestration
from .queues import remember_served
from .sweeper import Sweeper

log = logging.getLogger("workflows.runtime")


def serve_queues(selection: Iterable[str] | None = None) -> set[str]:
    """The broker queues this process's worker consumes; remembers the choice.

    ``selection`` holds "orchestrations", "default" (the hub's activity queue) and names
    given as ``queue=``; None means all of them. Declares the actors that serve them.

    Example::

        serve_queues(["partner-api"])  # {"durable-default-activities-partner-api"}
    """
    known = routed_queues()
    if selection is None:
        chosen = {"orchestrations", "default", *known}
        remember_served(None)
    else:
        chosen = {q.strip() for q in selection if q.strip()}
        unknown = sorted(chosen - RESERVED_QUEUES - known)
        if unknown or not chosen:
            raise InvalidInput(
                f"--queues {','.join(unknown) or '(empty)'}: no activity is routed there. "
                f"Choose from: {', '.join(sorted(RESERVED_QUEUES | known))}."
            )
        remember_served(chosen)
    names = set()
    for queue in chosen:
        if queue == "orchestrations":
            names.add(run_orchestration.queue_name)
        else:
            names.add(activity_actor(None if queue == "default" else queue).queue_name)
    return names


class Worker:
    """Consume this task hub's queues with ``threads`` threads; sweep in the background.

    Example::

        worker = Worker(threads=4)
        worker.start()
        ...
        worker.stop()
    """

    def __init__(
        self,
        threads: int | None = None,
        sweep: bool = True,
        force: bool = False,
        queues: list[str] | None = None,
    ) -> None:
        self.threads = threads or conf.WORKER_THREADS
        self.sweep = sweep
        self.force = force  # start even if the code cannot run every active instance
        # "orchestrations", "default" and activities' own queues (workflows/limits/); None: all
        self.queues = queues
        self._worker: dramatiq.Worker | None = None
        self._sweeper: Sweeper | None = None

    def start(self) -> None:
        # Refuse to start (IncompatibleCode) when active instances need orchestrator
        # versions or activities this code does not register, unless forced.
        verify_deployment(conf.TASK_HUB, force=self.force)
        broker = dramatiq.get_broker()
        # Only this hub's queues: a client in this process may declare another hub's.
        queues = serve_queues(self.queues)  # declares them on the broker
        self._worker = dramatiq.Worker(
            broker, queues=queues, worker_threads=self.threads, worker_timeout=100
        )
        self._worker.start()
        if self.sweep:
            self._sweeper = Sweeper()
            self._sweeper.start()
        log.info(
            "worker started: %d threads, hub %r, broker %s, queues %s",
            self.threads,
            conf.TASK_HUB,
            type(broker).__name__,
            ", ".join(sorted(queues)),
        )

    def stop(self, timeout: int = 10_000) -> None:
        if self._sweeper is not None:
            self._sweeper.stop()
            self._sweeper.join(timeout / 1000)
        if self._worker is not None:
            self._worker.stop(timeout=timeout)
        log.info("worker stopped")
