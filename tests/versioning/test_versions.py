"""Several versions of one orchestrator side by side; each instance pinned to its own."""

from __future__ import annotations

import pytest

from tests.support import versioning_workflows as vw
from tests.support.checks import wait_until
from tests.support.episodes import run_episode
from tests.support.observed import kinds
from tests.support.observed import row as instance
from workflows.client import DurableClient
from workflows.engine import Registry
from workflows.models import HistoryEvent
from workflows.runtime.cache import sticky_cache
from workflows.versioning import VersionDrain, version_drain_report


def waits_for_event(client, iid, steps):
    def check():
        return kinds(iid).count("activity_completed") == steps and (
            client.get_status(iid).status == "running"
        )

    return check


def started_version(iid):
    inst = instance(iid)
    row = HistoryEvent.objects.get(
        instance=inst, execution_id=inst.execution_id, kind="execution_started"
    )
    return row.payload["version"]


@pytest.mark.integration
def test_new_starts_take_the_latest_version_while_old_instances_keep_theirs(worker, durable_client):
    old = durable_client.start("tv_order", "A", version=1)
    new = durable_client.start("tv_order", "B")
    wait_until(waits_for_event(durable_client, old, 1), what="v1 to wait")
    wait_until(waits_for_event(durable_client, new, 2), what="v2 to wait")

    assert (instance(old).version, instance(new).version) == (1, 2)
    assert (started_version(old), started_version(new)) == (1, 2)
    # As after a restart: both replay from history, which names the version to use.
    sticky_cache().clear()
    durable_client.raise_event(old, "go", "ok-A")
    durable_client.raise_event(new, "go", "ok-B")

    old_state = durable_client.wait_for_completion(old, timeout=30)
    new_state = durable_client.wait_for_completion(new, timeout=30)
    assert old_state.output == {
        "code": "v1",
        "version": 1,
        "steps": ["reserved A"],
        "decision": "ok-A",
    }
    assert new_state.output == {
        "code": "v2",
        "version": 2,
        "steps": ["reserved B", "charged B"],
        "decision": "ok-B",
    }
    assert (old_state.version, new_state.version) == (1, 2)


@pytest.mark.integration
def test_continue_as_new_stays_on_the_pinned_version(worker, durable_client):
    iid = durable_client.start("tv_loop", 1, version=1)

    state = durable_client.wait_for_completion(iid, timeout=30)

    assert state.status == "completed", state.failure
    assert state.output == {"code": "v1", "generation": 3}
    assert instance(iid).generation == 3
    assert started_version(iid) == 1


def test_an_instance_on_a_removed_version_is_flagged_not_run_on_the_latest(db):
    iid = DurableClient().start("tv_order", "A", version=1)
    only_v2 = Registry()
    for fn in (vw.tv_reserve, vw.tv_charge):
        only_v2.add_activity(fn, fn.__durable_name__)
    only_v2.add_orchestrator(vw.tv_order_v2, "tv_order", 2)

    ran = run_episode(instance(iid).pk, registry=only_v2)

    row = instance(iid)
    assert ran is False
    assert row.needs_attention
    assert "'tv_order' version 1" in row.attention_reason
    assert row.status == "pending"
    assert row.history_length == 0  # nothing of v2 was recorded for it


def test_drain_report_counts_active_instances_per_version(db):
    client = DurableClient()
    client.start("tv_order", "A", version=1)
    client.start("tv_order", "B", version=1)
    client.start("tv_order", "C")
    finished = client.start("tv_order", "D")
    client.terminate(finished, "not needed")
    DurableClient(hub="other_hub").start("tv_order", "E", version=1)  # another hub: not counted

    report = version_drain_report()

    v1, v2 = report["tv_order"]
    assert (v1.version, v1.active, v1.registered, v1.latest) == (1, 2, True, False)
    assert (v2.version, v2.active, v2.registered, v2.latest) == (2, 1, True, True)
    assert not v1.drained and not v1.removable
    assert v1.oldest_created_at is not None
    loop_v1, loop_v2 = report["tv_loop"]
    assert loop_v1 == VersionDrain("tv_loop", 1, 0, True, False, None)
    assert loop_v1.drained and loop_v1.removable
    assert loop_v2.latest and not loop_v2.removable


def test_drain_report_shows_active_instances_of_code_already_removed(db):
    DurableClient().start("tv_order", "A", version=1)
    only_v2 = Registry()
    only_v2.add_orchestrator(vw.tv_order_v2, "tv_order", 2)

    report = version_drain_report(registry=only_v2)

    assert [(v.version, v.active, v.registered, v.latest) for v in report["tv_order"]] == [
        (1, 1, False, False),
        (2, 0, True, True),
    ]
    assert list(report) == ["tv_order"]  # only what this registry has or instances use
