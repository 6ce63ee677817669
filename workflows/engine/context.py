"""OrchestrationContext: the API orchestrator code sees.

The context only describes work; the run-time state it delegates to
(:class:`~workflows.engine.state.ExecutionState`) is what the executor drives.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Generator, Iterable
from datetime import datetime, timedelta
from typing import Any

from . import actions as act
from .approvals import request_approval
from .converter import DEFAULT_CONVERTER, DataConverter
from .entity_calls import EntityCheck
from .entity_calls import call_entity as _call_entity
from .entity_calls import lock as _lock
from .entity_calls import signal_entity as _signal_entity
from .errors import ActivityFailed, EventTimeout, FanOutFailed, WorkflowCodeError
from .failures import FailureDetails
from .registry import PLAIN_JSON, PayloadTypes, name_of
from .retry import RetryPolicy, next_retry_delay
from .saga import Saga
from .search_attributes import check_search_attributes
from .state import ExecutionState
from .tasks import CompletableTask, Outcome, Task, TimerTask, WhenAll, WhenAny
from .timeouts import NO_TIMEOUTS, ActivityTimeouts

_UUID_NAMESPACE = uuid.UUID("9e7c1f2a-5b1d-4b8e-9d8a-2f1c0e6b7a31")


class ReplaySafeLogger(logging.LoggerAdapter):
    """Logs only when the orchestrator is not replaying, tagged with the instance id."""

    def __init__(self, logger: logging.Logger, ctx: OrchestrationContext) -> None:
        super().__init__(logger, {})
        self._ctx = ctx

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 (logging API name)
        return not self._ctx.is_replaying and self.logger.isEnabledFor(level)

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = dict(kwargs.get("extra") or {})
        extra.setdefault("instance_id", self._ctx.instance_id)
        extra.setdefault("execution_id", self._ctx.execution_id)
        kwargs["extra"] = extra
        return f"[{self._ctx.instance_id}] {msg}", kwargs


class _RetryingTask(Task):
    """An activity or sub-orchestration call that retries per its policy."""

    def __init__(
        self,
        state: ExecutionState,
        policy: RetryPolicy,
        start_attempt: Callable[[int], Task],
    ) -> None:
        super().__init__()
        self._state = state
        self._policy = policy
        self._start_attempt = start_attempt
        self._first_at = state.current_utc_datetime
        self.attempt = 1
        start_attempt(1).add_listener(self._on_attempt_done)

    def _on_attempt_done(self, task: Task) -> None:
        if not task.is_failed:
            self.complete(task._result)
            return
        error = task.error
        assert error is not None
        failure = error.failure or FailureDetails("Error", str(error))
        now = self._state.current_utc_datetime
        elapsed = now - self._first_at
        delay = next_retry_delay(self._policy, self.attempt, failure, elapsed)
        if delay is None:
            if isinstance(error, ActivityFailed):  # or ActivityTimedOut: keep the type
                error = type(error)(error.name, failure, self.attempt)
            self.fail(error)
            return
        timer = self._state.create_timer(now + delay, purpose="retry")
        timer.add_listener(self._on_backoff_done)

    def _on_backoff_done(self, _timer: Task) -> None:
        self.attempt += 1
        self._start_attempt(self.attempt).add_listener(self._on_attempt_done)


class OrchestrationContext:
    """What an orchestrator function receives as ``ctx``.

    Every method that returns a task only *describes* work: ``yield`` the task to
    wait for it. Results come back rebuilt from what history stores (typed by the
    activity's return annotation, else as JSON), on the first run and on replay alike.

    Example::

        @orchestrator(name="greetings")
        def greetings(ctx, names):
            ctx.set_custom_status({"completed": 0, "total": len(names)})
            results = yield ctx.task_all([ctx.call_activity("greet", n) for n in names])
            return results
    """

    def __init__(
        self,
        instance_id: str,
        execution_id: str,
        name: str,
        version: int,
        logger_name: str = "workflows.orchestrator",
        *,
        state: ExecutionState | None = None,
        activity_timeouts: Callable[[str], ActivityTimeouts] | None = None,
        entity_check: EntityCheck | None = None,
        converter: DataConverter = DEFAULT_CONVERTER,
        payload_types: Callable[..., PayloadTypes] | None = None,
    ) -> None:
        self.instance_id = instance_id
        self.execution_id = execution_id
        self.name = name
        self.version = version
        self.logger = ReplaySafeLogger(logging.getLogger(logger_name), self)
        # Owned by the executor, which shares it: orchestrator code only reads it here.
        self._state = state if state is not None else ExecutionState()
        # The timeouts @activity(...) declared, by activity name (Registry.activity_timeouts).
        self._activity_timeouts = activity_timeouts or (lambda _name: NO_TIMEOUTS)
        self._entity_check = entity_check  # Registry.check_entity_call: unknown name/operation
        # Typed payloads (engine/converter.py): Registry.converter, Registry.payload_types.
        self._converter = converter
        self._payload_types = payload_types or (lambda *_args: PLAIN_JSON)

    # -- identity, time, ids -------------------------------------------------
    @property
    def is_replaying(self) -> bool:
        """True while the code re-runs recorded history (skip side effects such as logs)."""
        return self._state.is_replaying

    @property
    def current_utc_datetime(self) -> datetime:
        """The current episode's start time: deterministic, the same on every replay."""
        return self._state.current_utc_datetime

    @property
    def custom_status(self) -> Any:
        """The last value given to :meth:`set_custom_status` (as stored)."""
        return self._state.custom_status

    def new_uuid(self) -> str:
        """A UUID that is the same on every replay of this orchestration."""
        number = self._state.next_uuid_number()
        key = f"{self.instance_id}:{self.execution_id}:{number}"
        return str(uuid.uuid5(_UUID_NAMESPACE, key))

    # -- durable tasks ---------------------------------------------------------
    def call_activity(
        self,
        activity: str | Callable[..., Any],
        input: Any = None,
        *,
        retry: RetryPolicy | None = None,
        start_to_close: float | timedelta | None = None,
        heartbeat_timeout: float | timedelta | None = None,
        _idempotency_key: str | None = None,
    ) -> Task:
        """Schedule an activity; ``yield`` the task for its result.

        Raises :class:`ActivityFailed` (at the ``yield``) once the retry policy gives up;
        :class:`ActivityTimedOut` (a subclass) when the last attempt timed out.

        ``start_to_close`` (one run's time) and ``heartbeat_timeout`` (longest time
        without ``ctx.heartbeat()``), in seconds or as timedeltas, win over the
        activity's ``@activity(...)`` options; every attempt gets them.

        Example::

            result = yield ctx.call_activity(
                "call_partner", order, start_to_close=30, retry=RetryPolicy(max_attempts=3)
            )
        """
        name = name_of(activity)
        value = self._activity_input(name, input, f"input of activity {name!r}")
        decode = self._decoder(
            self._payload_types("activity", name).output, f"result of activity {name!r}"
        )
        try:
            given = ActivityTimeouts.of(start_to_close, heartbeat_timeout)
        except ValueError as exc:
            raise WorkflowCodeError(f"call_activity({name!r}): {exc}") from None
        timeouts = given.over(self._activity_timeouts(name))

        first_id: list[int] = []

        def start(attempt: int) -> Task:
            task_id = self._state.next_task_id()
            first_id.append(task_id)
            task = CompletableTask(task_id, "activity", name)
            # Every attempt of one call shares the first attempt's id: the activity's
            # idempotency key stays the same across retries.
            action = act.ScheduleActivity(
                task_id,
                name,
                value,
                attempt,
                first_id[0],
                _idempotency_key,
                timeouts.start_to_close,
                timeouts.heartbeat_timeout,
            )
            self._state.schedule(action, task, decode)
            return task

        return self._with_retry(retry, start)

    def call_sub_orchestrator(
        self,
        orchestrator: str | Callable[..., Any],
        input: Any = None,
        *,
        instance_id: str | None = None,
        version: int | None = None,
        retry: RetryPolicy | None = None,
    ) -> Task:
        """Start a child orchestration and wait for its output.

        A failed child raises :class:`SubOrchestrationFailed` at the ``yield``. Without
        ``instance_id`` the child is named ``<instance>:<execution>:<task id>``, unique
        across continue-as-new (task ids start again in every execution).
        """
        name = name_of(orchestrator)
        types = self._payload_types("orchestrator", name, version)
        value = self._converter.encode(input, f"input of sub-orchestration {name!r}", types.input)
        decode = self._decoder(types.output, f"output of sub-orchestration {name!r}")

        def start(attempt: int) -> Task:
            task_id = self._state.next_task_id()
            child_id = instance_id or f"{self.instance_id}:{self.execution_id}:{task_id}"
            if instance_id and attempt > 1:
                child_id = f"{instance_id}:attempt{attempt}"
            task = CompletableTask(task_id, "sub_orchestration", name, child_id)
            action = act.StartSubOrchestration(task_id, name, child_id, version, value)
            self._state.schedule(action, task, decode)
            return task

        return self._with_retry(retry, start)

    def create_timer(self, fire_at: datetime | timedelta) -> TimerTask:
        """A durable timer firing at ``fire_at`` (a datetime, or a delay from now)."""
        if isinstance(fire_at, timedelta):
            fire_at = self.current_utc_datetime + fire_at
        if not isinstance(fire_at, datetime):
            raise WorkflowCodeError(
                f"create_timer needs a datetime or timedelta, got {type(fire_at).__name__}."
            )
        if fire_at.tzinfo is None and self.current_utc_datetime.tzinfo is not None:
            raise WorkflowCodeError(
                "create_timer got a naive datetime; use ctx.current_utc_datetime + timedelta."
            )
        return self._state.create_timer(fire_at)

    def wait_for_external_event(
        self, name: str, timeout: timedelta | datetime | None = None, *, as_type: Any = Any
    ) -> Task:
        """Wait for an event raised to this instance under ``name``.

        Events that arrived before the wait are buffered and consumed in order. With a
        ``timeout``, the ``yield`` raises :class:`EventTimeout` at the deadline. The data
        is plain JSON unless ``as_type`` names a type (a dataclass, ...) to rebuild it
        by; data that does not fit raises :class:`TaskFailed` (naming the field) there.

        Example::

            decision = yield ctx.wait_for_external_event("review", as_type=Review)
        """
        if not isinstance(name, str) or not name:
            raise WorkflowCodeError("wait_for_external_event needs a non-empty event name.")
        task = self._state.wait_for_event(name, self._decoder(as_type, f"data of event {name!r}"))
        if task.is_complete or timeout is None:
            return task
        timer = self.create_timer(timeout)
        guarded = Task()

        def on_event(t: Task) -> None:
            guarded.complete(t._result)

        def on_timeout(t: Task) -> None:
            if guarded.is_complete:
                return
            self._state.stop_waiting(task)
            guarded.fail(EventTimeout(name, t._result))

        task.add_listener(on_event)
        timer.add_listener(on_timeout)
        return guarded

    def task_all(self, tasks: Iterable[Task]) -> WhenAll:
        """Wait for all tasks; fails with :class:`FanOutFailed` (every outcome kept)."""
        return WhenAll(self._check_tasks(tasks, "task_all"))

    def task_any(self, tasks: Iterable[Task]) -> WhenAny:
        """Wait for the first task to finish; the ``yield`` returns that task."""
        return WhenAny(self._check_tasks(tasks, "task_any"))

    def bounded_fan_out(
        self,
        activity: str | Callable[..., Any],
        inputs: Iterable[Any],
        max_parallel: int,
        *,
        retry: RetryPolicy | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Generator[Task, Any, list[Any]]:
        """Run ``activity`` once per input with at most ``max_parallel`` in flight.

        Use with ``yield from``; returns the results in input order, or raises
        :class:`FanOutFailed` with every item's outcome after all have finished.

        Example::

            results = yield from ctx.bounded_fan_out("resize", images, max_parallel=10)
        """
        if not isinstance(max_parallel, int) or max_parallel < 1:
            raise WorkflowCodeError(
                f"max_parallel must be a positive integer, got {max_parallel!r}."
            )
        items = list(inputs)
        tasks: list[Task] = []
        in_flight: list[Task] = []
        done = 0
        for item in items:
            if len(in_flight) >= max_parallel:
                winner = yield WhenAny(in_flight)
                in_flight.remove(winner)
                done += 1
                if on_progress:
                    on_progress(done, len(items))
            task = self.call_activity(activity, item, retry=retry)
            tasks.append(task)
            in_flight.append(task)
        while in_flight:
            winner = yield WhenAny(in_flight)
            in_flight.remove(winner)
            done += 1
            if on_progress:
                on_progress(done, len(items))
        outcomes = [Outcome(i, not t.is_failed, t._result, t.error) for i, t in enumerate(tasks)]
        if any(not o.ok for o in outcomes):
            raise FanOutFailed(outcomes)
        return [o.result for o in outcomes]

    def saga(self) -> Saga:
        """A compensation scope: register undo steps, run them in reverse on failure.

        Example::

            saga = ctx.saga()
            yield ctx.call_activity("reserve_inventory", order)
            saga.add("release_inventory", order)
            try:
                yield ctx.call_activity("capture_payment", order)
            except ActivityFailed:
                yield from saga.compensate()
                raise
        """
        return Saga(self, self._state, self._activity_input)

    def request_approval(
        self,
        name: str,
        *,
        assignees: str,
        details: Any = None,
        timeout: timedelta | datetime | None = None,
        title: str = "",
        summary: dict[str, Any] | None = None,
        reason_required: bool = False,
    ) -> Task:
        """Ask a group of people for a decision; ``yield`` it for the outcome.

        Completes with ``{"approved": bool, "decision", "by", "comment", "at"}``; raises
        :class:`ApprovalTimeout` at the deadline (a durable timer) if nobody decided.
        ``title`` and ``summary`` (``{label: value}``) are what the approvers' card shows
        (the whole ``details`` stay one click away); ``reason_required`` makes a
        rejection need a comment.

        Example::

            decision = yield ctx.request_approval(
                "expense", assignees="managers", details=claim, timeout=timedelta(days=2),
                title=f"Expense of {claim['employee']}",
                summary={"Amount": claim["amount"], "Purpose": claim["purpose"]},
                reason_required=True,
            )
        """
        details = self._converter.to_json(details, "approval details")  # read back as JSON
        summary = self._converter.to_json(summary, "approval summary")
        return request_approval(
            self._state, name, assignees, details, timeout, title, summary, reason_required
        )

    # -- entities (engine/entity_calls.py) -----------------------------------------
    def call_entity(self, entity: Any, operation: str, input: Any = None) -> Task:
        """Run ``operation`` on an entity and wait for its result (recorded, replayed).

        ``entity`` is an ``EntityId``, a ``(name, key)`` pair or ``"@name@key"``. The
        operation's exception is raised at the ``yield`` as :class:`EntityOperationFailed`.
        Inside a critical section only the locked entities may be called.

        Example::

            balance = yield ctx.call_entity(("bank_account", "alice"), "deposit", 10)
        """
        state, check = self._state, self._entity_check
        return _call_entity(state, check, entity, operation, input, self._converter)

    def signal_entity(self, entity: Any, operation: str, input: Any = None) -> None:
        """Send a one-way operation to an entity: recorded, sent once (never on replay).

        Example::

            ctx.signal_entity(("running_total", "files"), "add", len(files))
        """
        state, check = self._state, self._entity_check
        _signal_entity(state, check, entity, operation, input, self._converter)

    def lock(self, entities: Iterable[Any]) -> Task:
        """Enter a critical section: ``yield`` it for an :class:`EntityLock`.

        The entities are locked one after the other in sorted order (two orchestrations
        locking the same set cannot deadlock); while held, they take operations only
        from this orchestration. ``lock.release()`` (or leaving ``with lock:``) ends it;
        so does the end of the orchestration.

        Example::

            lock = yield ctx.lock([("bank_account", "a"), ("bank_account", "b")])
            with lock:
                yield ctx.call_entity(("bank_account", "a"), "withdraw", 5)
                yield ctx.call_entity(("bank_account", "b"), "deposit", 5)
        """
        return _lock(self._state, self._entity_check, entities)

    # -- instance-level decisions --------------------------------------------
    def set_custom_status(self, value: Any) -> None:
        """Publish a value (e.g. progress) readable by clients while this runs.

        Typed values (a datetime, a dataclass) are stored in their JSON form, which is
        what :attr:`custom_status` and clients read back.
        """
        self._state.set_custom_status(self._converter.to_json(value, "custom status"))

    @property
    def search_attributes(self) -> dict[str, Any]:
        """The search attributes this execution set so far (a copy)."""
        return self._state.search_attributes

    def upsert_search_attributes(self, attributes: dict[str, Any]) -> None:
        """Set custom search attributes: the console, API (``?attr.customer=acme``) and
        CLI (``--attr customer=acme``) find instances by them.

        Names are identifiers; values are text (up to 200 characters), numbers or
        True/False; None removes an attribute; at most 20 per instance. Recorded in
        history as a step (replay safe); a bad name or value raises
        :class:`WorkflowCodeError` here.

        Example::

            ctx.upsert_search_attributes({"customer": order["customer"], "region": "eu"})
        """
        checked = check_search_attributes(attributes, self._state.search_attributes)
        self._state.upsert_search_attributes(checked)

    def set_progress(
        self,
        percent: float | None = None,
        *,
        done: int | None = None,
        total: int | None = None,
        message: str = "",
        **extra: Any,
    ) -> None:
        """Publish progress as the custom status; every page shows it as a bar.

        Either a percent or ``done`` of ``total``; ``message`` says what it is doing.

        Example::

            ctx.set_progress(40, message="copying files")     # {"progress": 40, ...}
            ctx.set_progress(done=3, total=10, message="row 3")
        """
        if (percent is None) == (total is None):
            raise WorkflowCodeError("set_progress takes a percent, or done= and total=.")
        if percent is not None:
            status: dict[str, Any] = {"progress": percent}
        else:
            status = {"completed": done or 0, "total": total}
        if message:
            status["message"] = message
        self.set_custom_status({**extra, **status})

    def continue_as_new(self, input: Any = None, *, keep_unprocessed_events: bool = True) -> None:
        """Restart this instance with a fresh history and ``input``; then ``return``.

        External events not yet consumed are carried over unless told otherwise.
        """
        types = self._payload_types("orchestrator", self.name, self.version)
        value = self._converter.encode(input, "continue-as-new input", types.input)
        self._state.request_continue_as_new(value, keep_unprocessed_events)

    def is_patched(self, change_id: str) -> bool:
        """True for code paths added by ``change_id`` unless history predates the change.

        New executions take the new path and record a marker; replays of history
        recorded before the change (no marker at this point) take the old path.

        Example::

            if ctx.is_patched("send-receipt"):
                yield ctx.call_activity("send_receipt", order)
        """
        state = self._state
        if state.is_replaying:
            recorded = state.recorded_at(state.upcoming_task_id)
            if getattr(recorded, "name", None) != change_id or recorded.kind != "marker_recorded":
                return False
        state.schedule(act.RecordMarker(state.next_task_id(), change_id))
        return True

    # -- helpers ---------------------------------------------------------------
    def _activity_input(self, name: str, input: Any, what: str) -> Any:
        """``input``'s JSON form, checked against activity ``name``'s parameter hint."""
        return self._converter.encode(input, what, self._payload_types("activity", name).input)

    def _decoder(self, hint: Any, what: str) -> Callable[[Any], Any] | None:
        """How a task's stored result becomes the typed value its ``yield`` returns."""
        if hint is Any:
            return None
        converter = self._converter
        return lambda data: converter.from_json(data, hint, what)

    def _with_retry(self, retry: RetryPolicy | None, start: Callable[[int], Task]) -> Task:
        if retry is None:
            return start(1)
        if not isinstance(retry, RetryPolicy):
            raise WorkflowCodeError(f"retry must be a RetryPolicy, got {type(retry).__name__}.")
        return _RetryingTask(self._state, retry, start)

    def _check_tasks(self, tasks: Iterable[Task], what: str) -> list[Task]:
        tasks = list(tasks)
        for t in tasks:
            if not isinstance(t, Task):
                raise WorkflowCodeError(
                    f"{what} takes durable tasks (from ctx.call_activity etc.), got {t!r}."
                )
        return tasks
