"""The API's one error shape, and the table from client errors to status codes."""

import pytest

from workflows import rules
from workflows.api.errors import ERROR_STATUSES, error_code, status_for
from workflows.engine.errors import (
    ClientError,
    InstanceExists,
    InstanceFinished,
    InstanceNotFound,
    InvalidInput,
    InvalidState,
    NotAllowed,
    UnknownOrchestratorError,
)
from workflows.rules import InputTooLarge


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidInput("bad"), 400),
        (UnknownOrchestratorError("x"), 400),
        (InstanceNotFound("x"), 404),
        (InstanceExists("x", "running"), 409),
        (InvalidState("no"), 409),
        (InstanceFinished("x", "completed", "terminate it"), 409),
        (ClientError("some new refusal"), 400),
        (ValueError("a bug"), None),
    ],
)
def test_status_for_the_most_specific_class(error, status):
    assert status_for(error) == status


def test_a_view_may_override_one_class():
    finished = InstanceFinished("x", "completed", "deliver event")

    assert status_for(finished, {InstanceFinished: 410}) == 410
    assert status_for(InvalidState("no"), {InstanceFinished: 410}) == 409


def test_error_codes_come_from_class_names():
    assert error_code(InstanceNotFound) == "instance_not_found"
    assert error_code(UnknownOrchestratorError) == "unknown_orchestrator"
    assert error_code(InvalidInput) == "invalid_input"


@pytest.mark.django_db
def test_unknown_api_paths_are_json_404(api):
    response = api.get("/api/v1/nothing/here/")

    assert response.status_code == 404
    assert response.json() == {
        "error": "not_found",
        "detail": "No API endpoint at /api/v1/nothing/here/.",
    }


@pytest.mark.django_db
def test_a_missing_trailing_slash_is_explained_not_redirected(api):
    response = api.post("/api/v1/instances", {"name": "t_chain"}, format="json")

    assert response.status_code == 404
    assert "API paths end with a slash: /api/v1/instances/" in response.json()["detail"]


@pytest.mark.django_db
def test_a_wrong_method_is_405_in_the_same_shape(api):
    response = api.put("/api/v1/instances/", {}, format="json")

    assert response.status_code == 405
    assert response.json() == {"error": "method_not_allowed", "detail": 'Method "PUT" not allowed.'}


ONE_OF_EACH = [
    InvalidInput("bad"),
    InputTooLarge("input", 2000, 1000),
    UnknownOrchestratorError("x"),
    InstanceNotFound("x"),
    InstanceExists("x", "running"),
    InvalidState("no"),
    InstanceFinished("x", "completed", "terminate it"),
    NotAllowed("not yours"),
    ClientError("some new refusal"),
]


def test_api_and_ui_answer_every_refusal_from_the_one_table():
    from workflows.ui.http import status_of

    assert ERROR_STATUSES is rules.ERROR_STATUSES
    for error in ONE_OF_EACH:
        expected = rules.http_status(error)
        assert status_for(error) == expected, error
        assert status_of(error) == expected, error


def test_an_instance_that_exists_is_a_conflict_in_the_ui_too():
    from workflows.ui.http import status_of

    assert status_of(InstanceExists("order-1", "running")) == 409


@pytest.mark.django_db
@pytest.mark.parametrize("error", ["OperationalError", "InterfaceError"])
def test_the_database_away_is_a_503_to_retry_not_a_500(api, monkeypatch, error):
    """A refused or lost connection (a restart, no connection slots left: a loaded test
    machine once answered 500 here) is the server's trouble, not the request's."""
    from django import db

    from workflows.client import DurableClient

    def away(*args, **kwargs):
        raise getattr(db, error)("connection failed: sorry, too many clients already")

    monkeypatch.setattr(DurableClient, "get_status", away)
    response = api.get("/api/v1/instances/some-id/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"] == "database_unavailable"
    assert "too many clients" not in response.json()["detail"]  # no server internals
