"""Durable entities in the pure engine: batches, calls, signals, locks and replay.

No database: batches are ``run_batch`` calls, orchestrations run in WorkflowTestRunner
(which replays the full history at every episode, so a replay bug shows here too).
"""

from __future__ import annotations

import pytest

from workflows.engine import (
    EntityId,
    EntityOperationFailed,
    NonDeterminismError,
    RegistrationError,
    UnknownEntityError,
    WorkflowCodeError,
)
from workflows.engine import actions as act
from workflows.engine import events as ev
from workflows.engine.entities import CALL, Operation, run_batch
from workflows.engine.executor import InstanceRef, execute

from .builders import T0


class Overdraft(Exception):
    pass


@pytest.fixture
def entities(registry):
    @registry.entity(name="counter")
    def counter(ctx, operation, value):
        if operation == "add":
            ctx.state = (ctx.state or 0) + value
            return ctx.state
        if operation == "get":
            return ctx.state
        if operation == "reset":
            ctx.delete_state()
            return None
        if operation == "fail_after_write":
            ctx.state = -999
            ctx.signal_entity(("counter", "other"), "add", 1)
            raise ValueError("broken on purpose")
        if operation == "forward":
            ctx.signal_entity(("counter", value), "add", ctx.state or 0)
            return None
        if operation == "start":
            ctx.start_orchestration("noop", {"from": ctx.entity_id.key}, instance_id="n-1")
            return None
        raise ValueError(f"unknown operation {operation}")

    @registry.entity(name="bank_account")
    class BankAccount:
        balance = 0

        def deposit(self, amount):
            self.balance += amount
            return self.balance

        def withdraw(self, amount):
            if amount > self.balance:
                raise Overdraft(f"balance {self.balance} is less than {amount}")
            self.balance -= amount
            return self.balance

        def get(self):
            return self.balance

    @registry.orchestrator(name="noop")
    def noop(ctx, value):
        return value
        yield  # pragma: no cover

    return registry


A = EntityId("counter", "a")


def test_entity_ids_parse_and_order():
    assert EntityId.of("@counter@a:b@c") == EntityId("counter", "a:b@c")
    assert EntityId.of(("counter", "a")) == A
    assert str(A) == "@counter@a"
    assert sorted([EntityId("b", "1"), EntityId("a", "2"), EntityId("a", "1")])[0] == EntityId(
        "a", "1"
    )
    with pytest.raises(WorkflowCodeError, match="entity key"):
        EntityId("counter", "")
    with pytest.raises(WorkflowCodeError, match="without '@'"):
        EntityId("co@unter", "x")


def test_registration_checks_the_shape(registry):
    with pytest.raises(RegistrationError, match=r"\(ctx, operation, input\)"):
        registry.entity(name="bad")(lambda ctx, op: None)

    class Empty:
        pass

    with pytest.raises(RegistrationError, match="no public method"):
        registry.entity(name="empty")(Empty)


def test_a_batch_applies_operations_in_order_once(entities):
    ops = [Operation("add", n) for n in (1, 2, 3)] + [Operation("get", kind=CALL, task_id=9)]
    result = run_batch(entities.get_entity("counter"), A, False, None, None, ops)
    assert result.state == 6 and result.exists
    assert [o.result for o in result.applied] == [1, 3, 6, 6]
    [(_, event)] = result.responses
    assert event == ev.EntityCallCompleted(9, 6)


def test_an_operation_that_raises_changes_nothing_and_sends_nothing(entities):
    ops = [
        Operation("add", 5),
        Operation("fail_after_write", kind=CALL, sender="i-1", task_id=3),
        Operation("add", 1),
    ]
    result = run_batch(entities.get_entity("counter"), A, False, None, None, ops)
    assert result.state == 6  # 5, the failed one rolled back, then 1
    assert result.signals == []
    [(outcome, event)] = result.responses
    assert isinstance(event, ev.EntityCallFailed) and "broken on purpose" in event.failure.message
    assert not outcome.ok


def test_state_over_the_limit_is_refused(entities):
    ops = [Operation("add", "b"), Operation("add", "c" * 30)]
    result = run_batch(entities.get_entity("counter"), A, True, "a", None, ops, 20)
    assert result.state == "ab"
    assert result.applied[-1].failure.is_instance_of("workflows.engine.errors.PayloadTooLarge")


def test_delete_state_and_class_entities(entities):
    result = run_batch(entities.get_entity("counter"), A, True, 4, None, [Operation("reset")])
    assert (result.exists, result.state) == (False, None)
    account = entities.get_entity("bank_account")
    eid = EntityId("bank_account", "alice")
    result = run_batch(
        account, eid, False, None, None, [Operation("deposit", 10), Operation("withdraw", 30)]
    )
    assert result.state == {"balance": 10}
    assert result.applied[1].failure.type.endswith("Overdraft")


