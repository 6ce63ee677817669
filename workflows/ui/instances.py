"""Instance page: status, progress, payloads, timeline, tasks, compensations, approvals,
children, audit; operator actions and events. Every action goes through DurableClient."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from workflows import offers
from workflows.approvals import may_decide
from workflows.client import DurableClient, InstanceState
from workflows.engine import DurableError
from workflows.engine.errors import ClientError, NotAllowed
from workflows.statuses import CompensationStatus, InstanceStatus

from . import access, display, queries, repeats, timeline
from .backlog import backlog_of
from .forms import CompensationDecisionForm, RaiseEventForm, ReasonForm
from .http import (
    back,
    field_error,
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
    """An operator action on an instance: label, what it calls, what the page says.

    Whether it is offered is ``workflows.offers``' answer (the same the service refuses
    with); ``confirm`` is asked only before what cannot be undone."""

    label: str
    call: Callable[[DurableClient, str, str, Any], Any]
    done: str
    past: str  # "suspended it": for the message when it was done already
    confirm: str = ""
    tone: str = ""  # "" | "danger"
    hint: str = ""


ACTIONS: dict[str, Action] = {
    "suspend": Action(
        "Suspend",
        lambda c, iid, reason, by: c.suspend(iid, reason, by=by),
        "Suspended {id}: events are kept until you resume it.",
        "suspended it",
        hint="Pause after the current step; events are buffered.",
    ),
    "resume": Action(
        "Resume",
        lambda c, iid, reason, by: c.resume(iid, reason, by=by),
        "Resumed {id}.",
        "resumed it",
    ),
    "rewind": Action(
        "Rewind",
        lambda c, iid, reason, by: c.rewind(iid, reason, by=by),
        "Rewound {id}: the failed steps run again.",
        "rewound it",
        "Rewind {id}? The failed steps run again; completed results are kept.",
        hint="Re-run the failed steps; completed results are kept.",
    ),
    "retry-episode": Action(
        "Retry episode",
        lambda c, iid, reason, by: c.retry_episode(iid, reason, by=by),
        "The pending episode of {id} runs again.",
        "retried its episode",
        hint="Run the pending turn again, e.g. after deploying a fix.",
    ),
    "restart": Action(
        "Restart",
        lambda c, iid, reason, by: c.restart(iid, by=by, reason=reason),
        "Restarted {id} from the beginning with its original input.",
        "restarted it",
        "Restart {id} from the beginning with its original input? Its history is replaced.",
        hint="Start again from the beginning with the same input.",
    ),
    "terminate": Action(
        "Terminate",
        lambda c, iid, reason, by: c.terminate(iid, reason, by=by),
        "Terminated {id}.",
        "terminated it",
        "Terminate {id}? Outstanding work is cancelled; this cannot be undone.",
        tone="danger",
        hint="End it now; outstanding work is cancelled.",
    ),
}


@dataclass(frozen=True)
class Decision:
    """A decision on a failed compensation: the call, what the note must say."""

    call: Callable[..., None]
    done: str
    past: str
    note_required: str = ""  # the field's error when the note is empty; "" = optional


COMPENSATION_DECISIONS: dict[str, Decision] = {
    "retry": Decision(
        DurableClient.retry_compensation, "Compensation {name} runs again.", "retried it"
    ),
    "resolve": Decision(
        DurableClient.resolve_compensation,
        "Compensation {name} marked as done by hand.",
        "marked it as done by hand",
        "Write what you did by hand before marking it done.",
    ),
    "skip": Decision(
        DurableClient.skip_compensation,
        "Compensation {name} skipped.",
        "skipped it",
        "Write why its undo is not needed before skipping it.",
    ),
}


def facts_of(state: InstanceState, compensations: list[Any]) -> offers.Facts:
    kinds = [row["kind"] for row in state.history] if state.history is not None else None
    return offers.Facts(state.status, kinds, tuple(r.status for r in compensations))


def _offered(state: InstanceState, compensations: list[Any]) -> list[tuple[str, Action, Any]]:
    """(key, action, offer) for every action the state makes meaningful; an offer not
    allowed is shown disabled with its reason."""
    answer = offers.offers(facts_of(state, compensations))
    return [(key, ACTIONS[key], offer) for key, offer in answer.items() if offer.shown]


def _context(request: HttpRequest, client: DurableClient, state: InstanceState) -> dict[str, Any]:
    user = request.user
    caps = access.Capabilities.of(user)
    iid = state.instance_id
    approvals = list(client.approvals(instance_id=iid))
    compensations = sorted(client.compensations(instance_id=iid), key=lambda r: (r.order, r.pk))
    line = timeline.build(state.history or [], None if state.is_finished else timezone.now())
    decisive = state.status in (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED)
    audit = queries.audit_entries(client.hub, iid)
    return {
        "state": state,
        "caps": caps,
        "timeline": line,
        "entries": line.entries[-TIMELINE_LIMIT:],
        "earlier": max(0, len(line.entries) - TIMELINE_LIMIT),
        "in_flight": queries.activities_in_flight(client.hub, iid),
        "compensations": compensations,
        "ending": display.ending_of(state.status, [r.status for r in compensations]),
        "backlog": backlog_of(client.hub, state),
        "can_decide_compensations": caps.operate and decisive,
        "compensation_failed": any(r.status == CompensationStatus.FAILED for r in compensations),
        "failed_status": CompensationStatus.FAILED,
        "approvals": [(a, may_decide(user, a)) for a in approvals],
        "children": queries.children(client.hub, iid),
        "audit": audit,
        "actions": _offered(state, compensations) if caps.operate else [],
        "seen": repeats.seen_token(audit),
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


@require_GET
@login_required
def history_json(request: HttpRequest, instance_id: str) -> HttpResponse:
    """The current execution's whole history as a JSON download (redacted as the page is:
    without view_payloads only the events' shape)."""
    client, state = _load(request, instance_id)
    if isinstance(state, HttpResponse):
        return state
    events = [
        {
            "seq": r["seq"],
            "kind": r["kind"],
            "timestamp": r["timestamp"].isoformat(),  # as the page's event JSON
            **(r["payload"] or {}),
        }
        for r in state.history or []
    ]
    body = {"instance_id": instance_id, "execution_id": state.execution_id, "events": events}
    response = JsonResponse(body, json_dumps_params={"indent": 2, "ensure_ascii": False})
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in instance_id)
    response["Content-Disposition"] = f'attachment; filename="history-{safe}.json"'
    return response


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


