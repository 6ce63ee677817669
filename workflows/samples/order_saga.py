"""Compensation (saga): ``order_saga`` undoes what it did when a later step fails.

Input::

    {"order_id": "o-1001", "items": [{"sku": "BOOK-1", "qty": 2}], "amount": 59.9,
     "fail": {"step": "create_shipment", "mode": "permanent"},
     "fail_compensation": {"step": "refund_payment", "mode": "transient", "times": 2}}

Steps ``reserve_inventory -> capture_payment -> create_shipment -> confirm_order``;
after each of the first three succeeds its undo is registered (``release_inventory``,
``refund_payment``, ``cancel_shipment``). When a step fails for good, the undos run in
reverse order, each a typed compensation record; then the order fails, so the
instance ends *failed and compensated*. A compensation that fails for good flags the
instance for an operator, who retries, resolves (did it by hand) or skips it.

``fail`` / ``fail_compensation`` are failure switches for trying it out: any step
(or undo, named by itself or by the step it undoes) fails ``transient`` (retried by the
retry policy, ``times`` times, default 1) or ``permanent`` (``NonRetryableError``,
every call unless ``times`` is given). The fake services are idempotent: see
``workflows.samples.services``.
"""

from __future__ import annotations

from datetime import timedelta

from workflows.engine import ActivityFailed, RetryPolicy, activity, orchestrator

from . import services
from .inputs import SampleInputError, number, require_object, text

STEPS = ("reserve_inventory", "capture_payment", "create_shipment", "confirm_order")
UNDO = {
    "reserve_inventory": "release_inventory",
    "capture_payment": "refund_payment",
    "create_shipment": "cancel_shipment",
}
STEP_RETRY = RetryPolicy(max_attempts=4, first_retry=timedelta(milliseconds=250))
UNDO_RETRY = RetryPolicy(max_attempts=4, first_retry=timedelta(milliseconds=250))


class OrderFailed(Exception):  # noqa: N818 - reads as what happened
    """The order could not be completed; what was done has been compensated."""


# -- steps -----------------------------------------------------------------------------
@activity(name="reserve_inventory")
def reserve_inventory(ctx, request):
    return services.call(
        ctx,
        "inventory",
        "reserve",
        request["order_id"],
        {"items": request["items"]},
        answer=lambda key: {"reservation_id": services.make_id("res", key)},
        fail=request["fail"],
    )


@activity(name="capture_payment")
def capture_payment(ctx, request):
    return services.call(
        ctx,
        "payments",
        "capture",
        request["order_id"],
        {"amount": request["amount"]},
        answer=lambda key: {"payment_id": services.make_id("pay", key)},
        fail=request["fail"],
    )


@activity(name="create_shipment")
def create_shipment(ctx, request):
    return services.call(
        ctx,
        "shipping",
        "create",
        request["order_id"],
        {"items": request["items"]},
        answer=lambda key: {"shipment_id": services.make_id("shp", key)},
        fail=request["fail"],
    )


@activity(name="confirm_order")
def confirm_order(ctx, request):
    return services.call(
        ctx,
        "orders",
        "confirm",
        request["order_id"],
        answer=lambda key: {"confirmed": True},
        fail=request["fail"],
    )


# -- compensations ---------------------------------------------------------------------
@activity(name="release_inventory")
def release_inventory(ctx, request):
    return services.call(
        ctx,
        "inventory",
        "release",
        request["order_id"],
        {"reservation_id": request["reservation_id"]},
        answer=lambda key: {"released": request["reservation_id"]},
        fail=request["fail"],
    )


@activity(name="refund_payment")
def refund_payment(ctx, request):
    return services.call(
        ctx,
        "payments",
        "refund",
        request["order_id"],
        {"payment_id": request["payment_id"], "amount": request["amount"]},
        answer=lambda key: {"refund_id": services.make_id("re", key)},
        fail=request["fail"],
    )


@activity(name="cancel_shipment")
def cancel_shipment(ctx, request):
    return services.call(
        ctx,
        "shipping",
        "cancel",
        request["order_id"],
        {"shipment_id": request["shipment_id"]},
        answer=lambda key: {"cancelled": request["shipment_id"]},
        fail=request["fail"],
    )


# -- the workflow ----------------------------------------------------------------------
def _checked(order):
    order = require_object(order, "order_saga")
    text(order, "order_id")
    items = order.get("items")
    if not isinstance(items, list) or not items:
        raise SampleInputError(f"'items' must be a non-empty list, not {items!r}.")
    number(order, "amount", minimum=0.01)
    for key, known in (("fail", STEPS), ("fail_compensation", (*UNDO, *UNDO.values()))):
        spec = order.get(key)
        if spec is None:
            continue
        services.FailureSwitch.from_spec(spec)
        if spec.get("step") not in known:
            raise SampleInputError(
                f"{key}.step must be one of {', '.join(known)}, not {spec.get('step')!r}."
            )
    return order


def _switch(order, key, *names):
    """The failure switch of ``order[key]`` if it names this step, else None."""
    spec = order.get(key)
    return spec if spec and spec["step"] in names else None


def _step(order, name, **extra):
    return {
        "order_id": order["order_id"],
        "items": order["items"],
        "amount": order["amount"],
        "fail": _switch(order, "fail", name),
        **extra,
    }


def _undo(order, step, **extra):
    undo = UNDO[step]
    return {
        "order_id": order["order_id"],
        "amount": order["amount"],
        "fail": _switch(order, "fail_compensation", step, undo),
        **extra,
    }


@orchestrator(name="order_saga")
def order_saga(ctx, order):
    order = _checked(order)
    saga = ctx.saga()
    ids = {}

    def progress(state, **more):
        ctx.set_custom_status({"state": state, "order_id": order["order_id"], **more})

    try:
        progress("running", step="reserve_inventory")
        reservation = yield ctx.call_activity(
            reserve_inventory, _step(order, "reserve_inventory"), retry=STEP_RETRY
        )
        ids.update(reservation)
        saga.add(
            release_inventory,
            _undo(order, "reserve_inventory", **reservation),
            step="reserve_inventory",
            retry=UNDO_RETRY,
        )

        progress("running", step="capture_payment")
        payment = yield ctx.call_activity(
            capture_payment, _step(order, "capture_payment"), retry=STEP_RETRY
        )
        ids.update(payment)
        saga.add(
            refund_payment,
            _undo(order, "capture_payment", **payment),
            step="capture_payment",
            retry=UNDO_RETRY,
        )

        progress("running", step="create_shipment")
        shipment = yield ctx.call_activity(
            create_shipment, _step(order, "create_shipment"), retry=STEP_RETRY
        )
        ids.update(shipment)
        saga.add(
            cancel_shipment,
            _undo(order, "create_shipment", **shipment),
            step="create_shipment",
            retry=UNDO_RETRY,
        )

        progress("running", step="confirm_order")
        yield ctx.call_activity(confirm_order, _step(order, "confirm_order"), retry=STEP_RETRY)
    except ActivityFailed as failed:
        progress("compensating", failed_step=failed.name)
        outcomes = yield from saga.compensate()
        undone = [f"{o.activity} ({o.status})" for o in outcomes]
        progress("compensated", failed_step=failed.name, compensations=undone)
        raise OrderFailed(
            f"Order {order['order_id']} failed at {failed.name}: "
            f"{failed.failure.summary() if failed.failure else failed}. "
            f"Undone: {', '.join(undone) or 'nothing'}."
        ) from None

    progress("completed")
    return {"order_id": order["order_id"], "status": "confirmed", **ids}
