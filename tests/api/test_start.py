"""POST /api/v1/instances/: 202 + Location + Retry-After, and every way to get it wrong."""

import json

import pytest

from .support import instance_count

pytestmark = pytest.mark.django_db

START = "/api/v1/instances/"


def test_start_answers_202_with_location_retry_after_and_links(api):
    response = api.post(START, {"name": "t_chain", "input": 2}, format="json")

    assert response.status_code == 202
    body = response.json()
    iid = body["id"]
    status_url = f"http://testserver/api/v1/instances/{iid}/"
    assert response["Location"] == status_url
    assert int(response["Retry-After"]) >= 1
    assert body["links"] == {
        "status": status_url,
        "history": f"{status_url}history/",
        "send_event": f"{status_url}events/{{event}}/",
        "terminate": f"{status_url}terminate/",
        "suspend": f"{status_url}suspend/",
        "resume": f"{status_url}resume/",
        "rewind": f"{status_url}rewind/",
        "restart": f"{status_url}restart/",
        "purge": status_url,
    }


def test_start_with_own_id_business_key_and_version(api, durable):
    response = api.post(
        START,
        {
            "name": "t_wait_event",
            "input": None,
            "instance_id": "order-42",
            "business_key": "po-9",
            "version": 1,
        },
        format="json",
    )

    assert response.status_code == 202
    assert response.json()["id"] == "order-42"
    state = durable.get_status("order-42")
    assert (state.name, state.business_key, state.version) == ("t_wait_event", "po-9", 1)


def test_start_with_an_active_id_is_409_and_changes_nothing(api, waiting):
    response = api.post(START, {"name": "t_chain", "instance_id": waiting}, format="json")

    assert response.status_code == 409
    assert response.json()["error"] == "instance_exists"
    assert waiting in response.json()["detail"]
    assert instance_count() == 1


def audit(action: str) -> list[tuple[str, dict]]:
    from workflows.models import AuditEntry

    return list(AuditEntry.objects.filter(action=action).values_list("actor", "detail"))


def test_a_finished_id_is_409_without_replace_even_for_an_operator(api, durable, finished):
    before = durable.get_status(finished)

    response = api.post(START, {"name": "t_chain", "instance_id": finished}, format="json")

    assert response.status_code == 409
    assert response.json()["error"] == "finished_instance_exists"
    detail = response.json()["detail"]
    assert finished in detail and "finished (terminated)" in detail
    assert '"replace": true' in detail and "operator" in detail
    assert durable.get_status(finished).execution_id == before.execution_id


def test_replacing_a_finished_id_needs_operate_instance(make_api, durable, finished):
    starter = make_api("start_instance")
    before = durable.get_status(finished)

    plain = starter.post(START, {"name": "t_chain", "instance_id": finished}, format="json")
    replacing = starter.post(
        START, {"name": "t_chain", "instance_id": finished, "replace": True}, format="json"
    )

    assert plain.status_code == 409  # the same refusal as the UI's and the CLI's
    assert replacing.status_code == 403
    assert replacing.json()["error"] == "not_allowed"
    assert "workflows.operate_instance" in replacing.json()["detail"]
    after = durable.get_status(finished)
    assert (after.status, after.execution_id, after.input) == ("terminated", before.execution_id, 3)
    assert audit("replace") == []
    assert (
        starter.post(START, {"name": "t_chain", "instance_id": "new-1"}, format="json").status_code
        == 202
    )


def test_an_operator_replaces_with_replace_and_it_is_audited(api, durable, finished):
    old = durable.get_status(finished).execution_id

    response = api.post(
        START, {"name": "t_chain", "instance_id": finished, "replace": True}, format="json"
    )

    assert response.status_code == 202
    assert durable.get_status(finished).status == "pending"
    [(actor, detail)] = audit("replace")
    assert (actor, detail["replaced_execution_id"]) == ("operator", old)


def test_every_start_is_audited_with_its_user(api):
    iid = api.post(START, {"name": "t_chain"}, format="json").json()["id"]

    from workflows.models import AuditEntry

    entry = AuditEntry.objects.get(instance_ref=iid)
    assert (entry.action, entry.user, entry.detail["name"]) == ("start", api.user, "t_chain")


