"""The console's bulk flow without a browser: checkboxes and "select all N matching" for
operators, the review (count, sample, what is skipped, the reason), the operation's page
(progress, outcomes, cancel), the audit link, the socket, the admin's confirmed terminate."""

from __future__ import annotations

import re
from unittest import mock

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.db import OperationalError

from workflows.models import AuditEntry, BulkOperation, Instance
from workflows.ui import bulk_live

pytestmark = pytest.mark.django_db

REVIEW = "/console/bulk/review/"
START = "/console/bulk/start/"


def all_running(action: str = "terminate", **extra: str) -> dict[str, object]:
    return {"action": action, "scope": "all", "status": ["running"], **extra}


def test_operators_get_checkboxes_and_select_all_matching(console, web, make_instances):
    make_instances(30, "running")
    make_instances(2, "completed", prefix="done")

    html = console.get("/console/", {"status": "running"}).content.decode()

    assert html.count('form="bulk-list" data-bulk-pick') == 25  # one page
    assert "Select all 30 matching" in html
    assert 'value="terminate"' in html and 'value="raise_event"' in html
    assert 'name="status" value="running"' in html  # the filter goes along
    assert "/static/workflows/bulk.js" in html
    viewer = web("victor", "view_instance").get("/console/").content.decode()
    assert "data-bulk" not in viewer


def test_the_overview_lists_have_bulk_menus_too(console, make_instances):
    make_instances(3, "failed", prefix="f")

    html = console.get("/console/overview/").content.decode()

    assert 'id="bulk-failed"' in html and "Select all 3 failed" in html
    assert 'form="bulk-failed" data-bulk-pick' in html


