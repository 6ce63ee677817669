"""Entities, the aggregator pattern: bank accounts and a transfer between two of them.

``bank_account`` is an entity (function form): its state is ``{"balance", "closed"}``,
its operations run one at a time. ``transfer_funds`` locks both accounts (a critical
section: no other transfer or deposit can slip in between the check and the move),
checks the balance, moves the money, and puts it back if the deposit fails.

Example::

    client.signal_entity(("bank_account", "alice"), "deposit", 100)
    client.start("transfer_funds", {"from": "alice", "to": "bob", "amount": 30})
"""

from __future__ import annotations

from typing import Any

from workflows.engine import EntityOperationFailed, NonRetryableError, entity, orchestrator


class InsufficientFunds(NonRetryableError):
    """A withdrawal larger than the balance (accounts cannot be overdrawn)."""


class AccountClosed(NonRetryableError):
    """The account takes no more deposits."""


def _amount(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"an amount must be a positive number, got {value!r}")
    return value


@entity(name="bank_account", operations=["deposit", "withdraw", "balance", "close"])
def bank_account(ctx, operation, amount):
    account = ctx.state or {"balance": 0, "closed": False}
    if operation == "deposit":
        if account["closed"]:
            raise AccountClosed(f"account {ctx.key} is closed")
        account["balance"] += _amount(amount)
    elif operation == "withdraw":
        if _amount(amount) > account["balance"]:
            raise InsufficientFunds(
                f"account {ctx.key} holds {account['balance']}, less than {amount}"
            )
        account["balance"] -= amount
    elif operation == "close":
        account["closed"] = True
    ctx.state = account
    return account["balance"]


@orchestrator(name="transfer_funds")
def transfer_funds(ctx, request):
    """Move ``amount`` from account ``from`` to account ``to``, all or nothing."""
    source, target = ("bank_account", request["from"]), ("bank_account", request["to"])
    amount = request["amount"]
    lock = yield ctx.lock([source, target])
    with lock:
        available = yield ctx.call_entity(source, "balance")
        if available < amount:
            return {"transferred": False, "reason": "insufficient funds", "balance": available}
        yield ctx.call_entity(source, "withdraw", amount)
        try:
            yield ctx.call_entity(target, "deposit", amount)
        except EntityOperationFailed as exc:
            # Compensate inside the critical section: nobody saw the money missing.
            yield ctx.call_entity(source, "deposit", amount)
            return {"transferred": False, "reason": exc.failure.message}
    return {"transferred": True, "amount": amount}
