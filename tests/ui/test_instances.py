"""Instance page: who sees what, the timeline, and every operator action and refusal."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.ui.support import text
from workflows.models import AuditEntry, CompensationRecord, HistoryEvent, Instance

pytestmark = pytest.mark.django_db


def _history(instance: Instance, *events: tuple[str, dict, float]) -> None:
    """Append history rows: (kind, payload, seconds after the start)."""
    start = timezone.now() - timedelta(minutes=5)
    for seq, (kind, payload, at) in enumerate(events, start=1):
        HistoryEvent.objects.create(
            instance=instance,
            execution_id=instance.execution_id,
            seq=seq,
            kind=kind,
            payload=payload,
            timestamp=start + timedelta(seconds=at),
        )
    Instance.objects.filter(pk=instance.pk).update(history_length=len(events))


def test_the_page_shows_status_version_timeline_and_durations(operator, running):
    instance = running("order-1", key="ORD-1")
    _history(
        instance,
        ("orchestrator_started", {"timestamp": "x"}, 0),
        ("execution_started", {"name": "t_chain", "version": 1, "input": 3}, 0),
        ("activity_scheduled", {"task_id": 1, "name": "t_add", "input": {"a": 0}}, 0),
        ("orchestrator_started", {"timestamp": "x"}, 2.5),
        ("activity_completed", {"task_id": 1, "result": 41}, 2.5),
        ("timer_created", {"task_id": 2, "fire_at": "2030-01-01T00:00:00+00:00"}, 2.5),
    )

    response = operator.get("/instances/order-1/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "status-running" in html and "v1" in html and "ORD-1" in html
    assert "Activity t_add completed" in html
    assert "took 2.5 s" in html
    assert "Timer set" in html and "2030-01-01 00:00:00 UTC" in html
    assert "2 episodes" in html
    assert 'data-live-url="/ws/instances/order-1/"' in html


def test_payloads_need_the_view_payloads_permission(operator, viewer, running):
    instance = running("order-1")
    Instance.objects.filter(pk=instance.pk).update(input={"card": "4111-secret"})
    _history(
        instance, ("execution_started", {"name": "t_chain", "input": {"card": "4111-secret"}}, 0)
    )

    assert "4111-secret" in operator.get("/instances/order-1/").content.decode()
    hidden = viewer.get("/instances/order-1/").content.decode()
    assert "4111-secret" not in hidden
    assert "need the permission to view payloads" in hidden


def test_failure_details_are_payloads_too(operator, viewer, running):
    running(
        "order-1",
        status="failed",
        failure={"type": "ValueError", "message": "secret detail", "traceback": "Traceback ..."},
    )

    assert "secret detail" in operator.get("/instances/order-1/").content.decode()
    assert "secret detail" not in viewer.get("/instances/order-1/").content.decode()


def test_custom_status_with_completed_of_total_is_a_progress_bar(operator, viewer, running):
    running("batch-1", custom_status={"processed": 3, "total": 12})

    html = operator.get("/instances/batch-1/").content.decode()

    assert 'role="progressbar"' in html and "width: 25%" in html
    assert "3 of 12 (25%)" in html
    # The custom status is workflow data: without view_payloads no bar either.
    assert 'role="progressbar"' not in viewer.get("/instances/batch-1/").content.decode()


def test_an_approver_may_open_the_instance_they_decide_on_but_no_other(
    approver, pending_approval, running
):
    pending_approval("claim-1")
    running("other-1")

    page = approver.get("/instances/claim-1/")

    assert page.status_code == 200
    assert "Decide it" in page.content.decode()
    assert "Actions</h2>" not in page.content.decode()
    assert approver.get("/instances/other-1/").status_code == 403


def test_an_outsider_gets_403_and_an_unknown_id_404(outsider, viewer):
    assert outsider.get("/instances/nope/").status_code == 403
    missing = viewer.get("/instances/nope/")
    assert missing.status_code == 404
    assert "No instance 'nope' exists" in text(missing)


def test_logged_out_visitors_go_to_the_login_page(client, running, htmx):
    running("order-1")

    assert client.get("/instances/order-1/")["Location"].startswith("/login/?next=")
    inline = client.get("/instances/order-1/body/", **htmx)
    assert inline["HX-Redirect"].startswith("/login/?next=")


def test_actions_are_offered_by_state_and_permission(operator, viewer, running):
    running("r-1")
    running("s-1", status="suspended")
    running("f-1", status="failed")

    def offered(browser, iid):
        html = browser.get(f"/instances/{iid}/").content.decode()
        return {
            a
            for a in ("suspend", "resume", "rewind", "retry-episode", "restart", "terminate")
            if f'data-action="{a}"' in html
        }

    assert offered(operator, "r-1") == {"suspend", "retry-episode", "terminate"}
    assert offered(operator, "s-1") == {"resume", "terminate"}
    assert offered(operator, "f-1") == {"rewind", "restart"}
    assert offered(viewer, "r-1") == set()


def test_only_what_cannot_be_undone_asks_for_confirmation(operator, running):
    running("r-1")

    html = operator.get("/instances/r-1/").content.decode()

    assert html.count("hx-confirm=") == 2  # terminate, raise event; not suspend, retry
    assert 'hx-confirm="Terminate r-1? Outstanding work is cancelled' in html
    assert 'data-action="suspend"' in html and 'data-action="resume"' not in html


def test_suspend_then_resume_then_terminate_with_htmx(operator, running, htmx):
    running("r-1")

    suspended = operator.post("/instances/r-1/suspend/", {"reason": "maintenance"}, **htmx)
    assert suspended.status_code == 200
    assert "Suspended r-1" in suspended.content.decode()
    assert 'data-action="resume"' in suspended.content.decode()  # the refreshed body
    assert Instance.objects.get(instance_id="r-1").status == "suspended"

    operator.post("/instances/r-1/resume/", **htmx)
    assert Instance.objects.get(instance_id="r-1").status in ("running", "pending")

    operator.post("/instances/r-1/terminate/", {"reason": "duplicate order"}, **htmx)
    assert Instance.objects.get(instance_id="r-1").status == "terminated"
    actions = list(AuditEntry.objects.values_list("action", "note", "actor"))
    assert ("suspend", "maintenance", "olga") in actions
    assert ("terminate", "duplicate order", "olga") in actions


def test_an_action_the_state_does_not_allow_is_a_message_not_a_stack_trace(operator, running, htmx):
    running("r-1")

    inline = operator.post("/instances/r-1/rewind/", **htmx)
    page = operator.post("/instances/r-1/resume/", follow=True)

    assert inline.status_code == 409
    assert inline["X-Durable-Message"] == "1"
    assert "only a failed instance can be rewound" in inline.content.decode()
    assert "Traceback" not in inline.content.decode()
    assert "not suspended; nothing to resume" in page.content.decode()


def test_retry_episode_and_restart(operator, running, htmx):
    running("r-1")
    running("done-1", status="completed", completed_at=timezone.now())

    retried = operator.post("/instances/r-1/retry-episode/", **htmx)
    restarted = operator.post("/instances/done-1/restart/", **htmx)

    assert "runs again" in retried.content.decode()
    assert "Restarted done-1" in restarted.content.decode()
    assert Instance.objects.get(instance_id="done-1").status == "pending"


def test_rewind_a_failed_instance_from_the_page(operator, running):
    instance = running("f-1", status="failed")
    _history(
        instance,
        ("execution_started", {"name": "t_chain", "input": 3}, 0),
        ("activity_scheduled", {"task_id": 1, "name": "t_add"}, 0),
        ("activity_failed", {"task_id": 1, "failure": {"type": "E", "message": "m"}}, 1),
        ("execution_failed", {"failure": {"type": "E", "message": "m"}}, 1),
    )
    from workflows.models import ActivityTask

    ActivityTask.objects.create(
        instance=instance,
        execution_id=instance.execution_id,
        task_id=1,
        call_id=1,
        name="t_add",
        status="failed",
        idempotency_key="k",
    )

    response = operator.post("/instances/f-1/rewind/", follow=True)

    assert "Rewound f-1" in response.content.decode()
    assert Instance.objects.get(instance_id="f-1").status == "running"


def test_operations_need_the_operate_permission(viewer, running, htmx):
    running("r-1")

    inline = viewer.post("/instances/r-1/terminate/", **htmx)
    page = viewer.post("/instances/r-1/terminate/")

    assert inline.status_code == 403 and "operate permission" in inline.content.decode()
    assert page.status_code == 403
    assert Instance.objects.get(instance_id="r-1").status == "running"


def test_an_unknown_action_is_404(operator, running):
    running("r-1")

    assert operator.post("/instances/r-1/explode/").status_code == 404


def test_raise_an_event_with_json_data(operator, running, htmx):
    from workflows.models import ExternalEvent

    running("w-1", name="t_wait_event")

    response = operator.post(
        "/instances/w-1/events/",
        {"name": "approve", "data": '{"ok": true}', "event_id": "e-1"},
        **htmx,
    )
    again = operator.post(
        "/instances/w-1/events/",
        {"name": "approve", "data": '{"ok": true}', "event_id": "e-1"},
        **htmx,
    )

    assert "Event approve delivered to w-1" in response.content.decode()
    assert "delivered once only" in again.content.decode()
    event = ExternalEvent.objects.get()
    assert (event.name, event.data, event.sender) == ("approve", {"ok": True}, "olga")


def test_event_data_must_be_json_and_the_message_says_where(operator, running, htmx):
    running("w-1")

    response = operator.post(
        "/instances/w-1/events/", {"name": "approve", "data": "{ok: 1}"}, **htmx
    )

    assert response.status_code == 400
    assert "not valid JSON" in response.content.decode()
    assert "line 1, column 2" in response.content.decode()


def test_events_to_a_finished_instance_are_refused(operator, running, htmx):
    running("done-1", status="completed")

    response = operator.post("/instances/done-1/events/", {"name": "approve"}, **htmx)

    assert response.status_code == 409
    assert "already finished" in response.content.decode()


def test_raising_events_needs_its_permission(make_user, running, htmx):
    from django.test import Client

    running("w-1")
    browser = Client()
    browser.force_login(make_user("ops", ("view_instance", "operate_instance")))

    page = browser.get("/instances/w-1/").content.decode()
    refused = browser.post("/instances/w-1/events/", {"name": "approve"}, **htmx)

    assert "Raise an event" not in page
    assert refused.status_code == 403


def test_a_failed_compensation_shows_its_error_and_a_form(operator, failed_compensation):
    failed_compensation("order-1")

    html = operator.get("/instances/order-1/").content.decode()

    assert "Needs attention." in html
    assert "the warehouse is down" in html
    assert 'class="compensation-form"' in html
    assert 'hx-confirm="Skip ui_fail?' in html  # only skip asks: the undo will not happen
    assert "what you did by hand" in html and "why the undo is not needed" in html
    # The instance waits for this decision, not for an episode: shown disabled, with why.
    assert re.search(r'<button[^>]*disabled[^>]*data-action="retry-episode"', html)
    assert "waits for a decision on a failed compensation" in html


def test_resolving_a_compensation_needs_a_note(operator, failed_compensation, htmx):
    record = failed_compensation("order-1")

    response = operator.post(f"/compensations/{record.pk}/resolve/", {"note": "  "}, **htmx)

    assert response.status_code == 400
    assert "Write what you did by hand" in response.content.decode()
    assert response["HX-Retarget"] == f"#note-{record.pk}-error"  # next to the field
    record.refresh_from_db()
    assert record.status == "failed"


@pytest.mark.parametrize(
    ("decision", "status"),
    [("resolve", "resolved_manually"), ("skip", "skipped"), ("retry", "compensating")],
)
def test_retry_resolve_or_skip_a_failed_compensation(
    operator, failed_compensation, htmx, decision, status
):
    record = failed_compensation("order-1")

    response = operator.post(
        f"/compensations/{record.pk}/{decision}/", {"note": "released by hand in WMS"}, **htmx
    )

    assert response.status_code == 200
    assert "release reservation" in response.content.decode()
    record.refresh_from_db()
    assert record.status == status
    assert record.resolved_by.username == "olga"
    assert AuditEntry.objects.filter(action=f"compensation_{decision}").exists()


def test_a_compensation_decided_twice_is_a_message(operator, failed_compensation, htmx):
    record = failed_compensation("order-1")
    operator.post(f"/compensations/{record.pk}/resolve/", {"note": "done"}, **htmx)

    again = operator.post(f"/compensations/{record.pk}/skip/", {"note": "again"}, **htmx)

    assert again.status_code == 409
    assert "not failed" in again.content.decode()


def test_a_retry_sent_twice_from_the_same_page_runs_once(operator, failed_compensation, htmx):
    """A double click: the second identical decision in the same state is a message."""
    record = failed_compensation("order-1")
    seen = {"seen": "0", "note": ""}
    first = operator.post(f"/compensations/{record.pk}/retry/", seen, **htmx)
    # The retry ran and failed again before the second click arrived.
    CompensationRecord.objects.filter(pk=record.pk).update(status="failed", attempts=2)

    second = operator.post(f"/compensations/{record.pk}/retry/", seen, **htmx)

    assert first.status_code == second.status_code == 200
    assert "You already retried it at" in text(second)
    assert AuditEntry.objects.filter(action="compensation_retry").count() == 1
    assert CompensationRecord.objects.get(pk=record.pk).status == "failed"
    # Drawn again (a live refresh) the form carries the new state: retrying works again.
    seen["seen"] = str(AuditEntry.objects.get(action="compensation_retry").pk)
    operator.post(f"/compensations/{record.pk}/retry/", seen, **htmx)
    assert AuditEntry.objects.filter(action="compensation_retry").count() == 2


def test_an_instance_action_sent_twice_is_done_once(operator, running, htmx):
    running("r-2")
    operator.post("/instances/r-2/retry-episode/", {"seen": "0"}, **htmx)

    again = operator.post("/instances/r-2/retry-episode/", {"seen": "0"}, **htmx)
    suspended = operator.post("/instances/r-2/suspend/", {"seen": "0"}, **htmx)
    twice = operator.post("/instances/r-2/suspend/", {"seen": "0"}, **htmx)

    assert again.status_code == suspended.status_code == twice.status_code == 200
    assert "You already retried its episode" in text(again)
    assert "You already suspended it" in text(twice)
    actions = list(AuditEntry.objects.values_list("action", flat=True).order_by("pk"))
    assert actions == ["start", "retry_episode", "suspend"] or actions == [
        "retry_episode",
        "suspend",
    ]


def test_rewind_of_a_compensated_saga_is_shown_disabled_with_the_reason(operator, running):
    instance = running("saga-1", status="failed", name="ui_order")
    _history(
        instance,
        ("execution_started", {"name": "ui_order"}, 0),
        ("activity_scheduled", {"task_id": 1, "name": "reserve"}, 1),
        ("activity_failed", {"task_id": 1}, 2),
        ("activity_scheduled", {"task_id": 2, "name": "release"}, 3),
        ("activity_completed", {"task_id": 2}, 4),
        ("execution_failed", {}, 5),
    )
    CompensationRecord.objects.create(
        instance=instance,
        execution_id=instance.execution_id,
        task_id=2,
        compensation_id="saga-1:x:comp:2",
        activity="release",
        order=1,
        status="compensated",
    )

    html = operator.get("/instances/saga-1/").content.decode()

    assert re.search(r'<button[^>]*disabled[^>]*data-action="rewind"', html)
    assert "restart it instead" in html
    assert re.search(r'<button(?![^>]*disabled)[^>]*data-action="restart"', html)


def test_compensation_decisions_need_the_operate_permission(viewer, failed_compensation, htmx):
    record = failed_compensation("order-1")

    assert "compensation-form" not in viewer.get("/instances/order-1/").content.decode()
    assert (
        viewer.post(f"/compensations/{record.pk}/resolve/", {"note": "x"}, **htmx).status_code
        == 403
    )
    record.refresh_from_db()
    assert record.status == "failed"


def test_children_audit_and_the_live_body(operator, running, htmx):
    parent = running("parent-1")
    child = running("child-1")
    Instance.objects.filter(pk=child.pk).update(parent=parent, parent_task_id=1)
    operator.post("/instances/parent-1/suspend/", {"reason": "checking"})

    body = operator.get("/instances/parent-1/body/", **htmx)
    child_page = operator.get("/instances/child-1/").content.decode()

    html = body.content.decode()
    assert "<html" not in html
    assert 'href="/instances/child-1/"' in html
    assert "checking" in html  # the audit entry
    assert 'href="/instances/parent-1/"' in child_page


def test_a_long_history_shows_its_latest_entries(viewer, running):
    instance = running("busy-1")
    steps = [("execution_started", {"name": "t_chain"}, 0)]
    steps += [("activity_scheduled", {"task_id": i, "name": f"step{i}"}, i) for i in range(1, 320)]
    _history(instance, *steps)

    html = viewer.get("/instances/busy-1/").content.decode()

    assert "20 earlier events not shown" in html
    assert "Activity step319 scheduled" in html and "Started t_chain" not in html


def test_sub_orchestration_rows_link_their_child_and_the_history_downloads(
    operator, viewer, running
):
    instance = running("parent-9")
    _history(
        instance,
        ("execution_started", {"name": "t_chain", "input": {"secret": 1}}, 0),
        ("sub_orchestration_created", {"task_id": 1, "name": "ship", "instance_id": "c-9"}, 1),
    )

    html = operator.get("/instances/parent-9/").content.decode()
    mine = operator.get("/instances/parent-9/history.json")
    theirs = viewer.get("/instances/parent-9/history.json")

    assert re.search(r'<a class="mono small" href="/instances/c-9/" data-child>c-9</a>', html)
    assert mine["Content-Disposition"] == 'attachment; filename="history-parent-9.json"'
    assert mine.json()["events"][0]["input"] == {"secret": 1}
    assert theirs.status_code == 200 and "input" not in theirs.json()["events"][0]  # redacted


def test_a_pending_instance_explains_a_backlog_when_workers_are_busy(viewer, running):
    from workflows.models import ActivityTask

    for n in range(3):
        running(f"p-{n}", status="pending")
    busy = running("busy-1")
    idle = viewer.get("/instances/p-2/").content.decode()
    ActivityTask.objects.create(
        task_hub=busy.task_hub,
        instance=busy,
        execution_id=busy.execution_id,
        task_id=1,
        call_id=1,
        name="work",
        status="running",
        lease_expires_at=timezone.now() + timedelta(minutes=1),
    )

    page = viewer.get("/instances/p-2/").content.decode()
    first = viewer.get("/instances/p-0/").content.decode()

    assert "No worker seems to be running" not in page
    assert "2 instances ahead of this one." in page
    assert "Next in line" in first
    assert "2 instances ahead of this one, and no worker seems to be running" in idle
