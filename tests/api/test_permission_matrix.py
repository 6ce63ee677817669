"""The API's permission matrix: every endpoint for every kind of caller, in one table.

README's "Who may do what" says the same in words. Roles:

- anonymous: no credentials
- nobody: signed in, no permission, no group
- approver: member of "managers", which has a pending request on claim-1
- viewer: workflows.view_instance
- starter: workflows.start_instance
- operator: start_instance, view_payloads, raise_event, operate_instance (the demo's group;
  operate_instance lets them see instances as view_instance does)
- admin: a superuser
"""

# ruff: noqa: E501 - the matrix is a table, one line per endpoint

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "nobody", "approver", "viewer", "starter", "operator", "admin")
PERMISSIONS = {
    "nobody": (),
    "approver": (),
    "viewer": ("view_instance",),
    "starter": ("start_instance",),
    "operator": ("start_instance", "view_payloads", "raise_event", "operate_instance"),
}

I = "/api/v1/instances/"  # noqa: E741 - short, so the table stays one line per endpoint
A = "/api/v1/approvals/{approval}/"
C = "/api/v1/compensations/{record}/"
NOTE = {"note": "done by hand"}
REUSE = {"name": "t_chain", "instance_id": "finished-1"}

# fmt: off
MATRIX = [
    # endpoint                  method    path                          body                                  anon nobody appr view start oper admin
    ("list instances",          "get",    I,                            None,                                  401, 200,   200, 200, 200,  200, 200),
    ("start",                   "post",   I,                            {"name": "t_chain"},                   401, 403,   403, 403, 202,  202, 202),
    ("start on a finished id",  "post",   I,                            REUSE,                                 401, 403,   403, 403, 409,  409, 409),
    ("replace a finished one",  "post",   I,                            {**REUSE, "replace": True},            401, 403,   403, 403, 403,  202, 202),
    ("status",                  "get",    I + "waiting-1/",             None,                                  401, 403,   403, 202, 403,  202, 202),
    ("status, own approval",    "get",    I + "claim-1/",               None,                                  401, 403,   202, 202, 403,  202, 202),
    ("status, unknown id",      "get",    I + "nobody-here/",           None,                                  401, 403,   403, 404, 403,  404, 404),
    ("history",                 "get",    I + "waiting-1/history/",     None,                                  401, 403,   403, 200, 403,  200, 200),
    ("history, own approval",   "get",    I + "claim-1/history/",       None,                                  401, 403,   200, 200, 403,  200, 200),
    ("raise an event",          "post",   I + "waiting-1/events/go/",   {"data": 1},                           401, 403,   403, 403, 403,  202, 202),
    ("suspend",                 "post",   I + "waiting-1/suspend/",     {},                                    401, 403,   403, 403, 403,  200, 200),
    ("resume (not suspended)",  "post",   I + "waiting-1/resume/",      {},                                    401, 403,   403, 403, 403,  409, 409),
    ("terminate",               "post",   I + "waiting-1/terminate/",   {},                                    401, 403,   403, 403, 403,  200, 200),
    ("rewind (not failed)",     "post",   I + "finished-1/rewind/",     {},                                    401, 403,   403, 403, 403,  409, 409),
    ("restart",                 "post",   I + "finished-1/restart/",    {},                                    401, 403,   403, 403, 403,  202, 202),
    ("purge",                   "delete", I + "finished-1/",            None,                                  401, 403,   403, 403, 403,  204, 204),
    ("list approvals",          "get",    "/api/v1/approvals/",         None,                                  401, 200,   200, 200, 200,  200, 200),
    ("read an approval",        "get",    A,                            None,                                  401, 403,   200, 200, 403,  200, 200),
    ("decide an approval",      "post",   A + "decision/",              {"approve": True},                     401, 403,   200, 403, 403,  403, 200),
    ("list compensations",      "get",    "/api/v1/compensations/",     None,                                  401, 403,   403, 403, 403,  200, 200),
    ("read a compensation",     "get",    C,                            None,                                  401, 403,   403, 403, 403,  200, 200),
    ("retry a compensation",    "post",   C + "retry/",                 {},                                    401, 403,   403, 403, 403,  200, 200),
    ("resolve a compensation",  "post",   C + "resolve/",               NOTE,                                  401, 403,   403, 403, 403,  200, 200),
    ("skip a compensation",     "post",   C + "skip/",                  NOTE,                                  401, 403,   403, 403, 403,  200, 200),
    ("the OpenAPI schema",      "get",    "/api/schema/",               None,                                  401, 200,   200, 200, 200,  200, 200),
    ("the API docs",            "get",    "/api/docs/",                 None,                                  401, 200,   200, 200, 200,  200, 200),
    ("an unknown path",         "get",    "/api/v1/nothing/",           None,                                  404, 404,   404, 404, 404,  404, 404),
]
# fmt: on

