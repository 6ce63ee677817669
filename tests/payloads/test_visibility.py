"""With the codec on, who sees what does not change: the API, the console and the history
download show payloads (decoded) to users with view_payloads and no clear text to others."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.api.support import grant
from tests.payloads.conftest import SECRET
from tests.payloads.support import raw_text
from tests.support.driver import drive
from workflows.client import DurableClient
from workflows.models import HistoryEvent, Instance

pytestmark = pytest.mark.django_db

PAGES = (
    "/api/v1/instances/{iid}/?history=1",
    "/api/v1/instances/{iid}/history/",
    "/instances/{iid}/",
    "/instances/{iid}/history.json",
)


def signed_in(username: str, *codenames: str) -> Client:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username)
    grant(user, *codenames)
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.fixture
def finished(encrypted, offloading) -> str:
    """A finished instance whose input, event data, history and output hold SECRET (the
    event's data large enough to be offloaded)."""
    from tests.support import workflows  # noqa: F401 - registers t_collect

    client = DurableClient()
    iid = client.start("t_collect", 2, business_key="bk-1")
    client.raise_event(iid, "item", {"card": SECRET})
    client.raise_event(iid, "item", {"card": SECRET, "blob": "x" * 4000})
    drive(client.hub)
    inst = Instance.objects.get(instance_id=iid)
    assert inst.status == "completed" and inst.output[0] == {"card": SECRET}
    for event in HistoryEvent.objects.filter(instance=inst):
        assert SECRET not in raw_text(HistoryEvent, "payload", event.pk)
    assert SECRET not in raw_text(Instance, "output", inst.pk)
    return iid


@pytest.mark.parametrize("page", PAGES)
def test_without_view_payloads_no_page_shows_clear_text(finished, page):
    response = signed_in("victor", "view_instance").get(page.format(iid=finished))
    assert response.status_code == 200
    body = response.content.decode()
    assert SECRET not in body
    assert '"$p"' not in body and "aesgcm" not in body  # nor the envelopes


@pytest.mark.parametrize("page", PAGES)
def test_with_view_payloads_pages_show_the_decoded_values(finished, page):
    response = signed_in("olga", "view_instance", "view_payloads").get(page.format(iid=finished))
    assert response.status_code == 200
    body = response.content.decode()
    assert SECRET in body and '"$p"' not in body


def test_search_by_business_key_and_id_still_works(finished):
    client = DurableClient()
    assert [s.instance_id for s in client.query(search="bk-1").items] == [finished]
