"""Every writer of many task rows locks them in pk order (workflows/compiled.py,
``update_statement``): two writers of the same rows wait for each other, never deadlock.

A CI run once failed with a deadlock between a round recording outcomes (pk order) and a
plain multi-row UPDATE (heap order). Each test here holds the lower task row in one
transaction, lets the writer start, then writes the higher row in that transaction: a
writer that locked the higher row first (heap order) would deadlock with it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, transaction
from django.utils import timezone

from tests.support import workflows  # noqa: F401 - registers the test workflows
from tests.support.checks import instance, wait_until
from tests.support.episodes import run_episode
from workflows.effects import cancel_outstanding
from workflows.models import ActivityTask, Instance
from workflows.runtime.activities import claim_task, claim_tasks
from workflows.runtime.renewal import renew_leases

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks")


def _two_tasks(durable_client, *, claimed: bool) -> tuple[int, int, int]:
    """An instance with two open tasks, the lower pk's row written last (so that a scan in
    heap order meets the higher pk first); (instance pk, lower pk, higher pk)."""
    iid = durable_client.start("t_bounded_slow", {"count": 2, "parallel": 2, "sleep": 0})
    pk = instance(iid).pk
    run_episode(pk)
    low, high = (
        ActivityTask.objects.filter(instance_id=pk).order_by("pk").values_list("pk", flat=True)
    )
    if claimed:
        claim_task(high)
        claim_task(low)
    # A new version of the lower row, last in the heap and in every index (an indexed
    # column changes: not a HOT update, which would keep the index entries).
    ActivityTask.objects.filter(pk=low).update(enqueued_at=timezone.now())
    return pk, low, high


def _renew(_pk: int, _low: int, _high: int) -> None:
    assert renew_leases() == 2


def _claim(_pk: int, low: int, high: int) -> None:
    assert [task.pk for task in claim_tasks([high, low])] == [low, high]


def _cancel(pk: int, _low: int, _high: int) -> None:
    with transaction.atomic():
        cancel_outstanding(Instance.objects.get(pk=pk))


WRITERS: dict[str, tuple[Callable[[int, int, int], None], bool]] = {
    "lease renewal": (_renew, True),
    "batch claim": (_claim, False),
    "cancel outstanding": (_cancel, True),
}


# On a small table the planner reads task rows through an index whose order happens to
# be the pk's; on a big one it may scan the heap, whatever the index.
_HEAP_ORDER = "SET enable_indexscan = off; SET enable_bitmapscan = off"


def _waiting_for_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize("writer", list(WRITERS))
def test_a_writer_of_many_task_rows_waits_in_pk_order(durable_client, writer):
    write, claimed = WRITERS[writer]
    pk, low, high = _two_tasks(durable_client, claimed=claimed)
    holding, errors = threading.Event(), []
    release = threading.Event()

    def hold_low_then_write_high() -> None:
        try:
            with transaction.atomic():
                ActivityTask.objects.select_for_update().get(pk=low)
                holding.set()
                release.wait(30)
                ActivityTask.objects.filter(pk=high).update(enqueued_at=None)
        except Exception as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)
        finally:
            connection.close()

    def run_writer() -> None:
        try:
            with connection.cursor() as cursor:  # the plan of a big table: rows in heap order
                cursor.execute(_HEAP_ORDER)
            write(pk, low, high)
        except Exception as exc:  # noqa: BLE001 - the test reports it
            errors.append(exc)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_low_then_write_high)
    holder.start()
    assert holding.wait(30)
    writing = threading.Thread(target=run_writer)
    writing.start()
    wait_until(lambda: _waiting_for_a_lock() >= 1, timeout=30, what="the writer waiting")
    release.set()
    holder.join(30)
    writing.join(30)
    assert not holder.is_alive() and not writing.is_alive()
    assert errors == []