def test_replace_must_be_a_boolean(api, finished):
    response = api.post(
        START, {"name": "t_chain", "instance_id": finished, "replace": "yes"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["detail"].startswith("replace")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_instance_finishing_during_a_start_is_not_replaced(make_api, durable):
    """The race the old API check lost: it read "running" before client.start locked the
    row; the instance finished meanwhile and a mere starter replaced it. The rule now runs
    under the row lock, so the start sees the finished instance and refuses."""
    import threading

    from django.db import connection, transaction

    from workflows.models import Instance

    iid = durable.start("t_wait_event", None, instance_id="race-1")
    Instance.objects.filter(instance_id=iid).update(status="running")
    old = durable.get_status(iid).execution_id
    starter = make_api("start_instance")
    answers = []

    def start() -> None:
        try:
            body = {"name": "t_chain", "instance_id": iid}
            answers.append(starter.post(START, body, format="json"))
        finally:
            connection.close()

    with transaction.atomic():  # an episode finishing the instance holds its row
        Instance.objects.select_for_update().get(instance_id=iid)
        thread = threading.Thread(target=start)
        thread.start()
        wait_for_a_blocked_backend()
        Instance.objects.filter(instance_id=iid).update(status="completed")
    thread.join(timeout=30)

    [response] = answers
    assert response.status_code == 409, response.content
    assert response.json()["error"] == "finished_instance_exists"
    state = durable.get_status(iid)
    assert (state.status, state.execution_id) == ("completed", old)


def wait_for_a_blocked_backend(timeout: float = 10.0) -> None:
    """Until another connection waits for a row lock (the start, at its SELECT ... FOR
    UPDATE); the old code had read the status by then."""
    import time

    from django.db import connections

    deadline = time.monotonic() + timeout
    with connections["default"].cursor() as cursor:
        while time.monotonic() < deadline:
            # Within a transaction the activity view is a snapshot: refresh it each time.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid() "
                "AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the start never waited for the instance row")


def test_unknown_orchestrator_is_400_naming_it(api):
    response = api.post(START, {"name": "no_such_flow"}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "unknown_orchestrator"
    assert "'no_such_flow'" in body["detail"]
    assert instance_count() == 0


def test_unknown_version_is_400(api):
    response = api.post(START, {"name": "t_chain", "version": 99}, format="json")

    assert response.status_code == 400
    assert "version 99" in response.json()["detail"]


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({}, "name", "required"),
        ({"name": ""}, "name", "blank"),
        ({"name": 123}, "name", "string"),
        ({"name": "t_chain", "version": "1"}, "version", "integer"),
        ({"name": "t_chain", "version": True}, "version", "integer"),
        ({"name": "t_chain", "version": 0}, "version", "greater than or equal to 1"),
        ({"name": "t_chain", "instance_id": "bad id!"}, "instance_id", "Not a valid id"),
        ({"name": "t_chain", "instance_id": "ok\n"}, "instance_id", "Not a valid id"),
        ({"name": "t_chain", "business_key": "x" * 201}, "business_key", "200"),
        ({"name": "t_chain", "imput": 1}, "imput", "Unknown field"),
        ({"name": "t_chain", "input": {"a": "nul\u0000"}}, "input", "NUL"),
        ({"name": "t_chain", "input": {"nul\u0000": 1}}, "input", "NUL"),
        ({"name": "t_chain", "input": "\ud800"}, "input", "surrogate"),
        ({"name": "t_chain", "input": nested(150)}, "input", "deeper than 100"),
    ],
    ids=lambda value: str(value)[:40] if isinstance(value, dict) else None,
)
def test_bad_bodies_are_400_naming_the_field(api, body, field, words):
    response = api.post(START, json.dumps(body), content_type="application/json")

    assert response.status_code == 400, response.content
    result = response.json()
    assert result["error"] == "invalid_input"
    assert field in result["fields"]
    assert words in result["detail"]
    assert result["detail"].startswith(field)
    assert instance_count() == 0


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"name": "t_chain",', "JSON parse error"),
        (b"[1, 2]", "Expected a dictionary"),
        (b"null", "No data provided"),
        (b'"t_chain"', "Expected a dictionary"),
        (b"[" * 5000 + b"]" * 5000, "JSON parse error"),
        (b'{"name": "t_chain", "input": NaN}', "JSON parse error"),
        (b'{"name": "t_chain", "input": 1e400}', "input"),
        (b'{"name": "t_chain", "input": "\xff"}', "JSON parse error"),
    ],
    ids=["truncated", "list", "null", "string", "too-deep", "nan", "infinity", "not-utf8"],
)
def test_malformed_json_is_400(api, body, words):
    response = api.post(START, body, content_type="application/json")

    assert response.status_code == 400, response.content
    assert words in response.json()["detail"]
    assert instance_count() == 0


def test_malformed_json_says_so(api):
    response = api.post(START, b'{"name": ', content_type="application/json")

    assert response.json()["error"] == "malformed_json"


def test_a_body_that_is_not_json_is_415(api):
    response = api.post(START, "name=t_chain", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


def test_an_oversized_payload_is_413_naming_the_limit(api, settings):
    settings.DURABLE_MAX_PAYLOAD_BYTES = 1000

    response = api.post(START, {"name": "t_chain", "input": "x" * 1200}, format="json")

    assert response.status_code == 413
    assert response.json()["error"] == "request_too_large"
    assert "input" in response.json()["detail"]
    assert "1000 bytes" in response.json()["detail"]
    assert instance_count() == 0


def test_an_oversized_body_is_413_before_it_is_read(api, settings):
    settings.DURABLE_API_MAX_BODY_BYTES = 500
    body = json.dumps({"name": "t_chain", "input": "x" * 600}).encode()

    response = api.post(START, body, content_type="application/json")

    assert response.status_code == 413
    assert f"{len(body)} bytes" in response.json()["detail"]
    assert instance_count() == 0


def test_the_default_body_limit_leaves_room_for_a_maximal_pretty_printed_payload(api, settings):
    settings.DURABLE_MAX_PAYLOAD_BYTES = 10_000
    payload = {"items": ["y" * 80] * 100}  # ~8.5 KB compact, more when indented
    body = json.dumps({"name": "t_chain", "input": payload}, indent=8).encode()

    response = api.post(START, body, content_type="application/json")

    assert response.status_code == 202
