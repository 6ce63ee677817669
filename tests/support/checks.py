"""Assertions over the durable state, shared by the runtime tests."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from typing import Any

from workflows.conf import conf
from workflows.models import HistoryEvent, Instance

SCHEDULED = {"activity_scheduled", "timer_created", "sub_orchestration_created"}
DONE = {
    "activity_completed",
    "activity_failed",
    "timer_fired",
    "sub_orchestration_completed",
    "sub_orchestration_failed",
}
ENDINGS = {"execution_completed", "execution_failed", "execution_terminated", "continued_as_new"}


def wait_until(
    condition: Callable[[], Any], timeout: float = 60, poll: float = 0.05, what: str = ""
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(poll)


# What a sweeper pass did when it did nothing (sweep_at lists only what it did).
NOTHING: dict[str, int] = {}


def sweep_at(hub: str, now: datetime) -> dict[str, int]:
    """One sweeper pass of ``hub`` as if it ran at ``now`` (an hour ahead: every timer,
    lease and lost message of the hub is due then): what a worker's sweeper would do,
    decided at once instead of after waiting for its rounds. The counts that are not 0."""
    from workflows.runtime.sweeper import sweep_once

    return {name: n for name, n in asdict(sweep_once(hub, now)).items() if n}


def this_hub() -> str:
    """The task hub of this process (tests may run in their own, e.g. DURABLE_TASK_HUB=ci)."""
    return conf.TASK_HUB


def other_hub() -> str:
    """A second task hub on the same database and broker."""
    return "other" if this_hub() == "default" else f"{this_hub()}_other"


def instance(instance_id: str, hub: str | None = None) -> Instance:
    return Instance.objects.get(task_hub=hub or this_hub(), instance_id=instance_id)


def history(instance_id: str, hub: str | None = None) -> list[HistoryEvent]:
    """The current execution's history rows, in order."""
    inst = instance(instance_id, hub)
    return list(
        HistoryEvent.objects.filter(instance=inst, execution_id=inst.execution_id).order_by("seq")
    )


def kinds(instance_id: str, hub: str | None = None) -> list[str]:
    return [row.kind for row in history(instance_id, hub)]


def snapshot(instance_id: str, hub: str | None = None) -> list[tuple[int, str, Any]]:
    """History without timestamps: what must not change under duplicate deliveries."""
    return [(row.seq, row.kind, row.payload) for row in history(instance_id, hub)]


def assert_history_valid(instance_id: str, hub: str | None = None, complete: bool = True) -> None:
    """seq is 1..n without gaps; every scheduled task has exactly one completion.

    With ``complete`` (a completed instance) no task may be left open; otherwise open
    tasks are allowed (terminated or failed instances), duplicates never are.
    """
    rows = history(instance_id, hub)
    inst = instance(instance_id, hub)
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1)), "seq not contiguous"
    assert inst.history_length == len(rows), "history_length differs from the rows"
    assert rows and rows[0].kind == "orchestrator_started"
    assert [r.kind for r in rows].count("execution_started") == 1
    scheduled = Counter(r.payload["task_id"] for r in rows if r.kind in SCHEDULED)
    done = Counter(r.payload["task_id"] for r in rows if r.kind in DONE)
    assert all(n == 1 for n in scheduled.values()), f"task scheduled twice: {scheduled}"
    assert all(n == 1 for n in done.values()), f"task completed twice: {done}"
    assert set(done) <= set(scheduled), "a completion without its scheduling event"
    if complete:
        assert set(done) == set(scheduled), f"open tasks: {set(scheduled) - set(done)}"
    endings = [r.kind for r in rows if r.kind in ENDINGS]
    assert len(endings) <= 1, f"more than one ending: {endings}"
    if endings:
        assert rows[-1].kind in ENDINGS, "history goes on after the execution ended"
