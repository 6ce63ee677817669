"""/api/v1/entities/: list, read, signal (202, signal_id), purge; bad input is a 4xx that
changes nothing; permissions (signal_entity to signal, view_instance to read,
view_payloads for the state, operate_instance to purge)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from tests.schedules.conftest import grant
from workflows.entities.batches import run_entity
from workflows.entities.models import Entity, EntityOperation

pytestmark = pytest.mark.django_db

URL = "/api/v1/entities/"


@pytest.fixture
def make_api(db) -> Callable[..., APIClient]:
    from django.contrib.auth import get_user_model

    from tests.support.tokens import token_for

    def make(username: str, *codenames: str) -> APIClient:
        user = get_user_model().objects.create_user(username)
        grant(user, *codenames)
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
        return api

    return make


@pytest.fixture
def operator(make_api) -> APIClient:
    return make_api("ola", "signal_entity", "view_instance", "view_payloads", "operate_instance")


def _apply(name: str, key: str) -> None:
    row = Entity.objects.get(name=name, key=key)
    run_entity(row.pk, row.task_hub)


def test_signal_read_list_and_purge(operator):
    response = operator.post(f"{URL}t_log/a/signals/append/", {"input": 5}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["queued"] is True
    assert response["Location"].endswith("/api/v1/entities/t_log/a/")
    pending = operator.get(f"{URL}t_log/a/").json()
    assert pending["queued_count"] == 1 and pending["queued"][0]["input"] == 5
    _apply("t_log", "a")
    body = operator.get(f"{URL}t_log/a/").json()
    assert body["state"] == [5] and body["version"] == 1 and body["lock_holder"] is None
    assert body["recent"][0]["operation"] == "append"
    listed = operator.get(URL, {"name": "t_log"}).json()["results"]
    assert [e["entity"] for e in listed] == ["@t_log@a"]
    assert operator.delete(f"{URL}t_log/a/").status_code == 204
    assert operator.get(f"{URL}t_log/a/").status_code == 404


def test_signal_id_makes_a_repeat_a_no_op(operator):
    body = {"input": 1, "signal_id": "pay-77"}
    assert operator.post(f"{URL}t_log/a/signals/append/", body, format="json").json()["queued"]
    again = operator.post(f"{URL}t_log/a/signals/append/", body, format="json")
    assert again.status_code == 202 and again.json()["queued"] is False
    assert EntityOperation.objects.count() == 1


@pytest.mark.parametrize(
    ("path", "body", "status", "text"),
    [
        ("nope/a/signals/append/", {}, 400, "No entity 'nope'"),
        ("t_log/a/signals/steal/", {}, 400, "has no operation 'steal'"),
        ("t_log/a/signals/append/", {"imput": 1}, 400, "imput"),
        ("t_log/a/signals/append/", {"signal_id": ""}, 400, "signal_id"),
    ],
)
def test_bad_signals_are_4xx_and_queue_nothing(operator, path, body, status, text):
    response = operator.post(f"{URL}{path}", body, format="json")
    assert response.status_code == status
    assert text in response.content.decode()
    assert not EntityOperation.objects.exists() and not Entity.objects.exists()


def test_reading_an_unknown_entity_is_404_and_bad_filters_400(operator):
    assert operator.get(f"{URL}t_log/none/").status_code == 404
    assert operator.get(URL, {"limit": 0}).status_code == 400


def test_permissions(make_api, operator):
    operator.post(f"{URL}t_log/a/signals/append/", {"input": 1}, format="json")
    _apply("t_log", "a")
    reader = make_api("rita", "view_instance")
    body = reader.get(f"{URL}t_log/a/").json()
    assert body["state"] is None and body["version"] == 1  # state is a payload
    refused = reader.post(f"{URL}t_log/a/signals/append/", {"input": 2}, format="json")
    assert refused.status_code == 403 and "entities.signal_entity" in refused.json()["detail"]
    assert reader.delete(f"{URL}t_log/a/").status_code == 403
    nobody = make_api("nick")
    assert nobody.get(f"{URL}t_log/a/").status_code == 403
    assert APIClient().get(URL).status_code == 401
    assert EntityOperation.objects.count() == 0


def test_purge_is_refused_while_a_running_orchestration_holds_the_lock(operator, client):
    from workflows.models import Instance

    iid = client.start("t_hold", "locked")
    Instance.objects.filter(instance_id=iid).update(status="running")
    Entity.objects.create(task_hub=client.hub, name="t_log", key="locked", lock_holder=iid)
    response = operator.delete(f"{URL}t_log/locked/")
    assert response.status_code == 409 and iid in response.json()["detail"]
