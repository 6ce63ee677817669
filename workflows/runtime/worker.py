"""A worker in this process: Dramatiq worker threads plus the timer poller/sweeper.

Used by ``durable serve`` (embedded broker, beside the web server), by
``durable worker`` (RabbitMQ/Redis, one process of many) and by the tests.
"""

from __future__ import annotations

import logging

import dramatiq
from django.conf import settings

from .sweeper import Sweeper

log = logging.getLogger("workflows.runtime")


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
        self.threads = threads or int(settings.DURABLE_WORKER_THREADS)
        self.sweep = sweep
        self.force = force  # start even if the code cannot run every active instance
        # "orchestrations", "default" and activities' own queues (workflows/limits.py); None: all
        self.queues = queues
        self._worker: dramatiq.Worker | None = None
        self._sweeper: Sweeper | None = None

    def start(self) -> None:
        from ..limits import serve_queues
        from ..versioning import verify_deployment

        # Refuse to start (IncompatibleCode) when active instances need orchestrator
        # versions or activities this code does not register, unless forced.
        verify_deployment(settings.DURABLE_TASK_HUB, force=self.force)
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
            settings.DURABLE_TASK_HUB,
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
