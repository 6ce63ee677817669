"""Function chaining: ``provision_customer`` runs three steps, each fed by the last.

Input ``{"name": "Ada Lovelace", "email": "ada@example.com"}``; output
``{"customer_id", "account_id", "message_id"}``. A crash between steps resumes at the
next step: completed steps are never run again (their results come from history).
"""

from __future__ import annotations

from workflows.engine import activity, orchestrator

from . import services
from .inputs import SampleInputError, require_object, text


@activity(name="create_customer")
def create_customer(ctx, customer):
    return services.call(
        ctx,
        "crm",
        "create_customer",
        customer["email"],
        customer,
        answer=lambda key: {"customer_id": services.make_id("cus", key)},
    )


@activity(name="create_account")
def create_account(ctx, request):
    return services.call(
        ctx,
        "billing",
        "open_account",
        request["customer_id"],
        request,
        answer=lambda key: {"account_id": services.make_id("acc", key), "plan": request["plan"]},
    )


@activity(name="send_welcome_message")
def send_welcome_message(ctx, message):
    return services.call(
        ctx,
        "mail",
        "send",
        message["to"],
        message,
        answer=lambda key: {"message_id": services.make_id("msg", key)},
    )


@orchestrator(name="provision_customer")
def provision_customer(ctx, customer):
    customer = require_object(customer, "provision_customer")
    name, email = text(customer, "name"), text(customer, "email")
    if "@" not in email:
        raise SampleInputError(f"'email' must be an e-mail address, not {email!r}.")

    created = yield ctx.call_activity(create_customer, {"name": name, "email": email})
    account = yield ctx.call_activity(
        create_account, {"customer_id": created["customer_id"], "plan": "starter"}
    )
    message = yield ctx.call_activity(
        send_welcome_message,
        {
            "to": email,
            "template": "welcome",
            "context": {"name": name, "account_id": account["account_id"]},
        },
    )
    return {
        "customer_id": created["customer_id"],
        "account_id": account["account_id"],
        "message_id": message["message_id"],
    }
