"""Registry: names, versions, options, look-ups — validated at definition time."""

from __future__ import annotations

import pytest

from workflows.engine import (
    RegistrationError,
    Registry,
    UnknownActivityError,
    UnknownOrchestratorError,
)
from workflows.engine.registry import name_of


def test_orchestrator_and_activity_are_registered_by_name():
    registry = Registry()

    @registry.activity(name="greet")
    def greet(ctx, who):
        return f"hello {who}"

    @registry.orchestrator(name="hello", version=1)
    def hello(ctx, who):
        return (yield ctx.call_activity(greet, who))

    assert registry.get_activity("greet").fn is greet
    assert registry.get_orchestrator("hello").fn is hello
    assert registry.activity_names() == ["greet"]
    assert registry.orchestrator_names() == ["hello"]
    assert registry.has_orchestrator("hello")
    assert registry.has_orchestrator("hello", 1)
    assert not registry.has_orchestrator("hello", 2)


def test_name_defaults_to_function_name():
    registry = Registry()

    @registry.activity()
    def send_mail(ctx, to):
        return to

    @registry.orchestrator()
    def onboarding(ctx, _):
        yield ctx.call_activity(send_mail, "a@example.com")

    assert registry.activity_names() == ["send_mail"]
    assert registry.orchestrator_names() == ["onboarding"]
    assert registry.get_orchestrator("onboarding").version == 1


def test_lookup_by_decorated_function_or_by_name():
    registry = Registry()

    @registry.activity(name="charge")
    def charge_payment(ctx, order):
        return order

    @registry.orchestrator(name="order")
    def order(ctx, _):
        yield ctx.call_activity("charge")

    assert name_of(charge_payment) == "charge"
    assert name_of("anything") == "anything"
    assert registry.get_activity(charge_payment) is registry.get_activity("charge")
    assert registry.get_orchestrator(order) is registry.get_orchestrator("order")


def test_name_of_undecorated_function_says_to_decorate_it():
    def helper(ctx, x):
        return x

    with pytest.raises(RegistrationError, match="Decorate it with @orchestrator or @activity"):
        name_of(helper)


def test_duplicate_activity_name_with_different_code_is_rejected():
    registry = Registry()

    @registry.activity(name="ship")
    def ship_v1(ctx, x):
        return x

    with pytest.raises(RegistrationError) as caught:

        @registry.activity(name="ship")
        def ship_v2(ctx, x):
            return x

    message = str(caught.value)
    assert "'ship' is already registered by" in message
    assert "ship_v1" in message  # names the code that got there first
    assert "Choose another name" in message
    assert registry.get_activity("ship").fn is ship_v1  # the first one is kept


def test_duplicate_orchestrator_version_with_different_code_is_rejected():
    registry = Registry()

    @registry.orchestrator(name="order", version=3)
    def order_a(ctx, _):
        yield ctx.call_activity("x")

    with pytest.raises(RegistrationError) as caught:

        @registry.orchestrator(name="order", version=3)
        def order_b(ctx, _):
            yield ctx.call_activity("y")

    message = str(caught.value)
    assert "'order' version 3 is already registered by" in message
    assert "order_a" in message
    assert "another version number" in message
    assert registry.get_orchestrator("order", 3).fn is order_a


def test_re_registering_the_same_code_is_allowed():
    # A module imported twice (e.g. under two names) registers the same function again.
    registry = Registry()

    def work(ctx, x):
        return x

    def flow(ctx, x):
        yield ctx.call_activity(work, x)

    registry.add_activity(work, "work")
    registry.add_activity(work, "work")
    registry.add_orchestrator(flow, "flow", 1)
    registry.add_orchestrator(flow, "flow", 1)
    assert registry.activity_names() == ["work"]
    assert registry.orchestrator_versions("flow") == [1]


@pytest.mark.parametrize("bad", ["", "   ", None, 42, " padded", "padded "])
def test_empty_blank_or_padded_names_are_rejected(bad):
    registry = Registry()

    def act(ctx, x):
        return x

    def orch(ctx, x):
        yield ctx.call_activity("a")

    with pytest.raises(RegistrationError, match="Activity name"):
        registry.add_activity(act, bad)
    with pytest.raises(RegistrationError, match="Orchestrator name"):
        registry.add_orchestrator(orch, bad)
    assert registry.activity_names() == []
    assert registry.orchestrator_names() == []


