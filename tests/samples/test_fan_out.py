"""process_files and process_files_partitioned: bounded fan-out/fan-in, partial success."""

from __future__ import annotations

import pytest

from tests.support.checks import assert_history_valid, history, wait_until
from workflows.engine import events as ev
from workflows.models import Instance


def most_in_flight(events) -> int:
    """The largest number of process_file calls scheduled but not yet finished."""
    open_tasks: set[int] = set()
    most = 0
    for event in events:
        if isinstance(event, ev.ActivityScheduled) and event.name == "process_file":
            open_tasks.add(event.task_id)
            most = max(most, len(open_tasks))
        elif isinstance(event, ev.ActivityCompleted | ev.ActivityFailedEvent):
            open_tasks.discard(event.task_id)
    return most


def stored_events(instance_id):
    return [ev.event_from_payload(row.kind, row.payload) for row in history(instance_id)]


def test_at_most_max_parallel_files_are_in_flight(runner):
    iid = runner.start("process_files", {"count": 10, "max_parallel": 3})
    runner.run_until_idle()

    state = runner.status(iid)
    assert state.status == "completed", state.failure
    assert state.output["total"] == state.output["succeeded"] == 10
    assert state.output["failed"] == []
    assert most_in_flight(state.history) == 3
    assert state.custom_status == {"processed": 10, "total": 10}


def test_the_work_list_comes_from_an_activity_and_is_recorded(runner):
    iid = runner.start("process_files", {"count": 4, "max_parallel": 2})
    runner.run_until_idle()

    [listing] = [e for e in runner.status(iid).history if isinstance(e, ev.ActivityCompleted)][:1]
    assert listing.result["files"] == [f"inbox/file-{i:05d}.csv" for i in range(4)]
    files = [call["file"] for call in runner.activity_calls("process_file")]
    assert files == listing.result["files"]


def test_default_parallelism_comes_from_the_setting(runner, settings):
    settings.DURABLE_SAMPLE_MAX_PARALLEL = 2
    iid = runner.start("process_files", {"count": 7})
    runner.run_until_idle()

    state = runner.status(iid)
    assert state.output["succeeded"] == 7
    assert most_in_flight(state.history) == 2


def test_failed_files_are_reported_and_the_rest_completes(runner):
    iid = runner.start("process_files", {"count": 8, "max_parallel": 3, "fail_items": [1, 6]})
    runner.run_until_idle()

    state = runner.status(iid)
    assert state.status == "completed"
    out = state.output
    assert (out["total"], out["succeeded"]) == (8, 6)
    assert [(f["index"], f["file"]) for f in out["failed"]] == [
        (1, "inbox/file-00001.csv"),
        (6, "inbox/file-00006.csv"),
    ]
    assert all(f["error"].startswith("CorruptFile: ") for f in out["failed"])
    assert len(runner.activity_calls("process_file")) == 8  # corrupt files are not retried
    assert state.custom_status == {"processed": 8, "total": 8}


def test_a_bad_input_names_the_field(runner):
    iid = runner.start("process_files", {"count": 3, "fail_items": "1"})
    runner.run_until_idle()

    assert runner.status(iid).status == "failed"
    assert "'fail_items' must be a list" in runner.status(iid).failure.message


def test_partitions_run_as_sub_orchestrations(runner):
    iid = runner.start(
        "process_files_partitioned",
        {"count": 250, "partition_size": 100, "max_parallel": 5, "fail_items": [3, 204]},
    )
    runner.run_until_idle()

    state = runner.status(iid)
    assert state.status == "completed", state.failure
    assert state.output["partitions"] == 3
    assert (state.output["total"], state.output["succeeded"]) == (250, 248)
    assert [f["index"] for f in state.output["failed"]] == [3, 204]
    children = [i for i in runner.instance_ids() if i.startswith(f"{iid}:")]
    slices = [runner.status(c).history[1].input for c in children]
    assert [(s["offset"], s["count"], s["fail_items"]) for s in slices] == [
        (0, 100, [3]),
        (100, 100, []),
        (200, 50, [204]),
    ]


@pytest.mark.integration
def test_partial_success_end_to_end(workers, client):
    iid = client.start("process_files", {"count": 24, "max_parallel": 4, "fail_items": [5, 17]})
    seen = []

    def finished():
        state = client.get_status(iid)
        if state.custom_status and state.custom_status not in seen:
            seen.append(state.custom_status)
        return state.is_finished

    wait_until(finished, timeout=60, poll=0.01, what="process_files to finish")
    state = client.get_status(iid)
    assert state.status == "completed", state.failure
    assert (state.output["succeeded"], [f["index"] for f in state.output["failed"]]) == (
        22,
        [5, 17],
    )
    assert most_in_flight(stored_events(iid)) == 4
    assert_history_valid(iid)
    processed = [s["processed"] for s in seen]
    assert processed == sorted(processed) and processed[-1] == 24
    assert {s["total"] for s in seen} == {24}


@pytest.mark.integration
def test_a_large_input_is_split_into_partitions_end_to_end(workers, client):
    count, size = 1_000, 250
    iid = client.start(
        "process_files_partitioned",
        {"count": count, "partition_size": size, "max_parallel": 25, "fail_items": [42, 999]},
    )
    state = client.wait_for_completion(iid, timeout=120)

    assert state.status == "completed", state.failure
    assert (state.output["total"], state.output["succeeded"]) == (count, count - 2)
    assert [f["index"] for f in state.output["failed"]] == [42, 999]
    children = Instance.objects.filter(parent__instance_id=iid)
    assert children.count() == count // size
    assert set(children.values_list("status", flat=True)) == {"completed"}
    # Each history holds one partition's work, the parent's only the partitions.
    assert max(children.values_list("history_length", flat=True)) < 4 * size
    assert Instance.objects.get(instance_id=iid).history_length < 4 * (count // size) + 10
