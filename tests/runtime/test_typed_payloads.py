"""Typed payloads end to end: client -> broker -> worker -> database, then replay.

The orchestrator's output lists what its code was given at each step (type and repr), so
a replay that rebuilt any value differently would end with a different output, which
``check_replay`` (``durable check-replay``) compares.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from django.core import checks

from tests.support.checks import history
from tests.support.typed_workflows import (
    MODULES,
    CentsConverter,
    Currency,
    Line,
    Order,
    Receipt,
    describe,
)
from tests.support.workers import uses_real_broker
from workflows.client import InvalidInput
from workflows.engine import default_registry
from workflows.engine.converter import DataConverter
from workflows.models import ActivityTask, Instance
from workflows.versioning import check_replay

# The broker only changes transport: with worker processes these run in the Redis suite.
pytestmark = pytest.mark.one_real_broker

BERLIN = ZoneInfo("Europe/Berlin")
ORDER = Order(
    UUID(int=42),
    Currency.EUR,
    (Line("A-1", Decimal("19.90"), 3), Line("B-2", Decimal("0.05"))),
    datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN),  # the repeated hour, second time
)


@pytest.fixture
def typed_worker(request, transactional_db, fast_sweeps):
    """A worker that knows tests/support/typed_workflows.py (a process on a real broker)."""
    if uses_real_broker():
        return request.getfixturevalue("worker_process_factory")(DURABLE_WORKFLOW_MODULES=MODULES)
    return request.getfixturevalue("worker")


@pytest.mark.integration
def test_a_typed_orchestration_runs_end_to_end_and_replays_identically(
    typed_worker, durable_client
):
    iid = durable_client.start("t_typed_order", ORDER)
    state = durable_client.wait_for_completion(iid, timeout=120)
    assert state.status == "completed", state.failure

    receipt = Receipt(
        UUID(int=42), Decimal("59.75"), Currency.EUR, datetime(2026, 10, 24, 2, 30, tzinfo=BERLIN)
    )
    label = "59.75 EUR on 2026-10-24 02:30 CEST"
    assert state.output == {
        "receipt": {
            "order_id": str(UUID(int=42)),
            "total": "59.75",
            "currency": "EUR",
            "charge_at": "2026-10-24T02:30:00+02:00[Europe/Berlin]",
        },
        "label": label,
        "seen": [describe(ORDER), describe(receipt), describe(label)],
    }
    # The stored input keeps the zone and which of the two 02:30s it was (+01:00).
    assert Instance.objects.get(instance_id=iid).input["deliver_by"] == (
        "2026-10-25T02:30:00+01:00[Europe/Berlin]"
    )
    assert [r.payload["result"]["total"] for r in history(iid) if r.kind == "activity_completed"]

    # Replaying the stored history (what a worker does after a restart, and what
    # `durable check-replay` does) rebuilds the same typed values: the same output.
    report = check_replay(name="t_typed_order", include_finished=True)
    assert report.finished_checked == 1
    assert report.problems == []


@pytest.mark.integration
def test_a_stored_history_without_the_converter_marker_replays_with_plain_json(
    typed_worker, durable_client
):
    iid = durable_client.start("t_typed_order", ORDER)
    assert durable_client.wait_for_completion(iid, timeout=120).status == "completed"
    started = next(r for r in history(iid) if r.kind == "execution_started")
    assert started.payload["converter"] == 1  # new executions are marked
    assert check_replay(name="t_typed_order", include_finished=True).problems == []

    # As written before typed payloads: the replay read from the database delivers plain
    # JSON (the order is a dict, which this typed code cannot use), so it no longer
    # reproduces the recorded output; check-replay says so.
    started.payload = {k: v for k, v in started.payload.items() if k != "converter"}
    started.save(update_fields=["payload"])
    report = check_replay(name="t_typed_order", include_finished=True)
    assert [p.instance_id for p in report.problems] == [iid]


@pytest.mark.integration
def test_a_bad_value_fails_the_episode_at_the_call_naming_the_field(typed_worker, durable_client):
    iid = durable_client.start("t_typed_careless", ORDER)
    state = durable_client.wait_for_completion(iid, timeout=120)
    assert state.status == "failed"
    assert state.failure["type"] == "workflows.engine.errors.PayloadError"
    assert state.failure["message"].startswith(
        "The input of activity 't_typed_charge' at .lines[0].price is not JSON-serializable: "
        "set is not a JSON type"
    )
    assert not ActivityTask.objects.filter(instance__instance_id=iid).exists()  # no worker ran it


def test_a_start_input_that_does_not_fit_is_a_client_error_naming_the_field(client):
    from tests.support import typed_workflows  # noqa: F401 - registers the typed workflows

    bad = {"id": "42", "currency": "EUR", "lines": [], "deliver_by": "2026-01-01"}
    with pytest.raises(InvalidInput, match=r"The input at \.id does not fit its type Order: "):
        client.start("t_typed_order", bad)
    with pytest.raises(InvalidInput, match=r"The input at \.lines\[0\]\.price is not JSON"):
        client.start("t_typed_order", {**bad, "lines": [{"sku": "a", "price": {1}}]})
    assert not Instance.objects.exists()


def test_the_converter_setting_reaches_the_engine(settings):
    assert type(default_registry.converter) is DataConverter
    settings.DURABLE_DATA_CONVERTER = "tests.support.typed_workflows.CentsConverter"
    assert isinstance(default_registry.converter, CentsConverter)
    assert default_registry.converter.to_json(Decimal("1.25"), "input") == 125
    settings.DURABLE_DATA_CONVERTER = "workflows.engine.converter.DataConverter"
    assert default_registry.converter.to_json(Decimal("1.25"), "input") == "1.25"


def test_a_bad_converter_path_is_reported_at_start_up(settings):
    settings.DURABLE_DATA_CONVERTER = "shop.payloads.NoSuchConverter"
    errors = [m for m in checks.run_checks() if m.id == "durable.E001"]
    assert [m.msg for m in errors] == [
        "DURABLE_DATA_CONVERTER='shop.payloads.NoSuchConverter' is not valid: use the dotted "
        "path of an importable DataConverter subclass or instance (with to_json and "
        "from_json), e.g. 'workflows.engine.converter.DataConverter'."
    ]
    # Meanwhile the engine keeps the default converter.
    assert type(default_registry.converter) is DataConverter


def test_typed_event_data_is_stored_as_json_and_bad_data_is_named(client):
    from workflows.models import ExternalEvent

    iid = client.start("t_wait_event", 0)
    client.raise_event(iid, "approve", {"line": Line("A-1", Decimal("2.50"))})
    assert ExternalEvent.objects.get(instance__instance_id=iid).data == {
        "line": {"sku": "A-1", "price": "2.50", "qty": 1}
    }
    with pytest.raises(InvalidInput, match=r"The event data at \.line\.price is not JSON"):
        client.raise_event(iid, "approve", {"line": Line("A-1", {Decimal(1)})})
    assert ExternalEvent.objects.count() == 1
