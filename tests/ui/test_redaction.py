"""Without workflows.view_payloads no surface shows workflow data: no input, output, failure
text (also not inside the attention reason), custom status or event data, on the console,
the instance page (timeline and audit log included), the admin or a websocket push.

``viewer`` holds workflows.view_instance only; the rule itself is
``workflows.client.redacted`` (and ``PAYLOAD_COLUMNS`` for the admin).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.ui.support import text
from workflows.models import HistoryEvent, Instance

pytestmark = pytest.mark.django_db

SECRETS = ("4111-secret", "cs-secret", "boom-secret", "fail-secret", "data-secret", "why-secret")
REASON = "compensation release (ui_fail) failed: boom-secret; retry, resolve or skip it"


@pytest.fixture
def secret(running) -> Instance:
    """A failed instance whose every payload holds a secret, flagged for attention."""
    failure = {"type": "ValueError", "message": "fail-secret", "traceback": "fail-secret"}
    instance = running(
        "secret-1",
        status="failed",
        input={"card": "4111-secret"},
        output="4111-secret",
        failure=failure,
        custom_status={"note": "cs-secret", "completed": 3, "total": 12},
        needs_attention=True,
        attention_reason=REASON,
        completed_at=timezone.now(),
    )
    rows = [
        ("execution_started", {"name": "t_chain", "version": 1, "input": {"c": "4111-secret"}}),
        ("activity_scheduled", {"task_id": 1, "name": "t_add", "input": "4111-secret"}),
        ("activity_failed", {"task_id": 1, "failure": failure}),
        ("event_raised", {"name": "approve", "data": "data-secret", "event_id": "e-1"}),
        ("execution_terminated", {"reason": "why-secret"}),
    ]
    start = timezone.now() - timedelta(minutes=1)
    for seq, (kind, payload) in enumerate(rows, start=1):
        HistoryEvent.objects.create(
            instance=instance,
            execution_id=instance.execution_id,
            seq=seq,
            kind=kind,
            payload=payload,
            timestamp=start + timedelta(seconds=seq),
        )
    Instance.objects.filter(pk=instance.pk).update(history_length=len(rows))
    return instance


def leaked(response: Any) -> list[str]:
    assert response.status_code == 200, response.status_code
    body = text(response)
    return [word for word in SECRETS if word in body]


def test_the_console_shows_why_an_instance_needs_attention_but_not_the_error(viewer, secret):
    response = viewer.get("/console/")

    assert leaked(response) == []
    html = text(response)
    assert "A compensation failed for good: retry, resolve or skip it." in html
    assert leaked(viewer.get("/console/overview/")) == []
    assert leaked(viewer.get("/console/instances/", {"attention": "on"})) == []


def test_the_instance_page_shows_no_custom_status_failure_or_history_data(viewer, secret):
    response = viewer.get("/instances/secret-1/")

    assert leaked(response) == []
    html = text(response)
    assert 'role="progressbar"' not in html  # the progress bar is the custom status too
    assert "Needs attention." in html and "A compensation failed for good" in html
    assert "Activity t_add failed" in html and "failure details hidden" in html
    assert "Terminated" in html  # the timeline keeps its shape
    assert leaked(viewer.get("/instances/secret-1/body/")) == []


def test_an_approver_sees_their_instance_redacted_too(make_user, secret):
    from workflows.models import ApprovalRequest

    ApprovalRequest.objects.create(
        instance=secret,
        execution_id=secret.execution_id,
        task_id=9,
        request_id="secret-1:x:9",
        name="expense",
        assignees="managers",
    )
    approver = Client()
    approver.force_login(make_user("mia", groups=("managers",)))

    assert leaked(approver.get("/instances/secret-1/")) == []


def test_view_payloads_shows_it_all(operator, secret):
    html = text(operator.get("/instances/secret-1/"))

    for word in ("4111-secret", "cs-secret", "boom-secret", "fail-secret", "why-secret"):
        assert word in html, word
    assert "boom-secret" in text(operator.get("/console/"))


def test_the_admin_hides_custom_status_and_the_attention_reason(make_user, secret):
    staff = Client()
    staff.force_login(make_user("vera", ("view_instance",), is_staff=True))

    page = staff.get(f"/admin/workflows/instance/{secret.pk}/change/")

    assert leaked(page) == []
    assert leaked(staff.get("/admin/workflows/instance/")) == []


def test_the_admin_shows_them_with_view_payloads(admin_client, secret):
    page = text(admin_client.get(f"/admin/workflows/instance/{secret.pk}/change/"))

    assert "cs-secret" in page and "boom-secret" in page


def test_a_websocket_push_carries_id_and_status_only(viewer, secret, settings):
    from asgiref.sync import async_to_sync, sync_to_async
    from channels.routing import URLRouter
    from channels.testing import WebsocketCommunicator

    from workflows.routing import websocket_urlpatterns
    from workflows.signals import instance_changed

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

    def changed() -> None:
        instance_changed.send(
            sender=Instance, instance_pk=secret.pk, instance_id="secret-1", status="failed"
        )

    async def scenario() -> Any:
        socket = WebsocketCommunicator(URLRouter(websocket_urlpatterns), "/ws/instances/secret-1/")
        socket.scope["user"] = viewer.user
        assert (await socket.connect())[0]
        await sync_to_async(changed)()
        message = await socket.receive_json_from(timeout=3)
        await socket.disconnect()
        return message

    assert async_to_sync(scenario)() == {
        "type": "changed",
        "instance_id": "secret-1",
        "status": "failed",
    }