def _repeat(request: HttpRequest, client: DurableClient, iid: str, audit_action: str) -> Any:
    """The same person's same action since the page was drawn (see ``repeats``)."""
    seen = repeats.parse_seen(request.POST.get("seen"))
    if seen is None:
        return None
    return repeats.repeated(
        queries.audit_entries(client.hub, iid, 20), request.user, audit_action, seen
    )


def _no_op(request: HttpRequest, iid: str, entry: Any, past: str) -> HttpResponse:
    messages.info(request, repeats.already_done(entry, past))
    return _answer(request, iid)


@require_POST
@require(access.can_operate, NO_OPERATE)
def operate(request: HttpRequest, instance_id: str, action: str) -> HttpResponse:
    chosen = ACTIONS.get(action)
    if chosen is None:
        return not_found(request, f"Unknown action {action!r}.")
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    client = DurableClient()
    audit_action = action.replace("-", "_")
    if done := _repeat(request, client, instance_id, audit_action):
        return _no_op(request, instance_id, done, chosen.past)
    try:
        chosen.call(client, instance_id, reason, request.user)
    except DurableError as exc:
        # Two requests at once: the second waited for the first's lock, then was refused.
        if done := _repeat(request, client, instance_id, audit_action):
            return _no_op(request, instance_id, done, chosen.past)
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
    chosen = COMPENSATION_DECISIONS.get(decision)
    if record is None or chosen is None:
        return not_found(request, f"No compensation record {pk} takes a {decision!r} decision.")
    instance_id = record.instance.instance_id
    form = CompensationDecisionForm(request.POST)
    note = form.cleaned_data["note"].strip() if form.is_valid() else ""
    if not form.is_valid() or (chosen.note_required and not note):
        problem = chosen.note_required or " ".join(form.errors.get("note", []))
        return (
            field_error(request, problem, f"note-{pk}-error")
            if request.htmx
            else (_refuse(request, instance_id, problem))
        )
    audit_action = f"compensation_{decision}"
    if done := _repeat(request, client, instance_id, audit_action):
        return _no_op(request, instance_id, done, chosen.past)
    try:
        chosen.call(client, pk, by=request.user, note=note)
    except DurableError as exc:
        if done := _repeat(request, client, instance_id, audit_action):
            return _no_op(request, instance_id, done, chosen.past)
        return _refuse(request, instance_id, exc)
    messages.success(request, chosen.done.format(name=record.step or record.activity))
    return _answer(request, instance_id)
