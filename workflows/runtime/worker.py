"""A worker in this process: Dramatiq worker threads plus the timer poller/sweeper.

Used by ``durable serve`` (embedded broker, beside the web server), by
``durable worker`` (RabbitMQ/Redis, one process of many) and by the tests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import dramatiq

from ..conf import conf
from ..engine.errors import InvalidInput
from ..engine.registry import RESERVED_QUEUES
from ..limits.config import routed_queues
from ..versioning import verify_deployment
from . import shutdown
from .actors import activity_actor, run_orchestration
from .eventloop import running_loop
from .queues import remember_served
from .renewal import LeaseKeeper, release_leases
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
    """Consume this task hub's queues; sweep and renew leases in the background.

    Episodes and activities have their own threads (``orchestration_threads``,
    ``threads``), so a long activity never delays another instance's episode.

    Example::

        worker = Worker(threads=4, orchestration_threads=2)
        worker.start()
        ...
        worker.stop()  # finish running activities (at most the grace), release the rest
    """

    def __init__(
        self,
        threads: int | None = None,
        sweep: bool = True,
        force: bool = False,
        queues: list[str] | None = None,
        orchestration_threads: int | None = None,
    ) -> None:
        self.threads = threads or conf.WORKER_THREADS
        self.orchestration_threads = orchestration_threads or conf.ORCHESTRATION_THREADS
        self.sweep = sweep
        self.force = force  # start even if the code cannot run every active instance
        # "orchestrations", "default" and activities' own queues (workflows/limits/); None: all
        self.queues = queues
        self._pools: list[dramatiq.Worker] = []
        self._sweeper: Sweeper | None = None
        self._lease_keeper: LeaseKeeper | None = None

    def start(self) -> None:
        # Refuse to start (IncompatibleCode) when active instances need orchestrator
        # versions or activities this code does not register, unless forced.
        verify_deployment(conf.TASK_HUB, force=self.force)
        shutdown.reset()
        broker = dramatiq.get_broker()
        # Only this hub's queues: a client in this process may declare another hub's.
        queues = serve_queues(self.queues)  # declares them on the broker
        episodes = {q for q in queues if q == run_orchestration.queue_name}
        activities = queues - episodes
        for pool, threads in ((episodes, self.orchestration_threads), (activities, self.threads)):
            if pool:
                worker = dramatiq.Worker(
                    broker, queues=pool, worker_threads=threads, worker_timeout=100
                )
                worker.start()
                self._pools.append(worker)
        self._lease_keeper = LeaseKeeper()
        self._lease_keeper.start()
        if self.sweep:
            self._sweeper = Sweeper()
            self._sweeper.start()
        log.info(
            "worker started: %d activity + %d orchestration threads, hub %r, broker %s, queues %s",
            self.threads if activities else 0,
            self.orchestration_threads if episodes else 0,
            conf.TASK_HUB,
            type(broker).__name__,
            ", ".join(sorted(queues)),
        )

    def stop(self, grace: float | None = None) -> None:
        """Stop taking work, let running activities (async ones on the event loop too)
        finish for ``grace`` seconds (DURABLE_SHUTDOWN_GRACE_SECONDS), then give what
        still runs to other workers.

        Unstarted tasks of a batch, and activities an episode claimed for a thread, are
        given back at once; messages fetched but not started go back to the broker.
        """
        grace = conf.SHUTDOWN_GRACE_SECONDS if grace is None else grace
        log.info("worker stopping: running activities get %s s to finish", grace)
        shutdown.begin()
        if self._sweeper is not None:
            self._sweeper.stop()
            self._sweeper.join(10)
        for pool in self._pools:  # in parallel: each stops its threads, then its consumers
            for thread in pool.workers:
                thread.stop()
        deadline = time.monotonic() + grace
        for pool in self._pools:
            pool.stop(timeout=int(grace * 1000))
        self._pools = []
        loop = running_loop()
        if loop is not None and loop.drain(max(0.0, deadline - time.monotonic())):
            loop.cancel_all()  # their leases are released below
        if self._lease_keeper is not None:
            self._lease_keeper.stop()
            try:
                release_leases()
            except Exception:  # noqa: BLE001 - the database may be down: leases lapse
                log.warning("could not release leases at shutdown; they will lapse")
        # Calls made by hand in this process afterwards (tests, a shell) run as usual.
        shutdown.reset()
        log.info("worker stopped")
