"""With the codec on, who sees what does not change: the server decrypts every row it reads,
and redaction decides what leaves it. The API (list, status, history), the console (list,
instance page, history download) and the admin show payloads (decoded) to users with
view_payloads and no clear text, nor an envelope, to others; the CLI (an operator's shell
with the server's settings) shows them decoded."""

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
    "/api/v1/instances/",
    "/api/v1/instances/{iid}/",
    "/api/v1/instances/{iid}/?history=1",
    "/api/v1/instances/{iid}/history/",
    "/instances/{iid}/",
    "/instances/{iid}/history.json",
    "/instances/{iid}/body/",
    "/console/",
    "/console/instances/",
)
LISTS_WITHOUT_PAYLOADS = {"/api/v1/instances/"}  # list rows are metadata for everyone
ADMIN_PAGES = (
    "/admin/workflows/instance/",
    "/admin/workflows/instance/{pk}/change/",
    "/admin/workflows/historyevent/",
)
# Failure text quoting the secret, as an activity's error would (PayloadTextField).
REASON = f"compensation refund (t_add) failed: ValueError: {SECRET}; retry, resolve or skip it"


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
    Instance.objects.filter(instance_id=iid).update(
        needs_attention=True,
        attention_reason=REASON,
        custom_status={"note": SECRET},
        failure={"type": "ValueError", "message": SECRET},
    )
    inst = Instance.objects.get(instance_id=iid)
    assert inst.status == "completed" and inst.output[0] == {"card": SECRET}
    assert SECRET not in raw_text(Instance, "attention_reason", inst.pk)
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
    assert '"$p"' not in body and "aesgcm" not in body
    if page not in LISTS_WITHOUT_PAYLOADS:
        assert SECRET in body


def test_search_by_business_key_and_id_still_works(finished):
    client = DurableClient()
    assert [s.instance_id for s in client.query(search="bk-1").items] == [finished]


def _staff(username: str, *codenames: str) -> Client:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username, is_staff=True)
    grant(user, *codenames)
    browser = Client()
    browser.force_login(user)
    return browser


@pytest.mark.parametrize("page", ADMIN_PAGES)
def test_the_admin_shows_payload_columns_only_with_view_payloads(finished, page):
    url = page.format(pk=Instance.objects.get(instance_id=finished).pk)
    body = _staff("victor", "view_instance", "view_historyevent").get(url).content.decode()
    assert SECRET not in body and '"$p"' not in body and "aesgcm" not in body
    if "change" in page:
        olga = _staff("olga", "view_instance", "view_payloads")
        body = olga.get(url).content.decode()
        assert SECRET in body and "aesgcm" not in body


def test_the_cli_shows_decoded_values_and_no_envelope(finished):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("durable", "status", finished, "--history", "--json", stdout=out)
    assert SECRET in out.getvalue() and "aesgcm" not in out.getvalue()
