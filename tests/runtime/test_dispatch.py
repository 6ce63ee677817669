"""Wake-ups of a busy instance: one retry at a time, and it applies every message."""

from __future__ import annotations

import pytest
from dramatiq.common import dq_name

from tests.support.brokers import waiting_messages
from tests.support.checks import instance, wait_until
from tests.support.episodes import row_held, run_episode
from workflows.engine import events as ev
from workflows.inbox import deliver
from workflows.runtime import actors, dispatch
from workflows.runtime.queues import ORCHESTRATION, queue_name

DELAYED = dq_name(queue_name(ORCHESTRATION, actors.HUB))


@pytest.fixture
def forget_retries():
    dispatch._retry_due.clear()
    yield
    dispatch._retry_due.clear()


def delayed_messages(count: int) -> None:
    """Wait until ``count`` delayed wake-ups wait in the broker (RabbitMQ counts a message
    some moments after it was published)."""
    wait_until(lambda: waiting_messages(DELAYED) == count, timeout=10, what=f"{count} delayed")


def test_a_retry_still_to_come_is_not_sent_again(client, forget_retries):
    pk = instance(client.start("t_collect", 2)).pk
    before = waiting_messages(DELAYED)
    assert dispatch.retry_when_free(pk, actors.HUB, 1000) is True
    assert dispatch.retry_pending(pk)
    assert dispatch.retry_when_free(pk, actors.HUB, 1000) is False  # the first one is to come
    delayed_messages(before + 1)
    wait_until(lambda: not dispatch.retry_pending(pk), timeout=5, what="the retry to be due")
    assert waiting_messages(DELAYED) == before + 1  # (nothing else was sent meanwhile)
    assert dispatch.retry_when_free(pk, actors.HUB, 1000) is True  # once due, a new one
    delayed_messages(before + 2)


@pytest.mark.postgres
def test_wake_ups_of_a_busy_instance_leave_one_retry_that_applies_them_all(
    client, transactional_db, forget_retries, django_assert_num_queries, monkeypatch
):
    # Long enough for the test's own steps on a loaded machine.
    monkeypatch.setattr(actors, "BUSY_RETRY_MS", 2000)
    iid = client.start("t_collect", 2)
    pk = instance(iid).pk
    assert run_episode(pk)  # waiting for two items
    client.raise_event(iid, "item", "a")
    with row_held(pk):  # another episode, as far as the wake-ups can tell
        delayed = waiting_messages(DELAYED)
        actors.run_orchestration(pk)  # busy: comes back later
        assert dispatch.retry_pending(pk)
        delayed_messages(delayed + 1)
        # A second event arrives meanwhile (raise_event would wait for the row's lock).
        deliver(instance(iid), ev.EventRaised("item", "b"), wake=False)
        with django_assert_num_queries(0):
            actors.run_orchestration(pk)  # the retry to come covers it: no lock tried
    wait_until(lambda: not dispatch.retry_pending(pk), timeout=10, what="the retry to be due")
    assert waiting_messages(DELAYED) == delayed + 1  # the dropped wake-up sent none
    actors.run_orchestration(pk)  # the retry, delivered: one episode applies both items
    assert client.get_status(iid).output == ["a", "b"]
