"""Losing broker messages on purpose: what a broker restart without persistence does."""

from __future__ import annotations

import dramatiq
import pika
from dramatiq.common import dq_name, xq_name

# Activities of the test workflows with a queue of their own (tests/support/limit_workflows.py).
ROUTED_QUEUES = ("lim-partner",)


def hub_queues(hub: str, routed: tuple[str, ...] = ()) -> list[str]:
    """The queues of one task hub, orchestrations first, and those of its activities with
    a queue of their own (``@activity(queue=...)``) named in ``routed``."""
    from workflows.runtime.queues import queue_name

    names = [queue_name("orchestration", hub), queue_name("activity", hub)]
    return names + [queue_name("activity", hub, queue) for queue in routed]


def purge_test_queues() -> None:
    """Empty the queues of this run's two task hubs (tests/support/checks.py), those of the
    test activities with a queue of their own too."""
    from tests.support.checks import other_hub, this_hub

    purge_queues(this_hub(), other_hub(), routed=ROUTED_QUEUES)


def purge_queues(*hubs: str, routed: tuple[str, ...] = ()) -> int | None:
    """Drop every waiting message of the hubs' queues, delay and dead-letter queues too.

    Returns how many messages RabbitMQ dropped (None on other brokers). Messages that a
    running worker already fetched but has not acknowledged stay with that worker: as
    in a real outage, only what sits in the broker is lost.
    """
    from workflows.runtime import actors  # noqa: F401 - declares this hub's queues

    broker = dramatiq.get_broker()
    names = [q for hub in hubs for q in hub_queues(hub, routed)]
    kind = type(broker).__name__
    if kind == "RabbitmqBroker":
        try:
            return _purge_rabbitmq(broker, names)
        except (pika.exceptions.AMQPConnectionError, pika.exceptions.AMQPChannelError):
            # RabbitMQ closes a connection left idle past its heartbeat (a long test that
            # sent nothing): the next one is new.
            del broker.connection
            return _purge_rabbitmq(broker, names)
    if kind == "StubBroker":  # the embedded broker: in-memory queues of this process
        for queue in (q for name in names for q in (name, dq_name(name))):
            if queue in broker.queues:
                broker.flush(queue)
        return None
    for name in names:
        broker.flush(name)  # Redis: deletes the queue, delay queue and message keys
    return None


def _purge_rabbitmq(broker: dramatiq.Broker, names: list[str]) -> int:
    purged = 0
    for name in names:
        # Declared first (once per process), so purging never fails and costs a channel.
        broker.declare_queue(name, ensure=True)
        for queue in (name, dq_name(name), xq_name(name)):
            purged += broker.channel.queue_purge(queue).method.message_count
    return purged


def waiting_messages(queue: str) -> int:
    """How many messages wait in ``queue`` for a consumer (fetched ones no longer count)."""
    broker = dramatiq.get_broker()
    kind = type(broker).__name__
    if kind == "RabbitmqBroker":
        broker.declare_queue(queue, ensure=True)
        return broker.channel.queue_declare(queue, passive=True).method.message_count
    if kind == "StubBroker":
        return broker.queues[queue].qsize() if queue in broker.queues else 0
    return broker.client.llen(f"{broker.namespace}:{queue}")  # Redis: the queue's list
