"""Typed orchestrators and activities (README "Payloads"): dataclasses, Decimal, UUID,
Enum and zoned datetimes cross every checkpoint. Worker processes import this module
through ``DURABLE_WORKFLOW_MODULES=MODULES``."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from workflows.engine import ActivityContext, activity, orchestrator
from workflows.engine.converter import DataConverter

MODULES = "tests.support.workflows,tests.support.typed_workflows"


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
    currency: Currency
    charge_at: datetime


@dataclass(frozen=True)
class Summary:
    receipt: Receipt
    label: str
    seen: list[str]  # what the orchestrator's code was given, typed, step by step


def describe(value: Any) -> str:
    """Equal texts: equal values of equal types (a different replay changes the output)."""
    return f"{type(value).__name__}:{value!r}"


@activity(name="t_typed_charge")
def t_typed_charge(ctx: ActivityContext, order: Order) -> Receipt:
    total = sum((line.price * line.qty for line in order.lines), Decimal("0.00"))
    return Receipt(order.id, total, order.currency, order.deliver_by - timedelta(days=1))


@activity(name="t_typed_label")
def t_typed_label(ctx: ActivityContext, receipt: Receipt) -> str:
    when = receipt.charge_at.strftime("%Y-%m-%d %H:%M %Z")
    return f"{receipt.total} {receipt.currency.value} on {when}"


@orchestrator(name="t_typed_label_child")
def t_typed_label_child(ctx: Any, receipt: Receipt) -> Generator[Any, Any, str]:
    return (yield ctx.call_activity("t_typed_label", receipt))


@orchestrator(name="t_typed_order")
def t_typed_order(ctx: Any, order: Order) -> Generator[Any, Any, Summary]:
    seen = [describe(order)]
    receipt = yield ctx.call_activity(t_typed_charge, order)
    seen.append(describe(receipt))
    label = yield ctx.call_sub_orchestrator(t_typed_label_child, receipt)
    seen.append(describe(label))
    return Summary(receipt, label, seen)


@orchestrator(name="t_typed_careless")
def t_typed_careless(ctx: Any, order: Order) -> Generator[Any, Any, Any]:
    # A set deep inside the activity's input: refused here, in the episode.
    lines = [{"sku": line.sku, "price": {line.price}} for line in order.lines]
    yield ctx.call_activity(t_typed_charge, {"id": order.id, "lines": lines})


class CentsConverter(DataConverter):
    """A project's own converter (DURABLE_DATA_CONVERTER): Decimal as whole cents."""

    encoders = {**DataConverter.encoders, Decimal: lambda d: int(d * 100)}
    decoders = {**DataConverter.decoders, Decimal: lambda cents: Decimal(cents) / 100}