def test_the_review_shows_count_sample_and_skips_and_changes_nothing(console, make_instances):
    make_instances(12, "running")

    response = console.post(REVIEW, {"action": "suspend", "scope": "all", "name": "t_wait_event"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "Suspend: 12 instances" in html
    assert "name t_wait_event" in html
    assert "<strong data-bulk-will>12</strong> in a status that allows it" in html
    assert html.count('<tr><td><a class="mono"') == 10  # the sample
    assert 'name="expected" value="12"' in html
    assert not BulkOperation.objects.exists()
    assert Instance.objects.filter(status="running").count() == 12


def test_picked_rows_start_an_operation_followed_on_its_page(console, make_instances, run_all):
    ids = make_instances(3, "running")
    done = make_instances(1, "completed", prefix="done")
    picked = {"action": "terminate", "ids": [*ids, *done]}
    review = console.post(REVIEW, picked).content.decode()
    assert "The 4 you picked" in review and "1</strong> do not allow it" in review

    response = console.post(START, {**picked, "reason": "INC-8", "expected": "4"})

    operation = BulkOperation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/console/bulk/{operation.pk}/"
    page = console.get(response["Location"]).content.decode()
    assert f'data-live-url="/ws/bulk-operations/{operation.pk}/"' in page
    assert "0 of 4 (0%)" in page and "INC-8" in page
    run_all(operation.pk)
    progress = console.get(f"/console/bulk/{operation.pk}/progress/").content.decode()
    assert "4 of 4 (100%)" in progress and "hx-trigger" not in progress  # done: no polling
    skipped = console.get(f"/console/bulk/{operation.pk}/outcomes/", {"outcome": "skipped"})
    assert "already finished (completed)" in skipped.content.decode()
    instance_page = console.get(f"/instances/{ids[0]}/").content.decode()
    assert f'href="/console/bulk/{operation.pk}/">bulk operation #{operation.pk}</a>' in (
        instance_page
    )
    listing = console.get("/console/bulk/").content.decode()
    assert f"#{operation.pk}</a>" in listing and "INC-8" in listing


def test_a_reason_is_required_and_the_review_says_so(console, make_instances):
    make_instances(2, "running")

    response = console.post(START, {**all_running(), "reason": "", "expected": "2"})

    assert response.status_code == 400
    assert "Write the reason" in response.content.decode()
    assert not BulkOperation.objects.exists()


def test_a_changed_count_asks_for_a_new_review(console, make_instances):
    make_instances(3, "running")

    response = console.post(START, {**all_running(), "reason": "r", "expected": "2"})

    assert response.status_code == 409
    html = response.content.decode()
    assert "now matches 3 target(s), not the 2 you reviewed" in html
    assert 'name="expected" value="3"' in html
    assert not BulkOperation.objects.exists()


def test_nothing_picked_is_a_clear_400(console):
    response = console.post(REVIEW, {"action": "terminate"})

    assert response.status_code == 400
    assert "Pick at least one row" in response.content.decode()


def test_cancel_from_the_page(console, make_instances):
    make_instances(3, "running")
    console.post(START, {**all_running(), "reason": "r", "expected": "3"})
    operation = BulkOperation.objects.get()

    response = console.post(f"/console/bulk/{operation.pk}/cancel/", {"reason": "oops"})

    assert response.status_code == 302
    operation.refresh_from_db()
    assert (operation.status, operation.cancelled, operation.cancelled_by) == (
        "cancelled",
        3,
        "olga",
    )
    again = console.post(f"/console/bulk/{operation.pk}/cancel/", {})
    assert again.status_code == 409


def test_compensation_decisions_from_the_overview(console, client, run_all):
    for iid in ("order-1", "order-2"):
        client.start("t_wait_event", None, instance_id=iid)
        Instance.objects.filter(instance_id=iid).update(status="running")
        instance = Instance.objects.get(instance_id=iid)
        instance.compensations.create(
            execution_id=instance.execution_id,
            task_id=2,
            compensation_id=f"{iid}:c",
            activity="t_release",
            order=1,
            status="failed",
            attempts=1,
        )
    overview = console.get("/console/overview/").content.decode()
    assert "Select all 2 failed compensations" in overview
    selection = {"action": "compensation_resolve", "scope": "all"}

    review = console.post(REVIEW, selection).content.decode()
    assert "Resolve compensation: 2 failed compensations" in review and "Note" in review
    console.post(START, {**selection, "reason": "released by hand", "expected": "2"})

    state = run_all(BulkOperation.objects.get().pk)
    assert state.done == 2
    assert AuditEntry.objects.filter(action="compensation_resolve").count() == 2


def test_viewers_may_not_and_raise_event_needs_its_permission(web, make_instances):
    make_instances(1, "running")
    viewer = web("victor", "view_instance", "view_payloads")
    for path in (REVIEW, START):
        assert viewer.post(path, all_running()).status_code == 403
    assert viewer.get("/console/bulk/").status_code == 403
    operator = web("oscar", "operate_instance", "view_instance")
    assert 'value="raise_event"' not in operator.get("/console/").content.decode()

    refused = operator.post(REVIEW, all_running("raise_event"))

    assert refused.status_code == 403
    assert "workflows.raise_event" in refused.content.decode()


def test_unknown_operations_are_404(console):
    assert console.get("/console/bulk/9999/").status_code == 404
    assert console.get("/console/bulk/9999/progress/").status_code == 404


@pytest.fixture
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def progress_heard(client, op, user, chunks: int) -> list[dict]:
    """What the operation's socket says: on connecting, then after each of ``chunks``."""
    from workflows.routing import websocket_urlpatterns

    async def scenario():
        socket = WebsocketCommunicator(
            URLRouter(websocket_urlpatterns), f"/ws/bulk-operations/{op.id}/"
        )
        socket.scope["user"] = user
        assert (await socket.connect())[0]
        heard = [await socket.receive_json_from(timeout=30)]
        for _ in range(chunks):
            await sync_to_async(client.run_bulk_chunk)(op.id)
            heard.append(await socket.receive_json_from(timeout=30))
        await socket.disconnect()
        return heard

    # The consumer's reads (database_sync_to_async) call close_old_connections, which
    # closes a connection inside a transaction: the test's. Channels' communicator turns it
    # off only while the test awaits a message; a read that ran between the chunk and the
    # next wait (a loaded machine's timing) closed the test's connection, and every read
    # after it failed. Off for the whole scenario.
    with mock.patch("channels.db.close_old_connections", lambda: None):
        return async_to_sync(scenario)()


def test_the_socket_says_each_change_of_progress(in_memory_layer, console, client, make_instances):
    make_instances(4, "running")
    op = client.start_bulk("terminate", filter={}, reason="r", by=console.user, chunk_size=2)

    assert progress_heard(client, op, console.user, chunks=2) == [
        {"type": "changed", "status": "running", "processed": 0},
        {"type": "changed", "status": "running", "processed": 2},
        {"type": "changed", "status": "completed", "processed": 4},
    ]


def test_a_database_error_in_one_read_does_not_end_the_progress(
    in_memory_layer, console, client, make_instances, monkeypatch
):
    make_instances(2, "running")
    op = client.start_bulk("terminate", filter={}, reason="r", by=console.user, chunk_size=2)
    reads, progress = [], bulk_live._progress

    def flaky(pk):
        reads.append(pk)
        if len(reads) == 3:  # connect's, the first message's, then the database is away
            raise OperationalError("server closed the connection unexpectedly")
        return progress(pk)

    monkeypatch.setattr(bulk_live, "_progress", flaky)

    assert progress_heard(client, op, console.user, chunks=1) == [
        {"type": "changed", "status": "running", "processed": 0},
        {"type": "changed", "status": "completed", "processed": 2},
    ]
    assert len(reads) >= 4  # the failed read was followed by another


def test_the_socket_is_for_operators(in_memory_layer, web, client, make_instances, operator):
    from workflows.routing import websocket_urlpatterns

    make_instances(1, "running")
    op = client.start_bulk("terminate", filter={}, reason="r", by=operator)
    viewer = web("victor", "view_instance")

    async def code(user, path):
        socket = WebsocketCommunicator(URLRouter(websocket_urlpatterns), path)
        socket.scope["user"] = user
        connected, code = await socket.connect()
        return code

    assert async_to_sync(code)(viewer.user, f"/ws/bulk-operations/{op.id}/") == 4403
    assert async_to_sync(code)(operator, "/ws/bulk-operations/9999/") == 4404


def test_the_admin_terminates_through_a_confirmed_bulk_operation(web, make_instances, run_all):
    ids = make_instances(3, "running")
    staff = web("sam", "operate_instance", "view_instance", is_staff=True)
    pks = list(Instance.objects.filter(instance_id__in=ids).values_list("pk", flat=True))
    chosen = {"action": "terminate", "_selected_action": pks}

    confirm = staff.post("/admin/workflows/instance/", chosen)
    html = confirm.content.decode()
    assert confirm.status_code == 200 and "Terminate <strong>3</strong> selected" in html
    assert not BulkOperation.objects.exists()
    blank = staff.post("/admin/workflows/instance/", {**chosen, "confirm": "yes", "expected": "3"})
    assert blank.status_code == 400 and "A reason is required" in blank.content.decode()

    done = staff.post(
        "/admin/workflows/instance/",
        {**chosen, "confirm": "yes", "expected": "3", "reason": "from the admin"},
        follow=True,
    )

    operation = BulkOperation.objects.get()
    assert re.search(
        rf'bulk operation <a href="/console/bulk/{operation.pk}/">', done.content.decode()
    )
    assert run_all(operation.pk).done == 3
    assert AuditEntry.objects.filter(action="terminate", actor="sam").count() == 3
