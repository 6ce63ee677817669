"""The operator admin: read-only, payloads by permission, actions through the client."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.ui.conftest import OPERATOR_PERMS
from workflows.models import AuditEntry, Instance

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(make_user) -> Client:
    user = make_user(
        "sam", (*OPERATOR_PERMS, "view_historyevent", "view_compensationrecord"), is_staff=True
    )
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.fixture
def staff_viewer(make_user) -> Client:
    browser = Client()
    browser.force_login(make_user("vera", ("view_instance",), is_staff=True))
    return browser


def test_every_model_is_browsable_and_nothing_can_be_added_or_deleted(admin_client, running):
    instance = running("r-1")

    for model in (
        "instance",
        "historyevent",
        "activitytask",
        "compensationrecord",
        "approvalrequest",
        "auditentry",
        "externalevent",
        "inboxmessage",
        "timer",
    ):
        assert admin_client.get(f"/admin/workflows/{model}/").status_code == 200, model
        assert admin_client.get(f"/admin/workflows/{model}/add/").status_code == 403, model
    page = admin_client.get(f"/admin/workflows/instance/{instance.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert admin_client.get(f"/admin/workflows/instance/{instance.pk}/delete/").status_code == 403


def test_payloads_are_hidden_without_view_payloads(admin_client, staff_viewer, running):
    instance = running("r-1")
    Instance.objects.filter(pk=instance.pk).update(input={"card": "4111-secret"})

    assert (
        b"4111-secret"
        in admin_client.get(f"/admin/workflows/instance/{instance.pk}/change/").content
    )
    assert (
        b"4111-secret"
        not in staff_viewer.get(f"/admin/workflows/instance/{instance.pk}/change/").content
    )


def test_admin_actions_call_the_client_and_report_refusals(staff, running):
    running("r-1")
    running("r-2", status="completed")
    pks = list(Instance.objects.order_by("instance_id").values_list("pk", flat=True))

    response = staff.post(
        "/admin/workflows/instance/",
        {"action": "suspend", "_selected_action": pks},
        follow=True,
    )

    html = response.content.decode()
    assert "Suspended: r-1." in html
    assert "only a pending or running instance can be suspended" in html
    assert Instance.objects.get(instance_id="r-1").status == "suspended"
    assert AuditEntry.objects.get(action="suspend").actor == "sam"


def test_operator_actions_are_offered_only_with_the_operate_permission(
    staff, staff_viewer, running
):
    running("r-1")

    assert b'value="terminate"' in staff.get("/admin/workflows/instance/").content
    assert b'value="terminate"' not in staff_viewer.get("/admin/workflows/instance/").content
    for action in ("terminate", "resume", "rewind", "retry_episode"):
        assert f'value="{action}"'.encode() in staff.get("/admin/workflows/instance/").content


def test_times_read_as_in_the_ui_in_lists_and_on_a_record(admin_client, running):
    instance = running("t-1")

    listing = admin_client.get("/admin/workflows/instance/").content.decode()
    record = admin_client.get(f"/admin/workflows/instance/{instance.pk}/change/")

    assert listing.count('data-when="relative"') == 2  # created, updated: short in a list
    assert record.status_code == 200
    html = record.content.decode()
    assert 'data-when="absolute"' in html  # its date-times (created/updated are not fields)
    assert not re.search(r"\b(a\.m\.|p\.m\.|midnight|noon)\b", html)  # Django's format
    assert "workflows/time.js" in listing and "workflows/time.js" in record.content.decode()
