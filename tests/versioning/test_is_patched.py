"""ctx.is_patched end to end: old instances replay the old path, new ones take the new."""

from __future__ import annotations

import pytest

from tests.support.checks import wait_until
from tests.support.observed import kinds, row
from workflows.versioning import check_replay

pytestmark = pytest.mark.integration


def waiting(client, iid, completed):
    def check():
        return kinds(iid).count("activity_completed") == completed and (
            client.get_status(iid).status == "running"
        )

    return check


def test_instance_started_before_the_patch_replays_the_old_path(worker, durable_client, deploy):
    old = durable_client.start("tv_receipt", "A")
    wait_until(waiting(durable_client, old, 1), what="the old instance to wait")

    deploy(receipt_patch=True)
    new = durable_client.start("tv_receipt", "B")
    wait_until(waiting(durable_client, new, 2), what="the new instance to wait")
    deploy()  # restart the workers again: the new instance replays its marker too
    assert check_replay().ok
    durable_client.raise_event(old, "go", "ok")
    durable_client.raise_event(new, "go", "ok")
    old_state = durable_client.wait_for_completion(old, timeout=30)
    new_state = durable_client.wait_for_completion(new, timeout=30)

    assert old_state.output == ["reserve A", None, "charge A", "ok"]
    assert new_state.output == ["reserve B", "receipt B", "charge B", "ok"]
    assert "marker_recorded" not in kinds(old)
    assert kinds(new).count("marker_recorded") == 1
    # The marker sits where the patched code branched: right after the first result.
    after_first = kinds(new)[kinds(new).index("activity_completed") + 1 :]
    assert after_first[:2] == ["marker_recorded", "activity_scheduled"]
    report = check_replay(include_finished=True)
    assert report.ok, report.problems
    assert report.finished_checked == 2


def test_an_old_instance_reaching_the_patch_after_the_deploy_takes_the_new_path(
    worker, durable_client, deploy
):
    # is_patched is about history, not start time: nothing recorded yet at that point.
    iid = durable_client.start("tv_receipt_late", "A")
    wait_until(lambda: row(iid).history_length > 0, what="the instance to wait")

    deploy(receipt_patch=True)
    durable_client.raise_event(iid, "go", "ok")
    state = durable_client.wait_for_completion(iid, timeout=30)

    assert state.output == ["ok", "receipt A"]
    assert kinds(iid).count("marker_recorded") == 1
