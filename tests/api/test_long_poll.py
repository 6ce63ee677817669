"""GET /api/v1/instances/{id}/?wait=N: answers as soon as the instance finishes (the
asynchronous pattern without polling), at most N seconds later; bad waits are 400."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from tests.support.checks import wait_until
from workflows.runtime import completions

from .support import url


@pytest.mark.parametrize("wait", ["abc", "-1", "30.5", "31", "nan", "inf", ""])
@pytest.mark.django_db
def test_a_bad_wait_is_400_naming_it(api, waiting, wait):
    response = api.get(url(waiting), {"wait": wait})

    assert response.status_code == 400
    body = response.json()
    assert body["error"] and "wait" in str(body["detail"])


@pytest.mark.django_db
def test_a_finished_instance_answers_at_once(api, finished):
    started = time.monotonic()
    response = api.get(url(finished), {"wait": "30"})

    assert response.status_code == 200
    assert time.monotonic() - started < 25  # not the full wait (generous: a shared machine)


@pytest.mark.django_db
def test_a_wait_that_runs_out_answers_202(api, waiting):
    response = api.get(url(waiting), {"wait": "0.2"})

    assert response.status_code == 202
    assert response.json()["status"] == "pending"


@pytest.mark.django_db(transaction=True)
def test_the_answer_comes_when_the_instance_finishes(api, durable, monkeypatch):
    # Woken only by the finish: without it the request would run out its 30 s as 202.
    monkeypatch.setattr(completions, "LISTENER_RECHECK", 3600.0)
    iid = durable.start("t_wait_event", None, instance_id="long-poll-1")

    def terminate_once_waiting() -> None:
        try:
            wait_until(lambda: iid in completions._waiters, what="the request waiting")
            durable.terminate(iid, "done waiting")
        finally:
            connection.close()

    thread = threading.Thread(target=terminate_once_waiting)
    thread.start()
    response = api.get(url(iid), {"wait": "30", "history": "1"})
    thread.join()

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "terminated"
    assert body["history"]  # ?history=1 still applies after the wait


@pytest.mark.django_db
def test_the_schema_documents_wait(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    params = schema["paths"]["/api/v1/instances/{instance_id}/"]["get"]["parameters"]
    wait = next(p for p in params if p["name"] == "wait")
    assert wait["schema"]["maximum"] == 30
    assert wait["schema"]["minimum"] == 0
