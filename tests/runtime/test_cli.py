"""`manage.py durable ...`: JSON for scripts, one clear error line for mistakes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.support import workers
from tests.support.checks import instance, kinds
from tests.support.driver import drive
from tests.support.private_services import free_port
from workflows.management.commands.durable import DATABASE_UNAVAILABLE, check_tags
from workflows.models import Instance

# The broker only changes transport: with worker processes these run in the Redis suite.
pytestmark = pytest.mark.one_real_broker


def durable(*args: str) -> str:
    out = StringIO()
    call_command("durable", *args, stdout=out)
    return out.getvalue()


def durable_json(*args: str):  # noqa: ANN201 - parsed JSON
    return json.loads(durable(*args, "--json"))


def test_start_status_and_list_as_json(client):
    started = durable_json("start", "t_chain", "--input", "4", "--business-key", "order-7")
    iid = started["instance_id"]
    assert instance(iid).input == 4
    state = durable_json("status", iid)
    assert (state["instance_id"], state["name"], state["status"]) == (iid, "t_chain", "pending")
    assert state["business_key"] == "order-7"
    drive()
    state = durable_json("status", iid, "--history")
    assert (state["status"], state["output"]) == ("completed", 6)
    assert [e["kind"] for e in state["history"]] == kinds(iid)
    listed = durable_json("list", "--business-key", "order-7")
    assert [item["instance_id"] for item in listed] == [iid]
    assert "completed" in durable("status", iid)  # the human form too


def test_start_with_an_id_and_wait_for_the_result(client, running_workers):
    state = durable_json("start", "t_chain", "--input", "5", "--id", "cli-1", "--wait", "30")
    assert (state["instance_id"], state["status"], state["output"]) == ("cli-1", "completed", 10)
    human = durable("start", "t_chain", "--input", "0", "--id", "cli-2", "--wait", "30")
    assert human.strip() == "cli-2 completed 0"


def test_raise_event_terminate_suspend_resume_and_purge(client):
    waiting = durable_json("start", "t_collect", "--input", "2")["instance_id"]
    drive()
    assert durable_json("suspend", waiting, "--reason", "look")["done"] == "suspend"
    sent = durable_json("raise-event", waiting, "item", "--data", '{"n": 1}', "--event-id", "e1")
    assert sent["outcome"] == "delivered"
    assert durable_json("raise-event", waiting, "item", "--event-id", "e1")["outcome"] == (
        "duplicate"
    )
    assert durable_json("resume", waiting)["done"] == "resume"
    drive()
    assert kinds(waiting).count("event_raised") == 1
    durable("terminate", waiting, "--reason", "enough")
    assert client.get_status(waiting).status == "terminated"
    assert durable_json("purge", waiting) == {"purged": 1}
    assert not Instance.objects.filter(instance_id=waiting).exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("start", "t_chain", "--input", "{bad"), ["--input", "not valid JSON"]),
        (("start", "nope"), ["No orchestrator 'nope'"]),
        (("start", "t_chain", "--id", "bad id"), ["Invalid instance id"]),
        (("status", "missing"), ["No instance 'missing'"]),
        (("raise-event", "missing", "go"), ["No instance 'missing'"]),
        (("terminate", "missing"), ["No instance 'missing'"]),
        (("purge", "--finished-before", "yesterday"), ["--finished-before", "ISO"]),
        (("worker", "--threads", "0"), ["--activity-threads", "got 0"]),
        (("worker", "--orchestration-threads", "-1"), ["--orchestration-threads"]),
        (("serve", "--activity-threads", "0"), ["--activity-threads"]),
    ],
)
def test_mistakes_are_one_clear_command_error(client, args, words):
    with pytest.raises(CommandError) as caught:
        durable(*args)
    for word in words:
        assert word in str(caught.value)
    assert not Instance.objects.exists()


def test_bad_event_data_and_a_finished_instance_are_refused(client):
    iid = client.start("t_chain", 1)
    drive()
    with pytest.raises(CommandError, match="--data"):
        durable("raise-event", iid, "go", "--data", "[1,")
    with pytest.raises(CommandError, match="already finished"):
        durable("raise-event", iid, "go", "--data", "1")
    with pytest.raises(CommandError, match="already finished"):
        durable("terminate", iid)


def test_waiting_too_long_is_a_command_error_not_a_traceback(client):
    with pytest.raises(CommandError, match="still pending after 0.2 s") as caught:
        durable("start", "t_wait_event", "--input", "0", "--wait", "0.2")
    assert "durable status" in str(caught.value)
    assert Instance.objects.get().status == "pending"  # it goes on; nothing was undone


def test_the_real_command_line_exits_non_zero_with_the_message(client):
    result = subprocess.run(
        [sys.executable, "manage.py", "durable", "status", "missing", "--json"],
        cwd=workers.ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "DATABASE_URL": workers.test_database_url(),
            "DURABLE_WORKFLOW_MODULES": workers.TEST_WORKFLOW_MODULES,
        },
    )
    assert result.returncode == 1
    assert "No instance 'missing'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "url",
    [f"postgres://postgres@127.0.0.1:{free_port()}/gone", "sqlite:////nonexistent-folder/db"],
    ids=["postgres-refused", "sqlite-missing"],
)
def test_the_database_away_is_one_line_and_exit_status_3(url):
    """A real refused connection (a closed port) and a real missing file, no stand-in."""
    result = subprocess.run(
        [sys.executable, "manage.py", "durable", "list"],
        cwd=workers.ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DATABASE_URL": url},
    )
    assert result.returncode == DATABASE_UNAVAILABLE == 3
    assert "The database cannot be reached (" in result.stderr
    assert "Check DATABASE_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_on_a_taken_port_says_so_and_changes_nothing(transactional_db):
    """Checked before the demo data is seeded or the worker starts; daphne alone only
    logged it and exited 0."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "manage.py", "durable", "serve", "--port", str(port)],
            cwd=workers.ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "DATABASE_URL": workers.test_database_url()},
        )
    assert result.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{port} (Address already in use)" in result.stderr
    assert "choose another port with --port" in result.stderr
    assert "Traceback" not in result.stderr
    assert not Instance.objects.exists()  # no demo data


def test_only_serve_runs_the_checks_of_what_serves_pages():
    worker = set(check_tags("worker"))
    assert check_tags("serve") is None  # every check
    assert not worker & {"urls", "admin", "templates", "staticfiles"}
    # The settings check (workflows.conf, "compatibility") and the models' still run.
    assert {"compatibility", "models", "database", "security"} <= worker
