"""The six seed patterns as runnable workflows, one module each.

Importing this package registers them (``workflows.apps`` does, in every process):

=================  ===========================  ==========================================
module             orchestrator                 pattern
=================  ===========================  ==========================================
chaining           provision_customer           function chaining
fan_out            process_files(_partitioned)  fan-out/fan-in, bounded, partial success
long_job           long_job                     async HTTP API with progress
approval           expense_approval             human interaction, deadline, escalation
monitor            deployment_monitor           monitor with timers and continue-as-new
order_saga         order_saga                   compensation (saga)
nightly_cleanup    nightly_cleanup              retention as a scheduled workflow
bank               bank_account, transfer_funds entities: aggregator, lock, compensation
running_total      running_total, count_processed  entities fed by signals from many runs
=================  ===========================  ==========================================

The modules import no models at import time, so this package can be imported while
Django is still loading apps.
"""

from . import (
    approval,
    bank,
    chaining,
    fan_out,
    long_job,
    monitor,
    nightly_cleanup,
    order_saga,
    running_total,
)

__all__ = [
    "approval",
    "bank",
    "chaining",
    "fan_out",
    "long_job",
    "monitor",
    "nightly_cleanup",
    "order_saga",
    "running_total",
]
