"""Helpers shared by tests/samples and tests/recovery: workers, replay checks, hand driving."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from tests.support.checks import instance
from tests.support.workers import WorkerProcess
from workflows.conf import conf
from workflows.engine import InstanceRef, default_registry, execute
from workflows.engine import events as ev
from workflows.models import ActivityTask, HistoryEvent, Instance
from workflows.samples.models import ServiceCall
from workflows.statuses import TERMINAL, TaskStatus

# What worker processes import besides the samples (which every process loads).
WORKFLOW_MODULES = "tests.support.workflows,tests.samples.flows,tests.recovery.flows"


class ProcessWorkers:
    """Real `durable worker` processes (on a real broker), shared by a session's tests.

    A process takes about two seconds to start, so one pool serves every test;
    ``stop()`` stops all of them (an outage or a deploy) and ``start()`` starts anew.
    """

    def __init__(self) -> None:
        self.processes: list[WorkerProcess] = []

    @property
    def running(self) -> bool:
        return bool(self.processes)

    def start(self, count: int = 1) -> None:
        for _ in range(count):
            env = {"DURABLE_WORKFLOW_MODULES": WORKFLOW_MODULES}
            self.processes.append(WorkerProcess(threads=4, env=env).start())

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        self.processes.clear()


class InProcessWorkers:
    """The in-process worker of the ``worker`` fixture (embedded broker), stoppable."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self.running = True

    def start(self) -> None:
        if not self.running:
            self.worker.start()
        self.running = True

    def stop(self) -> None:
        from workflows.runtime.cache import sticky_cache

        if self.running:
            self.worker.stop()
            sticky_cache().clear()  # a new process starts with an empty cache
        self.running = False


# -- replay ------------------------------------------------------------------------------
def replay(inst: Instance):  # noqa: ANN201 - an EpisodeResult
    """Run the engine from scratch over the instance's stored history."""
    rows = HistoryEvent.objects.filter(instance=inst, execution_id=inst.execution_id).order_by(
        "seq"
    )
    events = [ev.event_from_payload(row.kind, row.payload) for row in rows]
    return execute(default_registry, InstanceRef(inst.instance_id, inst.execution_id), events, [])


def assert_replays(inst: Instance) -> None:
    """The stored history replays to the stored outcome (no clock, random or I/O leaked)."""
    result = replay(inst)
    assert result.status.value == inst.status, (inst.instance_id, result.status, inst.status)
    if inst.status == "completed":
        assert result.output == inst.output, inst.instance_id
    elif inst.status == "failed":
        assert result.failure is not None
        assert (result.failure.type, result.failure.message) == (
            inst.failure["type"],
            inst.failure["message"],
        ), inst.instance_id


def assert_all_finished_replay() -> int:
    """Every finished instance replays to its outcome; active ones replay without error.

    (Workers may still be running: an active instance's status can change meanwhile,
    so only its recorded steps are checked.) Returns how many instances were checked.
    """
    checked = 0
    for inst in Instance.objects.exclude(needs_attention=True).exclude(history_length=0):
        if inst.status in TERMINAL:
            assert_replays(inst)
        else:
            replay(inst)  # raises NonDeterminismError if the code no longer matches
        checked += 1
    return checked


# -- fake services ---------------------------------------------------------------------------
def calls(reference: str) -> list[tuple[str, str]]:
    """The fake-service operations that took effect for ``reference``, in order."""
    rows = ServiceCall.objects.filter(reference=reference, applied_at__isnull=False)
    return [(row.service, row.operation) for row in rows.order_by("applied_at", "pk")]


# -- driving an instance by hand (no worker) ---------------------------------------------
def crash_after_side_effect(task: ActivityTask) -> None:
    """The worker that claimed ``task`` runs the activity and dies before recording it.

    Its lease then lapses and the sweeper hands the task out again: the activity body
    runs twice (at-least-once delivery), which the fake services must absorb.
    """
    from workflows.engine import ActivityContext
    from workflows.engine.activity import run_activity
    from workflows.runtime.sweeper import expire_leases

    ctx = ActivityContext(
        task.instance.instance_id,
        task.name,
        task.attempt,
        task.idempotency_key,
        task.task_id,
        task.execution_id,
    )
    run_activity(default_registry, ctx, task.input)
    ActivityTask.objects.filter(pk=task.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert expire_leases(conf.TASK_HUB, timezone.now()) >= 1


def run_task(task_pk: int, *, twice: bool) -> None:
    """Run a scheduled task as a worker does, and whatever it chains in the same thread.

    (A worker that records a result may run the next episode and claim the activity
    it schedules at once; each claimed task is run the same way.)
    """
    from workflows.runtime.activities import claim_task, run_claimed

    task = claim_task(task_pk)
    assert task is not None, f"task {task_pk} could not be claimed"
    while task is not None:
        if twice:
            crash_after_side_effect(task)
            task = claim_task(task.pk)
            assert task is not None and task.runs == 2, "the lapsed task was not handed out"
        _recorded, task = run_claimed(task)


def drive(instance_id: str, *, twice: bool = False, max_rounds: int = 200) -> Instance:
    """Run the instance in this thread (episodes, activities, timers) until it is stuck.

    Timers fire at once (they are retry back-offs here). With ``twice`` every activity
    attempt runs twice, the first run lost in a crash (see crash_after_side_effect).
    """
    from tests.support.episodes import run_episode
    from workflows.runtime.sweeper import fire_due_timers

    inst = instance(instance_id)
    for _ in range(max_rounds):
        progressed = run_episode(inst.pk)
        scheduled = ActivityTask.objects.filter(instance=inst, status=TaskStatus.SCHEDULED)
        for pk in scheduled.order_by("pk").values_list("pk", flat=True):
            run_task(pk, twice=twice)
            progressed = True
        later = timezone.now() + timedelta(days=1)
        progressed = fire_due_timers(conf.TASK_HUB, later) > 0 or progressed
        if not progressed:
            return instance(instance_id)
    raise AssertionError(f"{instance_id} still progresses after {max_rounds} rounds")
