"""An in-memory runner with a fake clock for unit-testing orchestrators.

No database, no broker: activities run in-process (fakes or the registered ones),
timers fire when the fake clock passes them, and every episode replays the full
history, so a determinism bug shows up in your tests.

Example::

    runner = WorkflowTestRunner(activities={"charge_payment": lambda ctx, order: "ch_1"})
    iid = runner.start("order", {"order_id": "o-1"})
    runner.run_until_idle()
    assert runner.status(iid).status == "completed"
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import actions as act
from . import events as ev
from .activity import ActivityContext, idempotency_key, run_activity
from .approvals import approval_event_name
from .errors import DurableError
from .executor import TERMINAL_STATUSES, InstanceRef, OrchestrationStatus, execute
from .failures import FailureDetails
from .heartbeat import Beat, Heartbeats
from .payloads import round_trip
from .registry import Registry, default_registry, name_of
from .saga import compensation_event_name
from .search_attributes import merge
from .testing_entities import EntityRunnerMixin


@dataclass
class TestStatus:
    """A snapshot of one instance, as ``runner.status(iid)`` returns it."""

    instance_id: str
    name: str
    version: int
    status: str
    output: Any = None
    failure: FailureDetails | None = None
    custom_status: Any = None
    history: list[ev.HistoryEvent] = field(default_factory=list)
    execution: int = 1
    search_attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Instance:
    instance_id: str
    name: str
    version: int
    status: str = OrchestrationStatus.PENDING.value
    execution: int = 1
    history: list[ev.HistoryEvent] = field(default_factory=list)
    inbox: list[ev.HistoryEvent] = field(default_factory=list)
    output: Any = None
    failure: FailureDetails | None = None
    custom_status: Any = None
    parent: tuple[str, int] | None = None
    search_attributes: dict[str, Any] = field(default_factory=dict)


class WorkflowTestRunner(EntityRunnerMixin):
    """Runs orchestrations (and entities: engine/testing_entities.py) in memory. See the
    module docstring for an example."""

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        activities: dict[str, Callable[..., Any]] | None = None,
        registry: Registry | None = None,
        start_time: datetime | None = None,
    ) -> None:
        self.registry = registry or default_registry
        self.fakes = {name_of(k): v for k, v in (activities or {}).items()}
        self.clock = start_time or datetime(2026, 1, 1, tzinfo=UTC)
        self._instances: dict[str, _Instance] = {}
        self._activities: deque[tuple[str, int, act.ScheduleActivity]] = deque()
        self._timers: list[tuple[datetime, str, int, int]] = []
        self._calls: dict[str, list[Any]] = {}
        # Last heartbeat details per call (instance, execution, call id): every beat is
        # kept (no throttle), and the next attempt of the call reads them.
        self._heartbeats: dict[tuple[str, int, int], Any] = {}
        self._counter = 0
        self._action_handlers: dict[type, Callable[[_Instance, Any], None]] = {
            act.ScheduleActivity: self._on_schedule_activity,
            act.CreateTimer: self._on_create_timer,
            act.StartSubOrchestration: self._on_start_child,
            act.RecordMarker: lambda inst, a: None,
            act.UpsertSearchAttributes: self._on_search_attributes,
            act.SetCustomStatus: self._on_custom_status,
            act.CompleteOrchestration: self._on_complete,
            act.FailOrchestration: self._on_fail,
            act.ContinueAsNew: self._on_continue_as_new,
            act.TerminateOrchestration: self._on_terminate,
            act.RegisterCompensation: self._on_register_compensation,
            act.UpdateCompensation: self._on_update_compensation,
            act.RequestApproval: self._on_request_approval,
            act.UpdateApproval: self._on_update_approval,
            **self._init_entities(),
        }
        self._compensations: dict[str, dict[int, dict[str, Any]]] = {}
        self._approvals: dict[str, dict[int, dict[str, Any]]] = {}

    # -- the surface -------------------------------------------------------------
    def start(
        self,
        name: str | Callable[..., Any],
        input: Any = None,
        instance_id: str | None = None,
        version: int | None = None,
    ) -> str:
        """Start an orchestration (latest version unless named); returns its id.

        ``input`` may be typed (a dataclass, ...): stored in its JSON form, checked here
        against the orchestrator's input hint (PayloadError naming the bad field).
        """
        definition = self.registry.get_orchestrator(name, version)
        hint = self.registry.payload_types("orchestrator", definition.name, definition.version)
        what = f"input of orchestrator {definition.name!r}"
        input = self.registry.converter.encode(input, what, hint.input)
        if instance_id is None:
            self._counter += 1
            instance_id = f"test-{self._counter}"
        if instance_id in self._instances:
            raise DurableError(f"Instance {instance_id!r} already exists in this runner.")
        self._create(instance_id, definition.name, definition.version, input, None)
        return instance_id

    def run_until_idle(self, auto_advance: bool = False, max_steps: int = 1_000_000) -> None:
        """Run episodes, activities and due timers until nothing can progress.

        With ``auto_advance`` the clock also jumps to each next timer (retries, waits).
        """
        for _ in range(max_steps):
            if self._step():
                continue
            if auto_advance and self._timers:
                self.clock = max(self.clock, min(t[0] for t in self._timers))
                continue
            return
        raise DurableError(f"run_until_idle did not settle within {max_steps} steps.")

    def advance(self, delta: timedelta) -> None:
        """Move the fake clock forward, fire due timers and run until idle."""
        self.clock += delta
        self.run_until_idle()

    def raise_event(self, instance_id: str, name: str, data: Any = None) -> None:
        inst = self._get(instance_id)
        if inst.status in TERMINAL_STATUSES:
            raise DurableError(f"Instance {instance_id!r} is already {inst.status}.")
        inst.inbox.append(ev.EventRaised(name, self.registry.converter.to_json(data, "event data")))

    def terminate(self, instance_id: str, reason: str = "") -> None:
        inst = self._get(instance_id)
        if inst.status in TERMINAL_STATUSES:
            raise DurableError(f"Instance {instance_id!r} is already {inst.status}.")
        inst.inbox.append(ev.ExecutionTerminated(reason))

    def status(self, instance_id: str) -> TestStatus:
        inst = self._get(instance_id)
        return TestStatus(
            inst.instance_id,
            inst.name,
            inst.version,
            inst.status,
            inst.output,
            inst.failure,
            inst.custom_status,
            list(inst.history),
            inst.execution,
            dict(inst.search_attributes),
        )

    def activity_calls(self, name: str | Callable[..., Any]) -> list[Any]:
        """The input of every call of activity ``name`` so far, in order."""
        return list(self._calls.get(name_of(name), []))

    def instance_ids(self) -> list[str]:
        return list(self._instances)

    def compensations(self, instance_id: str) -> list[dict[str, Any]]:
        """The compensation records of an instance, in registration order."""
        records = self._compensations.get(instance_id, {})
        return [dict(records[k]) for k in sorted(records)]

    def resolve_compensation(
        self, instance_id: str, task_id: int, action: str, by: str = "tester", note: str = ""
    ) -> None:
        """An operator's decision on a failed compensation: "retry", "resolve" or "skip"."""
        if action not in ("retry", "resolve", "skip"):
            raise DurableError(f"Unknown compensation decision {action!r}.")
        record = self._compensations.get(instance_id, {}).get(task_id)
        if record is None or record["status"] != "failed":
            raise DurableError(f"Compensation {task_id} of {instance_id!r} is not failed.")
        if action != "retry":
            record["status"] = "resolved_manually" if action == "resolve" else "skipped"
            record["resolved_by"], record["note"] = by, note
        data = {"action": action, "by": by, "note": note}
        self._get(instance_id).inbox.append(ev.EventRaised(compensation_event_name(task_id), data))

    def approvals(self, instance_id: str) -> list[dict[str, Any]]:
        """The approval requests of an instance, in request order."""
        records = self._approvals.get(instance_id, {})
        return [dict(records[k]) for k in sorted(records)]

    def decide(
        self, instance_id: str, task_id: int, approve: bool, by: str = "tester", comment: str = ""
    ) -> dict[str, Any]:
        """Decide a pending approval (no group check here; the runtime enforces that)."""
        record = self._approvals.get(instance_id, {}).get(task_id)
        if record is None or record["status"] != "pending":
            raise DurableError(f"Approval {task_id} of {instance_id!r} is not pending.")
        decision = {
            "approved": bool(approve),
            "decision": "approved" if approve else "rejected",
            "by": by,
            "comment": comment,
            "at": self.clock.isoformat(),
        }
        record.update(status=decision["decision"], decided_by=by, comment=comment)
        self._get(instance_id).inbox.append(ev.EventRaised(approval_event_name(task_id), decision))
        return decision

    # -- the loop ------------------------------------------------------------------
    def _step(self) -> bool:
        for inst in list(self._instances.values()):
            if inst.inbox and inst.status not in TERMINAL_STATUSES:
                self._episode(inst)
                return True
        if self._step_entities():
            return True
        if self._activities:
            self._run_activity(*self._activities.popleft())
            return True
        due = sorted(t for t in self._timers if t[0] <= self.clock)
        if due:
            timer = due[0]
            self._timers.remove(timer)
            fire_at, iid, execution, task_id = timer
            inst = self._instances[iid]
            if inst.execution == execution and inst.status not in TERMINAL_STATUSES:
                inst.inbox.append(ev.TimerFired(task_id, fire_at))
            return True
        return False

    def _episode(self, inst: _Instance) -> None:
        new_events, inst.inbox = inst.inbox, []
        result = execute(
            self.registry,
            InstanceRef(inst.instance_id, str(inst.execution)),
            inst.history,
            new_events,
            now=self.clock,
        )
        inst.history.extend(result.new_history)
        inst.status = result.status.value
        inst.custom_status = result.custom_status
        for action in result.actions:
            self._action_handlers[type(action)](inst, action)

    def _run_activity(self, iid: str, execution: int, action: act.ScheduleActivity) -> None:
        inst = self._instances[iid]
        if inst.execution != execution or inst.status in TERMINAL_STATUSES:
            return
        key = action.idempotency_key or idempotency_key(
            iid, str(execution), action.call_id or action.task_id
        )
        call = (iid, execution, action.call_id or action.task_id)

        def keep(beat: Beat) -> bool:
            if beat.has_details:
                self._heartbeats[call] = beat.details
            return True

        ctx = ActivityContext(
            iid,
            action.name,
            action.attempt,
            key,
            action.task_id,
            str(execution),
            last_heartbeat=self._heartbeats.get(call),
            heartbeats=Heartbeats(keep),
        )
        self._calls.setdefault(action.name, []).append(action.input)
        fake = self.fakes.get(action.name)
        if fake is not None:
            registry = Registry(self.registry.converter)
            registry.add_activity(fake, action.name)
            outcome = run_activity(registry, ctx, round_trip(action.input))
        else:
            outcome = run_activity(self.registry, ctx, round_trip(action.input))
        if outcome.ok:
            inst.inbox.append(ev.ActivityCompleted(action.task_id, outcome.result))
        else:
            assert outcome.failure is not None
            inst.inbox.append(ev.ActivityFailedEvent(action.task_id, outcome.failure))

    # -- action handlers ---------------------------------------------------------------
    def _on_register_compensation(self, inst: _Instance, action: act.RegisterCompensation) -> None:
        self._compensations.setdefault(inst.instance_id, {})[action.task_id] = {
            "task_id": action.task_id,
            "activity": action.name,
            "input": action.input,
            "step": action.step,
            "order": action.order,
            "status": "registered",
            "attempts": 0,
            "failure": None,
        }

    def _on_update_compensation(self, inst: _Instance, action: act.UpdateCompensation) -> None:
        record = self._compensations[inst.instance_id][action.task_id]
        if record["status"] in ("resolved_manually", "skipped") and action.status == "compensating":
            return
        record.update(status=action.status, attempts=action.attempts)
        if action.failure is not None:
            record["failure"] = action.failure

    def _on_request_approval(self, inst: _Instance, action: act.RequestApproval) -> None:
        self._approvals.setdefault(inst.instance_id, {})[action.task_id] = {
            "task_id": action.task_id,
            "name": action.name,
            "assignees": action.assignees,
            "details": action.details,
            "deadline": action.deadline,
            "title": action.title,
            "summary": action.summary,
            "reason_required": action.reason_required,
            "status": "pending",
        }

    def _on_update_approval(self, inst: _Instance, action: act.UpdateApproval) -> None:
        self._approvals[inst.instance_id][action.task_id]["status"] = action.status

    def _create(
        self, iid: str, name: str, version: int, input: Any, parent: tuple[str, int] | None
    ) -> None:
        inst = _Instance(iid, name, version, parent=parent)
        value = round_trip(input, "orchestrator input")
        inst.inbox.append(
            ev.ExecutionStarted(name, version, value, *(parent if parent else (None, None)))
        )
        self._instances[iid] = inst

    def _on_schedule_activity(self, inst: _Instance, action: act.ScheduleActivity) -> None:
        self._activities.append((inst.instance_id, inst.execution, action))

    def _on_create_timer(self, inst: _Instance, action: act.CreateTimer) -> None:
        self._timers.append((action.fire_at, inst.instance_id, inst.execution, action.task_id))

    def _on_start_child(self, inst: _Instance, action: act.StartSubOrchestration) -> None:
        parent = (inst.instance_id, action.task_id)
        try:
            definition = self.registry.get_orchestrator(action.name, action.version)
            if action.instance_id in self._instances:
                # As the runtime does: an instance id is never reused.
                raise DurableError(
                    f"Cannot start sub-orchestration {action.name!r}: instance id "
                    f"{action.instance_id!r} is already taken. Choose another instance_id."
                )
        except DurableError as exc:
            failure = FailureDetails.from_exception(exc)
            inst.inbox.append(ev.SubOrchestrationFailedEvent(action.task_id, failure))
            return
        self._create(action.instance_id, definition.name, definition.version, action.input, parent)

    def _on_search_attributes(self, inst: _Instance, action: act.UpsertSearchAttributes) -> None:
        inst.search_attributes = merge(inst.search_attributes, action.attributes)

    def _on_custom_status(self, inst: _Instance, action: act.SetCustomStatus) -> None:
        inst.custom_status = action.value

    def _on_complete(self, inst: _Instance, action: act.CompleteOrchestration) -> None:
        inst.output = action.output
        if inst.parent:
            parent_id, task_id = inst.parent
            self._instances[parent_id].inbox.append(
                ev.SubOrchestrationCompleted(task_id, action.output)
            )

    def _on_fail(self, inst: _Instance, action: act.FailOrchestration) -> None:
        inst.failure = action.failure
        if inst.parent:
            parent_id, task_id = inst.parent
            self._instances[parent_id].inbox.append(
                ev.SubOrchestrationFailedEvent(task_id, action.failure)
            )

    def _on_continue_as_new(self, inst: _Instance, action: act.ContinueAsNew) -> None:
        inst.execution += 1
        inst.history = []
        inst.status = OrchestrationStatus.RUNNING.value
        inst.inbox = [
            ev.ExecutionStarted(
                inst.name,
                inst.version,
                action.input,
                *(inst.parent or (None, None)),
                search_attributes=dict(inst.search_attributes) or None,
            ),
            *action.carryover_events,
            *inst.inbox,
        ]

    def _on_terminate(self, inst: _Instance, action: act.TerminateOrchestration) -> None:
        failure = FailureDetails("Terminated", action.reason or "terminated")
        inst.failure = failure
        for child in self._instances.values():
            mine = child.parent and child.parent[0] == inst.instance_id
            if mine and child.status not in TERMINAL_STATUSES:
                child.inbox.append(ev.ExecutionTerminated(f"parent terminated: {action.reason}"))
        if inst.parent:
            parent_id, task_id = inst.parent
            self._instances[parent_id].inbox.append(
                ev.SubOrchestrationFailedEvent(task_id, failure)
            )

    def _get(self, instance_id: str) -> _Instance:
        try:
            return self._instances[instance_id]
        except KeyError:
            raise DurableError(f"No instance {instance_id!r} in this runner.") from None
