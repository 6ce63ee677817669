"""Instance page: status, progress, payloads, timeline, tasks, compensations, approvals,
children, audit; operator actions and events. Every action goes through DurableClient."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from workflows.approvals import may_decide
from workflows.client import DurableClient, InstanceState
from workflows.engine import DurableError
from workflows.engine.errors import ClientError, NotAllowed
from workflows.statuses import ACTIVE, TERMINAL, CompensationStatus, InstanceStatus

from . import access, queries, timeline
from .forms import CompensationDecisionForm, RaiseEventForm, ReasonForm
from .http import (
    back,
    forbidden,
    fragment,
    login_required,
    message_response,
    not_found,
    refused,
    require,
    status_of,
)
from .live import poll_seconds

BODY = "workflows/partials/_instance_body.html"
TIMELINE_LIMIT = 300  # the latest history entries shown; the admin has them all
NO_VIEW = "You may not see this instance: it needs the permission to view instances."
NO_OPERATE = "Operating instances needs the operate permission (workflows.operate_instance)."
NO_EVENTS = "Raising events needs the permission workflows.raise_event."


@dataclass(frozen=True)
class Action:
    """An operator action on an instance: label, when it is offered, what it calls."""

    label: str
    statuses: frozenset[str]
    call: Callable[[DurableClient, str, str, Any], Any]
    done: str
    confirm: str
    tone: str = ""  # "" | "danger"
    hint: str = ""


ACTIONS: dict[str, Action] = {
    "suspend": Action(
        "Suspend",
        frozenset({InstanceStatus.PENDING, InstanceStatus.RUNNING}),
        lambda c, iid, reason, by: c.suspend(iid, reason, by=by),
        "Suspended {id}: events are kept until you resume it.",
        "Suspend {id}? It stops after the current step; events wait until it resumes.",
        hint="Pause after the current step; events are buffered.",
    ),
    "resume": Action(
        "Resume",
        frozenset({InstanceStatus.SUSPENDED}),
        lambda c, iid, reason, by: c.resume(iid, reason, by=by),
        "Resumed {id}.",
        "Resume {id}?",
    ),
    "rewind": Action(
        "Rewind",
        frozenset({InstanceStatus.FAILED}),
        lambda c, iid, reason, by: c.rewind(iid, reason, by=by),
        "Rewound {id}: the failed steps run again.",
        "Rewind {id}? The failed steps run again; completed results are kept.",
        hint="Re-run the failed steps; completed results are kept.",
    ),
    "retry-episode": Action(
        "Retry episode",
        frozenset({InstanceStatus.PENDING, InstanceStatus.RUNNING}),
        lambda c, iid, reason, by: c.retry_episode(iid, reason, by=by),
        "The pending episode of {id} runs again.",
        "Run the pending episode of {id} again (e.g. after deploying a fix)?",
        hint="Run the pending turn again, e.g. after deploying a fix.",
    ),
    "restart": Action(
        "Restart",
        frozenset(TERMINAL),
        lambda c, iid, reason, by: c.restart(iid, by=by, reason=reason),
        "Restarted {id} from the beginning with its original input.",
        "Restart {id} from the beginning with its original input? Its history is replaced.",
        hint="Start again from the beginning with the same input.",
    ),
    "terminate": Action(
        "Terminate",
        frozenset(ACTIVE),
        lambda c, iid, reason, by: c.terminate(iid, reason, by=by),
        "Terminated {id}.",
        "Terminate {id}? Outstanding work is cancelled; this cannot be undone.",
        tone="danger",
        hint="End it now; outstanding work is cancelled.",
    ),
}

COMPENSATION_DECISIONS: dict[str, tuple[Callable[..., None], str]] = {
    "retry": (DurableClient.retry_compensation, "Compensation {name} runs again."),
    "resolve": (DurableClient.resolve_compensation, "Compensation {name} marked as done by hand."),
    "skip": (DurableClient.skip_compensation, "Compensation {name} skipped."),
}


def _offered(state: InstanceState) -> list[tuple[str, Action, str]]:
    """(key, action, confirmation question) for what the status allows."""
    return [
        (key, a, a.confirm.format(id=state.instance_id))
        for key, a in ACTIONS.items()
        if state.status in a.statuses
    ]


def _context(request: HttpRequest, client: DurableClient, state: InstanceState) -> dict[str, Any]:
    user = request.user
    caps = access.Capabilities.of(user)
    iid = state.instance_id
    approvals = list(client.approvals(instance_id=iid))
    compensations = sorted(client.compensations(instance_id=iid), key=lambda r: (r.order, r.pk))
    line = timeline.build(state.history or [])
    decisive = state.status in (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED)
    return {
        "state": state,
        "caps": caps,
        "timeline": line,
        "entries": line.entries[-TIMELINE_LIMIT:],
        "earlier": max(0, len(line.entries) - TIMELINE_LIMIT),
        "in_flight": queries.activities_in_flight(client.hub, iid),
        "compensations": compensations,
        "can_decide_compensations": caps.operate and decisive,
        "compensation_failed": any(r.status == CompensationStatus.FAILED for r in compensations),
        "failed_status": CompensationStatus.FAILED,
        "approvals": [(a, may_decide(user, a)) for a in approvals],
        "children": queries.children(client.hub, iid),
        "audit": queries.audit_entries(client.hub, iid),
        "actions": _offered(state) if caps.operate else [],
        "can_raise": caps.raise_event and not state.is_finished,
        # A finished instance rarely changes again (rewind, restart): poll it slowly.
        "poll_seconds": poll_seconds() * (6 if state.is_finished else 1),
    }


def _load(
    request: HttpRequest, instance_id: str
) -> tuple[DurableClient, InstanceState | HttpResponse]:
    client = DurableClient()
    try:  # the client checks the user may see it, and hides what they may not
        return client, client.get_status(instance_id, history=True, user=request.user)
    except NotAllowed:
        return client, forbidden(request, NO_VIEW)
    except ClientError:
        return client, not_found(request, f"No instance {instance_id!r} exists.")


@require_GET
@login_required
def instance_page(request: HttpRequest, instance_id: str) -> HttpResponse:
    client, state = _load(request, instance_id)
    if isinstance(state, HttpResponse):
        return state
    return render(request, "workflows/instance.html", _context(request, client, state))


@require_GET
@login_required
def instance_body(request: HttpRequest, instance_id: str) -> HttpResponse:
    """The page body alone: refreshed live while the instance runs."""
    client, state = _load(request, instance_id)
    if isinstance(state, HttpResponse):
        return state
    return fragment(request, BODY, _context(request, client, state))


def _answer(request: HttpRequest, instance_id: str) -> HttpResponse:
    """After an action: the refreshed body for HTMX, else back to the page."""
    page = reverse("ui:instance", args=[instance_id])
    if not request.htmx:
        return back(request, page)
    client, state = _load(request, instance_id)
    if isinstance(state, HttpResponse):  # e.g. purged meanwhile
        return state
    return fragment(request, BODY, _context(request, client, state))


def _refuse(
    request: HttpRequest, instance_id: str, exc: DurableError | str, status: int = 400
) -> HttpResponse:
    text = str(exc)
    if isinstance(exc, DurableError):
        status = status_of(exc)
    if request.htmx:
        return message_response(request, text, status)
    if status in (403, 404):
        return refused(request, text, status, "Not allowed" if status == 403 else "Not found")
    messages.error(request, text)
    return back(request, reverse("ui:instance", args=[instance_id]))


@require_POST
@require(access.can_operate, NO_OPERATE)
def operate(request: HttpRequest, instance_id: str, action: str) -> HttpResponse:
    chosen = ACTIONS.get(action)
    if chosen is None:
        return not_found(request, f"Unknown action {action!r}.")
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        chosen.call(DurableClient(), instance_id, reason, request.user)
    except DurableError as exc:
        return _refuse(request, instance_id, exc)
    messages.success(request, chosen.done.format(id=instance_id))
    return _answer(request, instance_id)


@require_POST
@require(access.can_raise_events, NO_EVENTS)
def raise_event(request: HttpRequest, instance_id: str) -> HttpResponse:
    form = RaiseEventForm(request.POST)
    if not form.is_valid():
        errors = [e for errs in form.errors.values() for e in errs]
        return _refuse(request, instance_id, " ".join(errors))
    f = form.cleaned_data
    try:
        result = DurableClient().raise_event(
            instance_id,
            f["name"],
            f["data"],
            event_id=f["event_id"],
            sender=request.user.get_username(),
        )
    except DurableError as exc:
        return _refuse(request, instance_id, exc)
    if result.outcome == "duplicate":
        messages.warning(request, f"Event id {f['event_id']} was sent before; delivered once only.")
    else:
        messages.success(request, f"Event {f['name']} delivered to {instance_id}.")
    return _answer(request, instance_id)


@require_POST
@require(access.can_operate, NO_OPERATE)
def decide_compensation(request: HttpRequest, pk: int, decision: str) -> HttpResponse:
    client = DurableClient()
    record = client.compensations().filter(pk=pk).first()
    if record is None or decision not in COMPENSATION_DECISIONS:
        return not_found(request, f"No compensation record {pk} takes a {decision!r} decision.")
    instance_id = record.instance.instance_id
    form = CompensationDecisionForm(request.POST)
    if not form.is_valid():
        return _refuse(request, instance_id, form.errors["note"][0])
    call, done = COMPENSATION_DECISIONS[decision]
    try:
        call(client, pk, by=request.user, note=form.cleaned_data["note"])
    except DurableError as exc:
        return _refuse(request, instance_id, exc)
    messages.success(request, done.format(name=record.step or record.activity))
    return _answer(request, instance_id)
