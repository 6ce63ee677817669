"""A client process for the restart tests: starts instances on request, for as long as
it lives (one process start, not one per request; and it too must find its database
connection again after a restart).

    python -m tests.support.restart_client   # with DATABASE_URL, DURABLE_BROKER_URL, ...

Each line on stdin is ``{"name": ..., "input": ..., "count": N}``; the answer is one line
on stdout: the ids started, as JSON (or ``{"error": "..."}``).
"""

from __future__ import annotations

import json
import sys

import django


def main() -> None:
    django.setup()
    from django.db import close_old_connections

    from workflows.client import DurableClient

    client = DurableClient()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        close_old_connections()  # as a web request does: a broken connection is replaced
        try:
            ids = [client.start(request["name"], request["input"]) for _ in range(request["count"])]
        except Exception as exc:  # noqa: BLE001 - reported to the test, which fails
            print(json.dumps({"error": repr(exc)}), flush=True)
        else:
            print(json.dumps(ids), flush=True)


if __name__ == "__main__":
    main()