def test_unknown_entity_or_operation_fails_the_operation(entities):
    result = run_batch(None, EntityId("nope", "x"), False, None, None, [Operation("add", 1)])
    assert result.applied[0].failure.type.endswith("UnknownEntityError")
    account = entities.get_entity("bank_account")
    result = run_batch(account, A, False, None, None, [Operation("steal", 1)])
    assert "has no operation 'steal'" in result.applied[0].failure.message


def test_a_lock_holds_back_other_senders_and_keeps_their_order(entities):
    counter = entities.get_entity("counter")
    ops = [
        Operation("add", 1, sender="x"),
        Operation("lock", kind="lock", sender="h", task_id=1),
        Operation("add", 10, sender="x"),
        Operation("add", 100, sender="h"),
        Operation("add", 1000, sender="y"),
        Operation("unlock", kind="unlock", sender="h"),
        Operation("add", 2, sender="x"),
    ]
    result = run_batch(counter, A, False, None, None, ops)
    applied = [(o.operation.sender, o.operation.input) for o in result.applied]
    # x's later ops waited behind its deferred one; after the unlock they run in order.
    assert applied == [
        ("x", 1),
        ("h", None),
        ("h", 100),
        ("h", None),
        ("x", 10),
        ("y", 1000),
        ("x", 2),
    ]
    assert result.lock_holder is None and result.deferred == []
    held = run_batch(counter, A, False, None, "h", [Operation("add", 1, sender="x")])
    assert held.applied == [] and len(held.deferred) == 1


# -- orchestrations --------------------------------------------------------------------
def test_call_entity_result_and_error_are_recorded_and_replayed(entities, runner):
    @entities.orchestrator(name="use_account")
    def use_account(ctx, _):
        acct = ("bank_account", "alice")
        ctx.signal_entity(acct, "deposit", 10)
        balance = yield ctx.call_entity(acct, "deposit", 5)
        try:
            yield ctx.call_entity(acct, "withdraw", 100)
        except EntityOperationFailed as exc:
            return {"balance": balance, "refused": exc.failure.type.split(".")[-1]}

    iid = runner.start("use_account")
    runner.run_until_idle()
    status = runner.status(iid)
    assert status.output == {"balance": 15, "refused": "Overdraft"}
    kinds = [e.kind.value for e in status.history]
    assert kinds.count("entity_signaled") == 1 and kinds.count("entity_called") == 2
    assert "entity_call_failed" in kinds
    assert runner.entity_state(("bank_account", "alice")) == {"balance": 15}
    # Replaying the whole history sends nothing again and gives the same output.
    replayed = execute(entities, InstanceRef(iid), status.history, [])
    assert replayed.actions == () and replayed.output == status.output


def test_changed_entity_call_is_a_determinism_error(entities):
    history = [
        ev.OrchestratorStarted(T0),
        ev.ExecutionStarted("o", 1, None),
        ev.EntityCalled(1, "@counter@a", "add", 1),
    ]

    @entities.orchestrator(name="o")
    def o(ctx, _):
        yield ctx.call_entity(("counter", "b"), "add", 1)

    with pytest.raises(NonDeterminismError, match="entity call 'add' on @counter@a"):
        execute(entities, InstanceRef("i"), history, [])


def test_unknown_entity_or_operation_fails_at_the_call(entities, runner):
    @entities.orchestrator(name="bad_calls")
    def bad_calls(ctx, which):
        if which == "name":
            yield ctx.call_entity(("nope", "x"), "add", 1)
        yield ctx.call_entity(("bank_account", "x"), "steal", 1)

    a, b = runner.start("bad_calls", "name"), runner.start("bad_calls", "op")
    runner.run_until_idle()
    assert "No entity 'nope'" in runner.status(a).failure.message
    assert "has no operation 'steal'" in runner.status(b).failure.message
    with pytest.raises(UnknownEntityError):
        runner.signal_entity(("nope", "x"), "add")


def test_signals_from_many_instances_and_from_outside_all_count(entities, runner):
    @entities.orchestrator(name="adder")
    def adder(ctx, n):
        ctx.signal_entity(("counter", "total"), "add", n)
        return n
        yield  # pragma: no cover

    for n in range(1, 11):
        runner.start("adder", n)
    runner.signal_entity(("counter", "total"), "add", 100)
    runner.run_until_idle()
    assert runner.entity_state(("counter", "total")) == 155
    assert runner.get_entity(("counter", "total"))["batches"] < 11  # batched


def test_entity_signals_and_starts_go_out_after_success(entities, runner):
    runner.signal_entity(A, "add", 3)
    runner.signal_entity(A, "forward", "b")
    runner.signal_entity(A, "start")
    runner.run_until_idle()
    assert runner.entity_state(("counter", "b")) == 3
    assert runner.status("n-1").output == {"from": "a"}


