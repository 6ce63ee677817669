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

    def __init__(self, threads: int | None = None, sweep: bool = True, force: bool = False) -> None:
        self.threads = threads or int(settings.DURABLE_WORKER_THREADS)
        self.sweep = sweep
        self.force = force  # start even if the code cannot run every active instance
        self._worker: dramatiq.Worker | None = None
        self._sweeper: Sweeper | None = None

    def start(self) -> None:
        from ..versioning import verify_deployment
        from . import actors  # declares this hub's queues on the broker

        # Refuse to start (IncompatibleCode) when active instances need orchestrator
        # versions or activities this code does not register, unless forced.
        verify_deployment(settings.DURABLE_TASK_HUB, force=self.force)
        broker = dramatiq.get_broker()
        # Only this hub's queues: a client in this process may declare another hub's.
        queues = {actors.ORCHESTRATION_QUEUE, actors.ACTIVITY_QUEUE}
        self._worker = dramatiq.Worker(
            broker, queues=queues, worker_threads=self.threads, worker_timeout=100
        )
        self._worker.start()
        if self.sweep:
            self._sweeper = Sweeper()
            self._sweeper.start()
        log.info(
            "worker started: %d threads, hub %r, broker %s",
            self.threads,
            settings.DURABLE_TASK_HUB,
            type(broker).__name__,
        )

    def stop(self, timeout: int = 10_000) -> None:
        if self._sweeper is not None:
            self._sweeper.stop()
            self._sweeper.join(timeout / 1000)
        if self._worker is not None:
            self._worker.stop(timeout=timeout)
        log.info("worker stopped")
