"""Start page: registered workflows, JSON input checked with a clear message."""

from __future__ import annotations

import pytest

from tests.ui.support import text
from workflows.models import Instance

pytestmark = pytest.mark.django_db


def test_the_form_lists_registered_workflows_with_their_description(operator):
    response = operator.get("/start/?name=ui_expense")

    html = text(response)
    assert '<option value="ui_expense" selected>' in html
    assert "An expense claim that a manager approves" in html


def test_starting_redirects_to_the_new_instance(operator):
    response = operator.post(
        "/start/",
        {
            "name": "ui_expense",
            "input": '{"amount": 120}',
            "instance_id": "claim-7",
            "business_key": "EXP-7",
        },
        follow=True,
    )

    assert response.redirect_chain[0][0] == "/instances/claim-7/"
    assert "Started ui_expense as claim-7" in text(response)
    instance = Instance.objects.get(instance_id="claim-7")
    assert (instance.input, instance.business_key) == ({"amount": 120}, "EXP-7")


def test_without_an_id_a_random_one_is_made_and_empty_input_is_null(operator):
    response = operator.post("/start/", {"name": "t_chain", "input": ""})

    instance = Instance.objects.get()
    assert response["Location"] == f"/instances/{instance.instance_id}/"
    assert instance.input is None


def test_invalid_json_is_explained_and_nothing_starts(operator):
    response = operator.post("/start/", {"name": "t_chain", "input": "{'amount': 1}"})

    assert response.status_code == 400
    html = text(response)
    assert "The input is not valid JSON" in html
    assert "line 1, column 2" in html
    assert "{'amount': 1}" in html  # the input is kept for fixing
    assert not Instance.objects.exists()


def test_client_refusals_are_shown_on_the_form(operator, running):
    running("busy-1")

    taken = operator.post("/start/", {"name": "t_chain", "input": "1", "instance_id": "busy-1"})
    bad_id = operator.post("/start/", {"name": "t_chain", "input": "1", "instance_id": "no spaces"})
    unknown = operator.post("/start/", {"name": "no_such_flow", "input": "1"})

    assert "already exists and is running" in text(taken)
    assert "Invalid instance id" in text(bad_id)
    assert "Select a valid choice" in text(unknown)


def test_starting_needs_the_start_permission(viewer, client):
    assert viewer.get("/start/").status_code == 403
    assert viewer.post("/start/", {"name": "t_chain", "input": "1"}).status_code == 403
    assert client.get("/start/").status_code == 302
    assert not Instance.objects.exists()


def test_a_taken_id_is_409_like_the_api_and_the_running_instance_is_kept(operator, running):
    busy = running("busy-1")

    response = operator.post(
        "/start/", {"name": "ui_expense", "input": '{"amount": 5}', "instance_id": "busy-1"}
    )

    assert response.status_code == 409  # the API's InstanceExists status, not 400
    assert "already exists and is running" in text(response)
    kept = Instance.objects.get(instance_id="busy-1")
    assert (kept.pk, kept.name, kept.input) == (busy.pk, "t_chain", 3)


def test_a_bad_id_is_a_field_error_naming_the_character(operator):
    response = operator.post("/start/", {"name": "t_chain", "input": "1", "instance_id": "order/7"})

    assert response.status_code == 400
    html = text(response)
    assert "Invalid instance id 'order/7': it contains '/' (character 6)" in html
    assert 'class="field has-error"' in html  # shown at the field, not only on top
    assert not Instance.objects.exists()


