"""Per-activity concurrency and rate limits across all workers, kept in the database.

An activity declared ``@activity(name=..., max_concurrency=5, rate_limit="100/m",
queue="partner-api")``, or limited by name in DURABLE_ACTIVITY_LIMITS (the setting wins).
The package is split by job, lowest layer first:

* :mod:`.config` resolves each activity's limits in memory (no database);
* :mod:`.rates` is the pure arithmetic of a rate window;
* :mod:`.admission` starts a limited activity's tasks when a slot and the rate allow;
* :mod:`.report` reads what is running and waiting, for the console and /metrics.

The rules (slots, rate windows, durable waiting, wake-ups) are in docs/architecture.md,
"Activity limits".
"""
