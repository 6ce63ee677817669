"""Losing broker messages on purpose: what a broker restart without persistence does."""

from __future__ import annotations

import dramatiq
import pika
from dramatiq.common import dq_name, xq_name


def hub_queues(hub: str) -> list[str]:
    """The queues of one task hub (see workflows/runtime/actors.py)."""
    return [f"durable-{hub}-orchestrations", f"durable-{hub}-activities"]


def purge_queues(*hubs: str) -> int | None:
    """Drop every waiting message of the hubs' queues, delay and dead-letter queues too.

    Returns how many messages RabbitMQ dropped (None on other brokers). Messages that a
    running worker already fetched but has not acknowledged stay with that worker: as
    in a real outage, only what sits in the broker is lost.
    """
    from workflows.runtime import actors  # noqa: F401 - declares this hub's queues

    broker = dramatiq.get_broker()
    names = [q for hub in hubs for q in hub_queues(hub)]
    kind = type(broker).__name__
    if kind == "RabbitmqBroker":
        purged = 0
        for name in names:
            for queue in (name, dq_name(name), xq_name(name)):
                try:
                    purged += broker.channel.queue_purge(queue).method.message_count
                except pika.exceptions.AMQPChannelError:  # never declared on the server
                    del broker.channel
        return purged
    if kind == "StubBroker":  # the embedded broker: in-memory queues of this process
        for queue in (q for name in names for q in (name, dq_name(name))):
            if queue in broker.queues:
                broker.flush(queue)
        return None
    for name in names:
        broker.flush(name)  # Redis: deletes the queue, delay queue and message keys
    return None
