"""The database away while a page is asked for: a 503 that says to try again, not a 500.

No stand-in: the test points the connection at a database that is not there (a closed
port on PostgreSQL, a folder that does not exist on SQLite), so the view's first query
fails the way it does while the server restarts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connections
from django.test import Client

from tests.support.private_services import free_port
from workflows.models import Instance
from workflows.ui.unavailable import MESSAGE

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def database_away() -> Iterator[None]:
    connection = connections["default"]
    kept = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-durableapp-folder/db.sqlite3"
    else:
        connection.settings_dict["PORT"] = str(free_port())
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(kept)


def test_a_page_says_to_try_again_with_a_503(operator):
    with database_away():
        response = operator.get("/console/")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    page = response.content.decode()
    assert MESSAGE in page
    assert page.startswith("<!doctype html>")
    assert operator.get("/console/").status_code == 200  # and back when the database is


def test_an_htmx_request_gets_the_message_in_the_flash_area(operator, htmx):
    with database_away():
        response = operator.get("/console/instances/", **htmx)

    assert response.status_code == 503
    assert response["X-Durable-Message"] == "1"
    assert response["HX-Retarget"] == "#flash"
    assert MESSAGE in response.content.decode()
    assert "<!doctype html>" not in response.content.decode()


def test_the_admin_answers_503_too(make_user):
    admin = Client()
    admin.force_login(make_user("root", is_superuser=True, is_staff=True))
    with database_away():
        assert admin.get("/admin/workflows/instance/").status_code == 503


def test_an_action_in_the_outage_changes_nothing(operator, running):
    running("ui-away")
    with database_away():
        refused = operator.post("/instances/ui-away/suspend/", {"reason": "night"})

    assert refused.status_code == 503
    assert Instance.objects.get(instance_id="ui-away").status == "running"
    assert operator.post("/instances/ui-away/suspend/", {"reason": "night"}).status_code == 302
    assert Instance.objects.get(instance_id="ui-away").status == "suspended"