# What the lists hold for each caller (the matrix says they answer 200).
EVERY_INSTANCE = ["claim-1", "finished-1", "order-1", "waiting-1"]
LISTED = {
    "list instances": {
        "nobody": [],
        "approver": ["claim-1"],
        "viewer": EVERY_INSTANCE,
        "starter": [],
        "operator": EVERY_INSTANCE,
        "admin": EVERY_INSTANCE,
    },
    "list approvals": {"approver": ["claim-1"], "admin": ["claim-1"]},  # others: []
}
# The error codes a refusal may carry, by status.
ERRORS = {
    401: {"not_authenticated"},
    403: {"permission_denied", "not_allowed"},
    404: {"not_found", "instance_not_found"},
    409: {"invalid_state", "instance_exists", "finished_instance_exists"},
}
CELLS = [
    pytest.param(label, method, path, body, role, statuses[i], id=f"{label} | {role}")
    for label, method, path, body, *statuses in MATRIX
    for i, role in enumerate(ROLES)
]


@pytest.fixture
def state(durable, waiting, finished) -> dict[str, Any]:
    """waiting-1 (pending), finished-1 (terminated), claim-1 (running, a pending request of
    "managers"), order-1 (running, a failed compensation)."""
    from workflows.models import ApprovalRequest, CompensationRecord, Instance

    for iid in ("claim-1", "order-1"):
        durable.start("t_wait_event", {"card": "4111"}, instance_id=iid)
    Instance.objects.filter(instance_id__in=("claim-1", "order-1")).update(status="running")
    claim = Instance.objects.get(instance_id="claim-1")
    approval = ApprovalRequest.objects.create(
        instance=claim,
        execution_id=claim.execution_id,
        task_id=3,
        request_id=f"claim-1:{claim.execution_id}:3",
        name="expense",
        assignees="managers",
        details={"amount": 120},
        deadline=timezone.now() + timedelta(hours=2),
    )
    order = Instance.objects.get(instance_id="order-1")
    record = CompensationRecord.objects.create(
        instance=order,
        execution_id=order.execution_id,
        task_id=2,
        compensation_id=f"order-1:{order.execution_id}:comp:2",
        step="release",
        activity="t_release",
        order=1,
        status="failed",
        attempts=1,
        last_error={"type": "Error", "message": "down"},
    )
    return {"approval": approval.pk, "record": record.pk}


def caller(role: str, make_api) -> APIClient:
    if role == "anonymous":
        return APIClient()
    if role == "admin":
        return make_api(superuser=True, username="root")
    api = make_api(*PERMISSIONS[role], username=role)
    if role == "approver":
        from django.contrib.auth.models import Group

        api.user.groups.add(Group.objects.get_or_create(name="managers")[0])
    return api


@pytest.mark.parametrize(("label", "method", "path", "body", "role", "expected"), CELLS)
def test_who_may_call_what(make_api, state, label, method, path, body, role, expected):
    api = caller(role, make_api)
    path = path.format(**state)

    if body is None:
        response = getattr(api, method)(path)
    else:
        response = getattr(api, method)(path, body, format="json")

    assert response.status_code == expected, f"{label} as {role}: {response.content[:300]!r}"
    if expected >= 400 and response["Content-Type"] == "application/json":  # not the docs
        assert response.json()["error"] in ERRORS[expected], (label, role, response.content)
    if label in LISTED and expected == 200:
        key = "instance_id" if label == "list approvals" else "id"
        found = sorted(item[key] for item in response.json()["results"])
        assert found == LISTED[label].get(role, []), (label, role)
