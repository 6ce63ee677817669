"""tests/recovery: sagas, approvals, rewind, retry_episode and the audit trail."""

from tests.recovery import flows  # noqa: F401 - registers the recovery test orchestrators
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
