"""Fixtures of the limit tests: a client, empty queues, worker processes that know the
limited test activities (tests/support/limit_workflows.py)."""

from __future__ import annotations

import dramatiq
import pika
import pytest

from tests.support import limit_workflows  # noqa: F401 - registers the limited activities
from tests.support.checks import this_hub

MODULES = "tests.support.workflows,tests.support.limit_workflows"
ROUTED = ("lim-partner",)  # activities' own queues (queue=...) in limit_workflows


def purge(hub: str) -> None:
    """Drop the messages waiting in the hub's queues (a killed worker's must not leak in)."""
    from dramatiq.common import dq_name, xq_name

    from tests.support.brokers import purge_queues
    from workflows.runtime.queues import queue_name

    purge_queues(hub)
    broker = dramatiq.get_broker()
    kind = type(broker).__name__
    for queue in ROUTED:
        name = queue_name("activity", hub, queue)
        if kind == "RabbitmqBroker":
            for each in (name, dq_name(name), xq_name(name)):
                try:
                    broker.channel.queue_purge(each)
                except pika.exceptions.AMQPChannelError:  # never declared on the server
                    del broker.channel
        elif kind == "StubBroker":
            for each in (name, dq_name(name)):
                if each in broker.queues:
                    broker.flush(each)
        else:
            broker.flush(name)  # Redis


@pytest.fixture(autouse=True)
def _empty_queues():
    purge(this_hub())
    yield


@pytest.fixture
def client(db):
    from workflows.client import DurableClient

    return DurableClient()


@pytest.fixture
def fast_sweeps(settings):
    settings.DURABLE_SWEEP_INTERVAL_SECONDS = 0.2
    settings.DURABLE_REDELIVER_AFTER_SECONDS = 2
    return settings


@pytest.fixture
def real_broker():
    from tests.support.workers import uses_real_broker

    if not uses_real_broker():
        pytest.skip("needs a real broker and worker processes (DURABLE_BROKER_URL=amqp/redis)")


@pytest.fixture
def limit_workers(real_broker, worker_process_factory):
    """Start `durable worker` processes that import the limited test activities."""

    def start(threads: int = 4, **env: str):  # noqa: ANN202 - a WorkerProcess
        return worker_process_factory(threads=threads, DURABLE_WORKFLOW_MODULES=MODULES, **env)

    return start
