"""seed_demo: people to log in as and sample instances for every page."""

from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from tests.support.checks import wait_until
from workflows.models import ApprovalRequest, CompensationRecord, Instance
from workflows.samples.demo import INSTANCES, seed_demo

CREATED = re.compile(r"created user '(\w+)' \(([\w ]+)\) with password (\S+)")


def seed() -> str:
    out = io.StringIO()
    seed_demo(out)
    return out.getvalue()


@pytest.mark.integration
def test_seeds_people_and_instances_once(workers, client):
    first = seed()
    passwords = {user: password for user, _, password in CREATED.findall(first)}
    assert set(passwords) == {"approver", "operator", "admin"}
    assert len(set(passwords.values())) == 3  # random, one per user
    users = get_user_model().objects
    for username, password in passwords.items():
        assert users.get(username=username).check_password(password)
    assert users.get(username="admin").is_superuser
    assert list(users.get(username="approver").groups.values_list("name", flat=True)) == [
        "approvers"
    ]
    operator = users.get(username="operator")
    for codename in ("start_instance", "view_payloads", "raise_event", "operate_instance"):
        assert operator.has_perm(f"workflows.{codename}")
    assert not users.get(username="approver").has_perm("workflows.operate_instance")
    assert Instance.objects.count() == len(INSTANCES)

    second = seed()
    assert CREATED.findall(second) == []  # no password is printed again
    assert "`python manage.py changepassword operator`" in second
    assert "instances exist already" in second
    assert Instance.objects.count() == len(INSTANCES)
    assert Group.objects.filter(name__in=["approvers", "operators"]).count() == 2

    # Every page has something to show once the worker ran them.
    def settled():
        by_name = {i.name: i for i in Instance.objects.all()}
        return (
            by_name["provision_customer"].status == "completed"
            and by_name["process_files"].status == "completed"
            and by_name["order_saga"].needs_attention
            and ApprovalRequest.objects.filter(status="pending", assignees="approvers").exists()
            and by_name["deployment_monitor"].history_length > 0
        )

    wait_until(settled, timeout=60, what="the demo instances to settle")
    failed = CompensationRecord.objects.get(status="failed")
    assert failed.activity == "refund_payment"
    assert Instance.objects.get(name="deployment_monitor").status == "running"
    assert Instance.objects.get(name="process_files").output["failed"][0]["index"] == 7
