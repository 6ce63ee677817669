"""tests/samples: each sample on the in-memory runner, then end to end with workers."""

from tests.samples.fixtures import (  # noqa: F401 - fixtures
    _finished_instances_replay,
    client,
    fast_runtime,
    ledger,
    local_worker,
    no_workers,
    process_workers,
    runner,
    workers,
)
