"""Schedules: durable cron and interval starts (docs/architecture.md, "Schedules").

``timing`` and ``policies`` are the pure time arithmetic and decisions; ``models`` the
tables; ``wakeups`` the sweeper's part; ``starts``, ``driver`` and ``service`` start runs
and change schedules; ``client`` is DurableClient's face of it all.
"""