def _transfer(registry):
    @registry.orchestrator(name="move")
    def move(ctx, args):
        a, b = ("bank_account", args["from"]), ("bank_account", args["to"])
        lock = yield ctx.lock([b, a])
        with lock:
            have = yield ctx.call_entity(a, "get")
            if have < args["amount"]:
                return "refused"
            yield ctx.call_entity(a, "withdraw", args["amount"])
            yield ctx.call_entity(b, "deposit", args["amount"])
        return "moved"


def test_two_orchestrations_locking_the_same_set_do_not_deadlock(entities, runner):
    _transfer(entities)
    runner.signal_entity(("bank_account", "a"), "deposit", 100)
    runner.signal_entity(("bank_account", "b"), "deposit", 100)
    ids = [
        runner.start("move", {"from": "a", "to": "b", "amount": 30}),
        runner.start("move", {"from": "b", "to": "a", "amount": 50}),
        runner.start("move", {"from": "a", "to": "b", "amount": 60}),
    ]
    runner.run_until_idle()
    outputs = [runner.status(i).output for i in ids]
    assert all(runner.status(i).status == "completed" for i in ids)
    a = runner.entity_state(("bank_account", "a"))["balance"]
    b = runner.entity_state(("bank_account", "b"))["balance"]
    assert a + b == 200 and a >= 0 and b >= 0
    assert outputs.count("moved") >= 2
    assert runner.get_entity(("bank_account", "a"))["lock_holder"] is None
    # Locks were asked in sorted order (a before b), whatever order the code gave.
    first = next(
        e for e in runner.status(ids[0]).history if e.kind.value == "entity_lock_requested"
    )
    assert first.entity == "@bank_account@a"


def test_a_locked_entity_waits_for_the_holder_then_takes_outside_signals(entities, runner):
    @entities.orchestrator(name="holder")
    def holder(ctx, _):
        lock = yield ctx.lock([A])
        yield ctx.call_entity(A, "add", 1)
        yield ctx.wait_for_external_event("go")
        yield ctx.call_entity(A, "add", 10)
        lock.release()
        return (yield ctx.call_entity(A, "get"))

    iid = runner.start("holder")
    runner.run_until_idle()
    runner.signal_entity(A, "add", 1000)
    runner.run_until_idle()
    assert runner.entity_state(A) == 1  # held back
    assert runner.get_entity(A)["lock_holder"] == iid
    runner.raise_event(iid, "go")
    runner.run_until_idle()
    assert runner.status(iid).output == 1011
    assert runner.entity_state(A) == 1011


def test_an_orchestration_that_fails_holding_a_lock_releases_it(entities, runner):
    @entities.orchestrator(name="crasher")
    def crasher(ctx, _):
        yield ctx.lock([A])
        raise RuntimeError("crash inside the critical section")

    iid = runner.start("crasher")
    runner.run_until_idle()
    assert runner.status(iid).status == "failed"
    runner.signal_entity(A, "add", 2)
    runner.run_until_idle()
    assert runner.entity_state(A) == 2 and runner.get_entity(A)["lock_holder"] is None


def test_a_terminated_holder_loses_its_lock(entities, runner):
    @entities.orchestrator(name="sleeper")
    def sleeper(ctx, _):
        yield ctx.lock([A])
        yield ctx.wait_for_external_event("never")

    iid = runner.start("sleeper")
    runner.run_until_idle()
    runner.terminate(iid, "stuck")
    runner.signal_entity(A, "add", 7)
    runner.run_until_idle()
    assert runner.entity_state(A) == 7


def test_calls_outside_the_locked_set_and_nested_locks_are_refused(entities, runner):
    @entities.orchestrator(name="outside")
    def outside(ctx, what):
        lock = yield ctx.lock([A])
        with lock:
            if what == "call":
                yield ctx.call_entity(("counter", "zzz"), "add", 1)
            yield ctx.lock([("counter", "zzz")])

    a, b = runner.start("outside", "call"), runner.start("outside", "nest")
    runner.run_until_idle()
    assert "only the locked entities (@counter@a)" in runner.status(a).failure.message
    assert "locks do not nest" in runner.status(b).failure.message
    assert runner.get_entity(A)["lock_holder"] is None


def test_lock_release_is_a_step_sent_once(entities):
    @entities.orchestrator(name="short")
    def short(ctx, _):
        lock = yield ctx.lock([A])
        lock.release()
        return "done"

    first = execute(entities, InstanceRef("s"), [], [ev.ExecutionStarted("short", 1)], now=T0)
    [lock] = [a for a in first.actions if isinstance(a, act.LockEntity)]
    history = [*first.new_history]
    second = execute(entities, InstanceRef("s"), history, [ev.EntityLockGranted(lock.task_id)], T0)
    assert act.ReleaseLocks(2, ("@counter@a",)) in second.actions
    replay = execute(entities, InstanceRef("s"), history + list(second.new_history), [], T0)
    assert not any(isinstance(a, act.ReleaseLocks) for a in replay.actions)
