"""The broker chosen by DURABLE_BROKER_URL carries a message to a worker."""

import threading
import uuid

import dramatiq
import pytest
from dramatiq import Worker

QUEUE = "durableapp-selftest"
received: dict[str, threading.Event] = {}


@dramatiq.actor(actor_name="durableapp_selftest", queue_name=QUEUE)
def selftest(token: str) -> None:
    event = received.get(token)
    if event is not None:  # a leftover message from an earlier, interrupted run
        event.set()


@pytest.mark.integration
def test_a_message_round_trips_through_the_configured_broker():
    token = uuid.uuid4().hex
    received[token] = threading.Event()
    worker = Worker(dramatiq.get_broker(), queues={QUEUE}, worker_threads=1)
    worker.start()
    try:
        selftest.send(token)
        assert received[token].wait(timeout=15), "the worker never received the message"
    finally:
        worker.stop()
