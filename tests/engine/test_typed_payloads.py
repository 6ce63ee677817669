"""Typed payloads through the engine: orchestrators and activities get values typed by
their hints, equal on the first run and on replay; bad values fail where they are passed."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pydantic
import pytest

from workflows.engine import (
    ActivityContext,
    ActivityFailed,
    InstanceRef,
    PayloadError,
    Registry,
    RetryPolicy,
    TaskFailed,
    execute,
)
from workflows.engine import events as ev
from workflows.engine.activity import run_activity
from workflows.engine.converter import DataConverter
from workflows.engine.errors import PayloadMismatch
from workflows.engine.heartbeat import Heartbeats
from workflows.engine.retry import next_retry_delay
from workflows.engine.testing import WorkflowTestRunner

from .builders import T0

BERLIN = ZoneInfo("Europe/Berlin")


class Currency(Enum):
    EUR = "EUR"
    USD = "USD"


@dataclass(frozen=True)
class Line:
    sku: str
    price: Decimal
    qty: int = 1


@dataclass(frozen=True)
class Order:
    id: UUID
    currency: Currency
    lines: tuple[Line, ...]
    deliver_by: datetime


@dataclass(frozen=True)
class Receipt:
    order_id: UUID
    total: Decimal
    charged_at: datetime


class Shipment(pydantic.BaseModel):
    order_id: UUID
    carrier: str
    due: datetime


ORDER = Order(
    UUID(int=7),
    Currency.EUR,
    (Line("A-1", Decimal("9.90"), 2), Line("B-2", Decimal("0.35"))),
    datetime(2026, 3, 1, 18, tzinfo=BERLIN),
)


def charge(ctx: ActivityContext, order: Order) -> Receipt:
    total = sum((line.price * line.qty for line in order.lines), Decimal(0))
    return Receipt(order.id, total, order.deliver_by - timedelta(days=1))


def ship(ctx: ActivityContext, receipt: Receipt) -> Shipment:
    return Shipment(order_id=receipt.order_id, carrier="dhl", due=receipt.charged_at)


def describe(value: Any) -> str:
    """What the orchestrator saw, as text: equal texts mean equal values of equal types."""
    return f"{type(value).__name__}:{value!r}"


def typed_registry(seen: list[tuple[bool, str]]) -> Registry:
    registry = Registry()
    registry.add_activity(charge, "charge")
    registry.add_activity(ship, "ship")

    def fulfil(ctx: Any, order: Order) -> Generator[Any, Any, Shipment]:
        seen.append((ctx.is_replaying, describe(order)))
        receipt = yield ctx.call_activity("charge", order)
        seen.append((ctx.is_replaying, describe(receipt)))
        shipment = yield ctx.call_sub_orchestrator("ship_it", receipt)
        seen.append((ctx.is_replaying, describe(shipment)))
        return shipment

    def ship_it(ctx: Any, receipt: Receipt) -> Generator[Any, Any, Shipment]:
        return (yield ctx.call_activity("ship", receipt))

    registry.add_orchestrator(fulfil, "fulfil")
    registry.add_orchestrator(ship_it, "ship_it")
    return registry


def test_typed_values_reach_code_and_are_equal_on_the_first_run_and_on_replay():
    seen: list[tuple[bool, str]] = []
    registry = typed_registry(seen)
    runner = WorkflowTestRunner(registry=registry, start_time=T0)
    iid = runner.start("fulfil", ORDER)
    runner.run_until_idle()
    status = runner.status(iid)
    assert status.status == "completed", status.failure
    # The runner replays the whole history every episode: values seen live are seen
    # again, typed the same, in the later episodes' replays.
    live = [text for replaying, text in seen if not replaying]
    assert live == [
        describe(ORDER),
        describe(Receipt(UUID(int=7), Decimal("20.15"), datetime(2026, 2, 28, 18, tzinfo=BERLIN))),
        # pydantic's own JSON form keeps the offset, not the zone.
        describe(
            Shipment.model_validate_json(
                Shipment(
                    order_id=UUID(int=7),
                    carrier="dhl",
                    due=datetime(2026, 2, 28, 18, tzinfo=BERLIN),
                ).model_dump_json()
            )
        ),
    ]
    assert {text for replaying, text in seen if replaying} == set(live[:2])
    # History holds JSON forms only.
    started = next(e for e in status.history if isinstance(e, ev.ExecutionStarted))
    assert started.input["deliver_by"] == "2026-03-01T18:00:00+01:00[Europe/Berlin]"
    assert status.output == {
        "order_id": str(UUID(int=7)),
        "carrier": "dhl",
        "due": "2026-02-28T18:00:00+01:00",  # pydantic's JSON form: the offset only
    }

    # A fresh replay of the recorded history (as a worker after a restart) sees the same.
    seen.clear()
    replayed = execute(registry, InstanceRef(iid), status.history, [])
    assert replayed.output == status.output
    assert [text for _replaying, text in seen] == live


def test_activities_get_their_input_typed_and_the_history_keeps_json():
    seen: list[tuple[bool, str]] = []
    runner = WorkflowTestRunner(registry=typed_registry(seen), start_time=T0)
    iid = runner.start("fulfil", ORDER)
    runner.run_until_idle()
    recorded = runner.activity_calls("charge")
    assert recorded[0]["lines"][0] == {"sku": "A-1", "price": "9.90", "qty": 2}
    completed = [e for e in runner.status(iid).history if isinstance(e, ev.ActivityCompleted)]
    assert completed[0].result == {
        "order_id": str(UUID(int=7)),
        "total": "20.15",
        "charged_at": "2026-02-28T18:00:00+01:00[Europe/Berlin]",
    }


def test_the_start_input_may_be_its_json_form():
    seen: list[tuple[bool, str]] = []
    runner = WorkflowTestRunner(registry=typed_registry(seen), start_time=T0)
    iid = runner.start("fulfil", runner.registry.converter.to_json(ORDER, "order"))
    runner.run_until_idle()
    assert runner.status(iid).status == "completed"
    assert seen[0] == (False, describe(ORDER))


def test_a_bad_start_input_is_refused_at_start_naming_the_field():
    runner = WorkflowTestRunner(registry=typed_registry([]), start_time=T0)
    bad = {"id": str(UUID(int=1)), "currency": "EUR", "lines": [{"sku": "a"}], "deliver_by": "x"}
    with pytest.raises(PayloadError, match=r"input of orchestrator 'fulfil' at \.lines\[0\] "):
        runner.start("fulfil", bad)
    assert runner.instance_ids() == []


def test_a_bad_activity_input_fails_the_orchestrator_at_the_call_never_in_the_activity():
    registry = typed_registry([])

    def careless(ctx: Any, _: Any) -> Generator[Any, Any, Any]:
        order = {"id": str(UUID(int=1)), "currency": "EUR", "deliver_by": T0.isoformat()}
        order["lines"] = [{"sku": "a", "price": "1"}, {"sku": "b", "price": {1, 2}}]
        yield ctx.call_activity("charge", order)

    def forgetful(ctx: Any, _: Any) -> Generator[Any, Any, Any]:
        order = {"id": str(UUID(int=1)), "currency": "GBP", "lines": [], "deliver_by": "x"}
        yield ctx.call_activity("charge", order)

    registry.add_orchestrator(careless, "careless")
    registry.add_orchestrator(forgetful, "forgetful")
    runner = WorkflowTestRunner(registry=registry, start_time=T0)
    first, second = runner.start("careless"), runner.start("forgetful")
    runner.run_until_idle()

    failure = runner.status(first).failure
    assert failure.type == "workflows.engine.errors.PayloadError"
    assert failure.message.startswith(
        "The input of activity 'charge' at .lines[1].price is not JSON-serializable: set"
    )
    failure = runner.status(second).failure
    assert failure.message.startswith(
        "The input of activity 'charge' at .currency does not fit its type Order: "
        "'GBP' is not a Currency"
    )
    assert runner.activity_calls("charge") == []  # no worker ever got them


def test_an_activity_result_that_does_not_fit_its_annotation_fails_the_activity():
    registry = Registry()

    @registry.activity(name="sloppy")
    def sloppy(ctx: ActivityContext, _: Any) -> Receipt:
        return {"order_id": "not a uuid"}  # type: ignore[return-value]

    @registry.orchestrator(name="flow")
    def flow(ctx: Any, _: Any) -> Generator[Any, Any, Any]:
        try:
            yield ctx.call_activity("sloppy")
        except ActivityFailed as exc:
            return exc.failure.message

    runner = WorkflowTestRunner(registry=registry, start_time=T0)
    iid = runner.start("flow")
    runner.run_until_idle()
    assert runner.status(iid).output.startswith(
        "The result of activity 'sloppy' at .order_id does not fit its type Receipt: "
        "'not a uuid' is not a UUID"
    )


def test_a_stored_result_that_no_longer_fits_fails_the_call_where_it_is_awaited():
    # History written when "charge" returned something else: the yield raises, catchably.
    registry = typed_registry([])
    ref = InstanceRef("old")
    first = execute(registry, ref, [], [ev.ExecutionStarted("fulfil", 1, None)], now=T0)
    assert first.status == "failed"  # None is no Order: the input is checked first

    def lenient(ctx: Any, _: Any) -> Generator[Any, Any, Any]:
        try:
            return (yield ctx.call_activity("charge", ORDER))
        except ActivityFailed as exc:
            return exc.failure.message

    registry.add_orchestrator(lenient, "lenient")
    first = execute(registry, ref, [], [ev.ExecutionStarted("lenient", 1, None)], now=T0)
    done = execute(registry, ref, first.new_history, [ev.ActivityCompleted(1, {"total": 3})], T0)
    assert done.output.startswith(
        "The result of activity 'charge' does not fit its type Receipt: Receipt needs the "
        "field 'order_id'"
    )


def test_an_unresolvable_hint_is_reported_when_it_is_needed():
    registry = Registry()

    @registry.activity(name="mystery")
    def mystery(ctx: ActivityContext, thing: NotDefinedAnywhere) -> int:  # noqa: F821
        return 1

    runner = WorkflowTestRunner(registry=registry, start_time=T0)

    @registry.orchestrator(name="flow")
    def flow(ctx: Any, _: Any) -> Generator[Any, Any, Any]:
        yield ctx.call_activity("mystery", 1)

    iid = runner.start("flow")
    runner.run_until_idle()
    message = runner.status(iid).failure.message
    assert message.startswith("The type hints of activity 'mystery' cannot be resolved (NameError")
    assert "module level" in message


def test_un_annotated_code_still_gets_json():
    registry = Registry()

    @registry.activity(name="stamp")
    def stamp(ctx, value):
        return {"value": value, "at": datetime(2026, 1, 2, tzinfo=BERLIN), "n": Decimal("1.0")}

    @registry.orchestrator(name="flow")
    def flow(ctx, _):
        return (yield ctx.call_activity("stamp", (1, Currency.USD)))

    runner = WorkflowTestRunner(registry=registry, start_time=T0)
    iid = runner.start("flow")
    runner.run_until_idle()
    assert runner.status(iid).output == {
        "value": [1, "USD"],
        "at": "2026-01-02T00:00:00+01:00[Europe/Berlin]",
        "n": "1.0",
    }


@dataclass(frozen=True)
class Review:
    approved: bool
    by: str
    at: datetime


def test_event_data_is_rebuilt_by_the_type_the_wait_names_live_and_on_replay():
    registry = Registry()
    seen: list[str] = []

    @registry.orchestrator(name="review")
    def review(ctx: Any, _: Any) -> Generator[Any, Any, Any]:
        typed = yield ctx.wait_for_external_event("review", as_type=Review)
        plain = yield ctx.wait_for_external_event("note")
        seen.extend([describe(typed), describe(plain)])
        try:
            yield ctx.wait_for_external_event("review", as_type=Review)
        except TaskFailed as exc:
            return str(exc)

    runner = WorkflowTestRunner(registry=registry, start_time=T0)
    iid = runner.start("review")
    runner.run_until_idle()
    given = Review(True, "ada", datetime(2026, 1, 5, 9, tzinfo=BERLIN))
    runner.raise_event(iid, "review", given)  # typed data is stored as JSON
    runner.raise_event(iid, "note", given)  # no type named: the JSON form
    runner.raise_event(iid, "review", {"approved": "yes", "by": "bob", "at": T0.isoformat()})
    runner.run_until_idle()
    status = runner.status(iid)
    assert seen == [describe(given), describe(runner.registry.converter.to_json(given, "x"))]
    assert status.output.startswith(
        "The data of event 'review' at .approved does not fit its type Review: "
        "expected true or false, got str 'yes'"
    )
    seen.clear()
    assert execute(registry, InstanceRef(iid), status.history, []).output == status.output
    assert seen == [describe(given), describe(runner.registry.converter.to_json(given, "x"))]


def test_entity_operations_take_typed_inputs_as_their_json_form():
    registry = Registry()

    @registry.entity(name="ledger")
    def ledger(ctx: Any, operation: str, line: Any) -> Any:
        ctx.state = [*(ctx.state or []), line]
        return len(ctx.state)

    @registry.orchestrator(name="book")
    def book(ctx: Any, _: Any) -> Generator[Any, Any, Any]:
        ctx.signal_entity(("ledger", "a"), "add", Line("A-1", Decimal("1.50")))
        count = yield ctx.call_entity(("ledger", "a"), "add", Line("B-2", Decimal("0.25"), 4))
        with pytest.raises(PayloadError, match=r"entity operation 'add' at \.price is not JSON"):
            ctx.signal_entity(("ledger", "a"), "add", Line("C-3", {Decimal(1)}))  # type: ignore[arg-type]
        return count

    runner = WorkflowTestRunner(registry=registry, start_time=T0)
    iid = runner.start("book")
    runner.run_until_idle()
    assert runner.status(iid).output == 2
    assert runner.entity_state(("ledger", "a")) == [
        {"sku": "A-1", "price": "1.50", "qty": 1},
        {"sku": "B-2", "price": "0.25", "qty": 4},
    ]


def test_a_result_that_does_not_fit_its_annotation_is_never_retried():
    registry = Registry()
    runs: list[int] = []

    @registry.activity(name="lookup")
    def lookup(ctx: ActivityContext, _: Any) -> dict:
        runs.append(ctx.attempt)
        return None  # type: ignore[return-value]

    @registry.orchestrator(name="flow")
    def flow(ctx: Any, _: Any) -> Generator[Any, Any, Any]:
        try:
            yield ctx.call_activity("lookup", retry=RetryPolicy(max_attempts=5))
        except ActivityFailed as exc:
            return {"attempts": exc.attempts, "failure": exc.failure.to_dict()}

    runner = WorkflowTestRunner(registry=registry, start_time=T0)
    iid = runner.start("flow")
    runner.run_until_idle()

    output = runner.status(iid).output
    assert runs == [1] and output["attempts"] == 1
    failure = output["failure"]
    assert failure["type"] == "workflows.engine.errors.PayloadMismatch"
    assert failure["non_retryable"] is True
    assert failure["message"] == (
        "The result of activity 'lookup' does not fit its type dict: expected an object, got "
        "null (None). Not retried (every attempt would return the same): make activity "
        "'lookup' return that type, or change its return annotation to what it returns "
        "(e.g. add `| None`)."
    )


def test_an_input_that_does_not_fit_the_parameter_in_the_worker_is_never_retried():
    # E.g. an input stored before the activity's parameter hint changed.
    registry = Registry()
    registry.add_activity(charge, "charge")
    ctx = ActivityContext("i", "charge", 1, "i:1:1", task_id=1)

    outcome = run_activity(registry, ctx, {"id": str(UUID(int=1)), "currency": "GBP"})

    assert not outcome.ok and outcome.failure is not None
    assert outcome.failure.is_instance_of(PayloadMismatch)
    assert outcome.failure.message.startswith(
        "The input of activity 'charge' at .currency does not fit its type Order: 'GBP' is "
        "not a Currency"
    )
    assert "Not retried (the stored input stays the same)" in outcome.failure.message
    policy = RetryPolicy(max_attempts=5)
    assert next_retry_delay(policy, 1, outcome.failure, timedelta(0)) is None


@dataclass(frozen=True)
class Reservation:
    order_id: UUID
    until: datetime


def test_saga_inputs_are_typed_by_the_compensation_parameter_hint_live_and_on_replay():
    registry = Registry()
    released: list[tuple[bool, str]] = []

    @registry.activity(name="reserve")
    def reserve(ctx: ActivityContext, order: Order) -> Reservation:
        return Reservation(order.id, order.deliver_by)

    @registry.activity(name="release")
    def release(ctx: ActivityContext, reservation: Reservation) -> None:
        released.append((True, describe(reservation)))

    @registry.activity(name="pay")
    def pay(ctx: ActivityContext, _: Any) -> None:
        raise ValueError("card declined")

    @registry.orchestrator(name="book")
    def book(ctx: Any, order: Order) -> Generator[Any, Any, Any]:
        saga = ctx.saga()
        reservation = yield ctx.call_activity("reserve", order)
        saga.add("release", reservation, step="reserve")
        try:
            yield ctx.call_activity("pay")
        except ActivityFailed:
            outcomes = yield from saga.compensate()
            return [o.status for o in outcomes]

    runner = WorkflowTestRunner(registry=registry, start_time=T0)
    iid = runner.start("book", ORDER)
    runner.run_until_idle()

    status = runner.status(iid)
    assert status.output == ["compensated"]
    expected = describe(Reservation(ORDER.id, ORDER.deliver_by))
    assert released == [(True, expected)]
    registered = next(e for e in status.history if isinstance(e, ev.CompensationRegistered))
    assert registered.input == {
        "order_id": str(ORDER.id),
        "until": "2026-03-01T18:00:00+01:00[Europe/Berlin]",
    }
    assert execute(registry, InstanceRef(iid), status.history, []).output == status.output


def test_a_saga_input_that_does_not_fit_fails_at_add_naming_the_field():
    registry = Registry()

    @registry.activity(name="release")
    def release(ctx: ActivityContext, reservation: Reservation) -> None:
        pass

    @registry.orchestrator(name="book")
    def book(ctx: Any, _: Any) -> Generator[Any, Any, Any]:
        ctx.saga().add("release", {"order_id": "no uuid", "until": "2026-01-01T00:00:00"})
        yield ctx.create_timer(T0)

    runner = WorkflowTestRunner(registry=registry, start_time=T0)
    iid = runner.start("book")
    runner.run_until_idle()

    failure = runner.status(iid).failure
    assert failure is not None
    assert failure.message.startswith(
        "The input of compensation 'release' at .order_id does not fit its type Reservation"
    )


def test_custom_status_and_approval_details_take_typed_values_stored_as_json():
    registry = Registry()

    @registry.orchestrator(name="review")
    def review(ctx: Any, order: Order) -> Generator[Any, Any, Any]:
        ctx.set_custom_status({"order": order, "since": ctx.current_utc_datetime})
        decision = yield ctx.request_approval("ok", assignees="ops", details=order)
        return ctx.custom_status, decision["approved"]

    runner = WorkflowTestRunner(registry=registry, start_time=T0)
    iid = runner.start("review", ORDER)
    runner.run_until_idle()
    form = DataConverter().to_json(ORDER)
    assert runner.status(iid).custom_status == {"order": form, "since": T0.isoformat()}
    assert runner.approvals(iid)[0]["details"] == form

    runner.decide(iid, runner.approvals(iid)[0]["task_id"], approve=True, by="ann")
    runner.run_until_idle()
    assert runner.status(iid).output == [{"order": form, "since": T0.isoformat()}, True]


def test_heartbeat_details_take_typed_values_and_come_back_as_json():
    written: list[Any] = []
    beats = Heartbeats(lambda details: written.append(details) or True)
    ctx = ActivityContext("i", "sync", 1, "i:1:1", heartbeats=beats)

    ctx.heartbeat({"done": Line("A-1", Decimal("1.50")), "at": T0})

    assert beats.details == {
        "done": {"sku": "A-1", "price": "1.50", "qty": 1},
        "at": T0.isoformat(),
    }
    with pytest.raises(PayloadError, match="heartbeat details at .done is not JSON"):
        ctx.heartbeat({"done": {1, 2}})
