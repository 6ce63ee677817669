"""/api/v1/schedules/: create, read, change, pause/resume, trigger, backfill, delete; each
bad field a 400 naming it with nothing created; permissions (manage_schedule to change,
view_instance to read, view_payloads for the input)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from tests.schedules.conftest import grant
from workflows.models import Instance
from workflows.schedules.models import Schedule

pytestmark = pytest.mark.django_db

URL = "/api/v1/schedules/"
BODY = {
    "id": "nightly",
    "orchestrator": "s_quick",
    "cron": "30 2 * * *",
    "timezone": "Europe/Berlin",
    "input": {"keep_days": 30},
    "overlap": "skip",
    "catchup": "latest",
    "note": "retention",
}


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
def manager(make_api) -> APIClient:
    return make_api("mia", "manage_schedule", "view_instance", "view_payloads")


def test_create_read_list_update_and_delete(manager):
    created = manager.post(URL, BODY, format="json")
    assert created.status_code == 201, created.json()
    assert created["Location"].endswith("/api/v1/schedules/nightly/")
    data = created.json()
    assert (data["id"], data["orchestrator"], data["paused"]) == ("nightly", "s_quick", False)
    assert data["spec"]["input"] == {"keep_days": 30}
    assert len(data["upcoming"]) == 5 and data["next_run_at"] == data["upcoming"][0]

    assert manager.get(f"{URL}nightly/").json()["spec"]["cron"] == "30 2 * * *"
    assert [s["id"] for s in manager.get(URL).json()["results"]] == ["nightly"]

    changed = manager.patch(f"{URL}nightly/", {"cron": "0 4 * * *"}, format="json")
    assert changed.status_code == 200
    assert changed.json()["spec"]["cron"] == "0 4 * * *"
    assert changed.json()["spec"]["timezone"] == "Europe/Berlin"  # the others stay

    assert manager.delete(f"{URL}nightly/").status_code == 204
    assert manager.get(f"{URL}nightly/").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cron": "99 * * * *"}, "cron"),
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"start_at": "2030-02-01T00:00:00Z", "end_at": "2030-01-01T00:00:00Z"}, "end_at"),
        ({"orchestrator": "no_such_thing"}, "orchestrator"),
        ({"overlap": "sometimes"}, "overlap"),
        ({"id": "has space"}, "id"),
        ({"interval": 60}, "cron"),  # both cron and interval
        ({"catchup_window": -1}, "catchup_window"),
        ({"cronn": "* * * * *"}, "cronn"),
    ],
)
def test_a_bad_field_is_a_400_naming_it_and_nothing_is_created(manager, change, field):
    answer = manager.post(URL, {**BODY, **change}, format="json")
    assert answer.status_code == 400, answer.json()
    assert field in answer.json()["fields"]
    assert field in answer.json()["detail"] or answer.json()["fields"][field]
    assert not Schedule.objects.exists()


def test_a_taken_id_is_a_409(manager):
    manager.post(URL, BODY, format="json")
    assert manager.post(URL, BODY, format="json").status_code == 409


def test_a_bad_patch_changes_nothing(manager):
    manager.post(URL, BODY, format="json")
    answer = manager.patch(f"{URL}nightly/", {"timezone": "Nowhere/Else"}, format="json")
    assert answer.status_code == 400 and "timezone" in answer.json()["fields"]
    assert Schedule.objects.get().timezone == "Europe/Berlin"


def test_the_list_filters_by_paused_and_refuses_an_empty_value(manager):
    manager.post(URL, BODY, format="json")
    manager.post(URL, {**BODY, "id": "hourly", "cron": "0 * * * *"}, format="json")
    manager.post(f"{URL}nightly/pause/", {}, format="json")

    def ids(query: str) -> list[str]:
        return sorted(s["id"] for s in manager.get(f"{URL}{query}").json()["results"])

    assert ids("") == ["hourly", "nightly"]
    assert ids("?paused=true") == ["nightly"] and ids("?paused=false") == ["hourly"]
    empty = manager.get(f"{URL}?paused=")
    assert empty.status_code == 400 and "paused" in empty.json()["fields"]


def test_pause_resume_trigger_and_backfill(manager):
    manager.post(URL, {**BODY, "overlap": "allow_all"}, format="json")

    paused = manager.post(f"{URL}nightly/pause/", {"note": "db migration"}, format="json")
    assert paused.status_code == 200
    assert (paused.json()["paused"], paused.json()["paused_by"]) == (True, "mia")
    assert paused.json()["paused_note"] == "db migration" and paused.json()["next_run_at"] is None
    resumed = manager.post(f"{URL}nightly/resume/", {}, format="json")
    assert resumed.json()["paused"] is False and resumed.json()["next_run_at"]

    triggered = manager.post(f"{URL}nightly/trigger/").json()
    assert triggered["outcome"] == "started"
    assert Instance.objects.get(instance_id=triggered["instance_id"]).name == "s_quick"
    assert triggered["instance_id"].startswith("nightly@")

    window = {"start": "2026-01-01T00:00:00Z", "end": "2026-01-03T23:59:00Z"}
    filled = manager.post(f"{URL}nightly/backfill/", window, format="json")
    assert filled.status_code == 200
    assert filled.json() == {"started": 3, "skipped": 0, "buffered": 0, "already": 0, "times": 3}
    again = manager.post(f"{URL}nightly/backfill/", window, format="json").json()
    assert (again["started"], again["already"]) == (0, 3)
    assert Instance.objects.filter(instance_id__startswith="nightly@2026-01-0").count() == 3

    future = {"start": "2026-01-01T00:00:00Z", "end": "2999-01-01T00:00:00Z"}
    refused = manager.post(f"{URL}nightly/backfill/", future, format="json")
    assert refused.status_code == 400 and "end" in refused.json()["fields"]


def test_who_may_do_what(make_api, manager):
    manager.post(URL, BODY, format="json")
    reader = make_api("rita", "view_instance")
    nobody = make_api("nick")

    assert reader.get(URL).status_code == 200
    assert reader.get(f"{URL}nightly/").json()["spec"]["input"] is None  # no view_payloads
    assert nobody.get(URL).status_code == 403
    for answer in (
        reader.post(URL, {**BODY, "id": "other"}, format="json"),
        reader.patch(f"{URL}nightly/", {"note": "x"}, format="json"),
        reader.post(f"{URL}nightly/pause/", {}, format="json"),
        reader.post(f"{URL}nightly/trigger/"),
        reader.delete(f"{URL}nightly/"),
    ):
        assert answer.status_code == 403
        assert "schedules.manage_schedule" in answer.json()["detail"]
    assert APIClient().get(URL).status_code == 401
    assert Schedule.objects.count() == 1 and not Schedule.objects.get().paused