@pytest.mark.parametrize("version", [0, -1, "2", 1.5, True])
def test_orchestrator_version_must_be_a_positive_integer(version):
    registry = Registry()

    def orch(ctx, x):
        yield ctx.call_activity("a")

    with pytest.raises(RegistrationError, match="version must be a positive integer"):
        registry.add_orchestrator(orch, "orch", version)


def test_non_generator_orchestrator_is_rejected():
    registry = Registry()
    with pytest.raises(RegistrationError, match="must be a generator function"):

        @registry.orchestrator(name="plain")
        def plain(ctx, x):
            return ctx.call_activity("a", x)

    assert registry.orchestrator_names() == []


def test_generator_activity_is_rejected():
    registry = Registry()
    with pytest.raises(RegistrationError, match=r"activities are plain functions.*@orchestrator"):

        @registry.activity(name="gen")
        def gen(ctx, x):
            yield x

    assert registry.activity_names() == []


def test_unknown_activity_options_are_rejected_at_definition_time():
    registry = Registry()
    with pytest.raises(RegistrationError) as caught:

        @registry.activity(name="charge", retries=3, timeout=10)
        def charge(ctx, x):
            return x

    message = str(caught.value)
    assert "'charge'" in message
    assert "retries" in message and "timeout" in message
    assert "RetryPolicy" in message  # says where retrying is configured instead
    assert registry.activity_names() == []


def test_several_versions_side_by_side_latest_by_default():
    registry = Registry()

    @registry.orchestrator(name="order", version=1)
    def order_v1(ctx, _):
        yield ctx.call_activity("a")

    @registry.orchestrator(name="order", version=3)
    def order_v3(ctx, _):
        yield ctx.call_activity("c")

    @registry.orchestrator(name="order", version=2)
    def order_v2(ctx, _):
        yield ctx.call_activity("b")

    assert registry.orchestrator_versions("order") == [1, 2, 3]
    assert registry.get_orchestrator("order").fn is order_v3
    assert registry.get_orchestrator("order").version == 3
    assert registry.get_orchestrator("order", 1).fn is order_v1
    assert registry.get_orchestrator(order_v2, 2).fn is order_v2


def test_unknown_orchestrator_lists_what_is_registered():
    registry = Registry()

    @registry.orchestrator(name="order")
    def order(ctx, _):
        yield ctx.call_activity("a")

    with pytest.raises(UnknownOrchestratorError) as caught:
        registry.get_orchestrator("ordr")
    assert caught.value.name == "ordr"
    assert "No orchestrator 'ordr' is registered" in str(caught.value)
    assert "Registered: order." in str(caught.value)
    assert "imported at start-up" in str(caught.value)


def test_unknown_orchestrator_version():
    registry = Registry()

    @registry.orchestrator(name="order", version=1)
    def order(ctx, _):
        yield ctx.call_activity("a")

    with pytest.raises(UnknownOrchestratorError, match="'order' version 7") as caught:
        registry.get_orchestrator("order", 7)
    assert caught.value.version == 7


def test_unknown_activity():
    registry = Registry()
    with pytest.raises(UnknownActivityError, match="No activity 'nope' is registered") as caught:
        registry.get_activity("nope")
    assert caught.value.name == "nope"
    assert "imported by the worker" in str(caught.value)


def test_registries_are_independent():
    first, second = Registry(), Registry()

    @first.activity(name="only_here")
    def only_here(ctx, x):
        return x

    assert first.activity_names() == ["only_here"]
    assert second.activity_names() == []
    with pytest.raises(UnknownActivityError):
        second.get_activity("only_here")


def test_an_orchestrator_declares_its_description_and_an_example_input(registry):
    @registry.orchestrator(name="described", example={"order_id": "o-1", "items": (1, 2)})
    def described(ctx, order):
        """Reserve, charge and ship an order.

        Long details that the Start page leaves out.
        """
        yield ctx.call_activity("x")

    @registry.orchestrator(name="said", version=2, description="Said on the decorator.")
    def said(ctx, _):
        yield ctx.call_activity("x")

    first = registry.get_orchestrator("described")
    assert first.description == "Reserve, charge and ship an order."
    assert first.example == {"order_id": "o-1", "items": [1, 2]}  # as JSON gives it back
    assert registry.get_orchestrator("said").description == "Said on the decorator."


def test_an_example_that_is_not_json_is_refused_at_import(registry):
    from workflows.engine.errors import RegistrationError

    with pytest.raises(RegistrationError, match="example input of orchestrator 'bad'"):

        @registry.orchestrator(name="bad", example={"when": object()})
        def bad(ctx, _):
            yield ctx.call_activity("x")