def test_an_oversized_input_is_413_like_the_api(operator, settings):
    settings.DURABLE_MAX_PAYLOAD_BYTES = 100

    response = operator.post("/start/", {"name": "t_chain", "input": '"' + "x" * 200 + '"'})

    assert response.status_code == 413
    assert "over the limit of 100 bytes" in text(response)
    assert not Instance.objects.exists()


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("[" * 5000 + "]" * 5000, "The input is nested deeper than 100 levels"),
        ("[" * 150 + "]" * 150, "The input is nested deeper than 100 levels"),
        ('{"amount": ' + "1" * 5000 + "}", "a number of 5000 digits; at most 4300"),
        ('{"amount": NaN}', "The input contains NaN, which is not JSON"),
        ('{"amount": 1e400}', "The input contains an infinite number"),
        ('{"memo": "\\u0000"}', "The input contains a NUL character"),
    ],
    ids=["5000-deep", "150-deep", "5000-digits", "nan", "1e400", "nul"],
)
def test_json_the_api_refuses_is_a_field_error_not_a_500(operator, typed, words):
    """Deep nesting raised RecursionError and a 5000-digit number ValueError (both a 500):
    the form reads the input with the API's rules and shows why at the field."""
    response = operator.post("/start/", {"name": "t_chain", "input": typed})

    assert response.status_code == 400
    html = text(response)
    assert words in html
    assert 'class="field has-error"' in html  # next to the input, not only on top
    assert not Instance.objects.exists()


def test_a_business_key_with_a_newline_is_a_field_error(operator):
    """A newline in the key would forge a line in every text log line about the instance."""
    response = operator.post(
        "/start/",
        {"name": "t_chain", "input": "1", "business_key": "EXP-7\nERROR forged"},
    )

    assert response.status_code == 400
    html = text(response)
    assert "The business key contains '\\n' (character 6), a control character" in html
    assert 'class="field has-error"' in html
    assert not Instance.objects.exists()


def _signed_in(user):  # noqa: ANN001, ANN202 - a test client
    from django.test import Client

    browser = Client()
    browser.force_login(user)
    return browser


def test_a_starter_cannot_replace_a_finished_instance(make_user, running):
    """The id of a finished instance is refused like in the API and the CLI: its input,
    history and business key stay, and nothing is audited."""
    from workflows.models import AuditEntry

    done = running("done-1", status="completed", key="EXP-1")
    starter = _signed_in(make_user("sid", ("start_instance",)))
    body = {"name": "ui_expense", "input": '{"amount": 5}', "instance_id": "done-1"}

    plain = starter.post("/start/", body)
    ticked = starter.post("/start/", {**body, "replace": "on"})

    assert plain.status_code == 409
    assert "already exists and finished (completed)" in text(plain)
    assert "ask an operator" in text(plain)
    assert ticked.status_code == 403
    assert "workflows.operate_instance" in text(ticked)
    kept = Instance.objects.get(instance_id="done-1")
    assert (kept.pk, kept.name, kept.input, kept.business_key) == (done.pk, "t_chain", 3, "EXP-1")
    assert not AuditEntry.objects.exists()
    assert 'name="replace"' not in text(starter.get("/start/"))  # not offered either


def test_an_operator_replaces_only_with_the_replace_box_and_it_is_audited(operator, running):
    from workflows.models import AuditEntry

    done = running("done-1", status="completed")
    body = {"name": "ui_expense", "input": '{"amount": 5}', "instance_id": "done-1"}

    assert 'name="replace"' in text(operator.get("/start/"))
    assert operator.post("/start/", body).status_code == 409

    response = operator.post("/start/", {**body, "replace": "on"})

    assert response["Location"] == "/instances/done-1/"
    new = Instance.objects.get(instance_id="done-1")
    assert (new.name, new.input) == ("ui_expense", {"amount": 5})
    entry = AuditEntry.objects.get(action="replace")
    assert (entry.user, entry.instance, entry.detail["replaced_execution_id"]) == (
        operator.user,
        new,
        done.execution_id,
    )


def test_a_start_from_the_page_is_audited_with_its_user(operator):
    from workflows.models import AuditEntry

    operator.post("/start/", {"name": "t_chain", "input": "1", "instance_id": "mine-1"})

    entry = AuditEntry.objects.get(instance_ref="mine-1")
    assert (entry.action, entry.user) == ("start", operator.user)


def test_a_replace_value_that_is_no_checkbox_is_400(operator, running):
    running("done-1", status="completed")

    response = operator.post(
        "/start/", {"name": "t_chain", "input": "1", "instance_id": "done-1", "replace": "maybe"}
    )

    assert response.status_code == 400
    assert "Replace is a checkbox" in text(response)
    assert Instance.objects.get(instance_id="done-1").status == "completed"
