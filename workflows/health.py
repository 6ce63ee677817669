"""/healthz for load balancers: is the database answering, is the broker reachable?

No login (a load balancer has none) and nothing sensitive in the answer: only "ok" or
"unavailable" per part. Why a part failed goes to the log, not to the caller.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable

import dramatiq
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

log = logging.getLogger("workflows.health")

PROBE_TIMEOUT_SECONDS = 2.0


def check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def check_broker() -> None:
    """Open (and close) a fresh connection to RabbitMQ, or PING Redis; embedded is in-process."""
    broker = dramatiq.get_broker()
    kind = type(broker).__name__
    if kind == "RabbitmqBroker":
        import pika

        parameters = broker.parameters
        first = parameters[0] if isinstance(parameters, list) else parameters
        probe = copy.copy(first)
        probe.connection_attempts = 1
        probe.socket_timeout = PROBE_TIMEOUT_SECONDS
        probe.stack_timeout = PROBE_TIMEOUT_SECONDS * 2
        pika.BlockingConnection(probe).close()
    elif kind == "RedisBroker":
        import redis

        pool = broker.client.connection_pool
        kwargs = {
            **pool.connection_kwargs,
            "socket_timeout": PROBE_TIMEOUT_SECONDS,
            "socket_connect_timeout": PROBE_TIMEOUT_SECONDS,
        }
        probe_pool = redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
        try:
            redis.Redis(connection_pool=probe_pool).ping()
        finally:
            probe_pool.disconnect()
    # StubBroker: the embedded worker lives in this process, so it is reachable.


CHECKS: dict[str, Callable[[], None]] = {"database": check_database, "broker": check_broker}


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 ``{"database": "ok", "broker": "ok"}``; 503 naming the part that failed."""
    results = {}
    for part, check in CHECKS.items():
        try:
            check()
        except Exception:  # noqa: BLE001 - any failure means "unavailable"
            log.warning("health check: %s unavailable", part, exc_info=True)
            results[part] = "unavailable"
        else:
            results[part] = "ok"
    healthy = all(value == "ok" for value in results.values())
    return JsonResponse(results, status=200 if healthy else 503)
