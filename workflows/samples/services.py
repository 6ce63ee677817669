"""Fake outside services (inventory, payments, mail, ...) that the sample activities call.

Every call carries the activity's idempotency key. The first call with a key applies
the effect and stores the answer; a repeat (a duplicate delivery, a re-run after a
crashed worker) gets the stored answer and only bumps ``executions``. Duplicates are
therefore visible but harmless, like a payment provider's idempotency keys.

A failure switch makes calls fail on purpose: ``transient`` raises an ordinary
exception (a RetryPolicy retries it), ``permanent`` raises a ``NonRetryableError``.
It fires for the first ``times`` calls of a key (transient: once by default,
permanent: always by default).

State lives in the database (``ServiceCall``). Unit tests without a database swap in
the in-memory ledger::

    with use_ledger(MemoryLedger()) as ledger:
        runner.run_until_idle()
    assert [r.operation for r in ledger.records()] == ["reserve", "capture"]
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from django.db import transaction
from django.utils import timezone

from workflows.engine import ActivityContext, NonRetryableError

Answer = Callable[[str], dict[str, Any]]


class ServiceUnavailable(Exception):  # noqa: N818 - reads as what happened
    """A transient outage of a fake service: try again later."""


class ServiceRejected(NonRetryableError):  # noqa: N818
    """A fake service refused the request for good."""


MODES = ("transient", "permanent")


@dataclass(frozen=True)
class FailureSwitch:
    """Make calls fail on purpose; see the module docstring."""

    mode: str
    times: int | None  # None: every call

    @classmethod
    def from_spec(cls, spec: dict[str, Any] | None) -> FailureSwitch | None:
        """``{"mode": "transient"|"permanent", "times": n}`` -> a switch (None -> None)."""
        if spec is None:
            return None
        if not isinstance(spec, dict):
            raise ValueError(f"A failure switch must be an object, not {spec!r}.")
        mode = spec.get("mode", "transient")
        if mode not in MODES:
            raise ValueError(f"Failure mode {mode!r} is unknown; use transient or permanent.")
        times = spec.get("times", 1 if mode == "transient" else None)
        if times is not None and (not isinstance(times, int) or times < 1):
            raise ValueError(f"Failure switch times must be a positive integer, not {times!r}.")
        return cls(mode, times)

    def error(self, call: Call, failures_so_far: int) -> Exception | None:
        """The error for the next call, or None once the switch has fired ``times`` times."""
        if self.times is not None and failures_so_far >= self.times:
            return None
        what = f"{call.service}.{call.operation} for {call.reference}"
        if self.mode == "transient":
            return ServiceUnavailable(f"{what}: service unavailable (failure switch)")
        return ServiceRejected(f"{what}: rejected (failure switch)")


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    idempotency_key: str
    reference: str
    request: Any = None


@dataclass
class MemoryRecord:
    """What ``ServiceCall`` stores, kept in memory."""

    service: str
    operation: str
    idempotency_key: str
    reference: str
    request: Any = None
    result: Any = None
    executions: int = 0
    failures: int = 0
    applied_at: datetime | None = None
    seq: int = 0


def respond(record: Any, answer: Answer, switch: FailureSwitch | None, now: datetime) -> Any:
    """Answer one call against its record (mutated in place).

    Returns the answer, or the failure switch's error for the caller to raise once the
    record is saved. Shared by both ledgers, so the database and the fake behave alike.
    """
    if record.applied_at is not None:
        record.executions += 1  # a duplicate: same answer, no second effect
        return record.result
    call = Call(record.service, record.operation, record.idempotency_key, record.reference)
    error = switch.error(call, record.failures) if switch else None
    if error is not None:
        record.failures += 1
        return error
    record.result = answer(record.idempotency_key)
    record.applied_at = now
    record.executions += 1
    return record.result


class Ledger(Protocol):
    def call(self, call: Call, answer: Answer, switch: FailureSwitch | None) -> Any: ...

    def count(self, service: str, operation: str, reference: str) -> int: ...


def _check_same_request(record: Any, call: Call) -> None:
    if (record.service, record.operation) != (call.service, call.operation):
        raise ServiceRejected(
            f"Idempotency key {call.idempotency_key!r} was used for "
            f"{record.service}.{record.operation}, not {call.service}.{call.operation}."
        )


class DatabaseLedger:
    """The ledger of ``durable serve`` and the workers: ``ServiceCall`` rows."""

    def call(self, call: Call, answer: Answer, switch: FailureSwitch | None) -> Any:
        from .models import ServiceCall

        with transaction.atomic():
            row, _ = ServiceCall.objects.get_or_create(
                idempotency_key=call.idempotency_key,
                defaults={
                    "service": call.service,
                    "operation": call.operation,
                    "reference": call.reference,
                    "request": call.request,
                },
            )
            row = ServiceCall.objects.select_for_update().get(pk=row.pk)
            _check_same_request(row, call)
            outcome = respond(row, answer, switch, timezone.now())
            row.save()
        # Raised after the commit, so the refused call is counted.
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def count(self, service: str, operation: str, reference: str) -> int:
        from .models import ServiceCall

        return ServiceCall.objects.filter(
            service=service, operation=operation, reference=reference, applied_at__isnull=False
        ).count()


class MemoryLedger:
    """The same behaviour in memory, for tests of orchestrators without a database."""

    def __init__(self) -> None:
        self._records: dict[str, MemoryRecord] = {}
        self._lock = threading.Lock()

    def call(self, call: Call, answer: Answer, switch: FailureSwitch | None) -> Any:
        with self._lock:
            record = self._records.get(call.idempotency_key)
            if record is None:
                record = MemoryRecord(
                    call.service,
                    call.operation,
                    call.idempotency_key,
                    call.reference,
                    call.request,
                    seq=len(self._records) + 1,
                )
                self._records[call.idempotency_key] = record
            _check_same_request(record, call)
            outcome = respond(record, answer, switch, datetime.now(UTC))
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def count(self, service: str, operation: str, reference: str) -> int:
        return sum(
            1
            for r in self._records.values()
            if (r.service, r.operation, r.reference) == (service, operation, reference)
            and r.applied_at is not None
        )

    def records(self) -> list[MemoryRecord]:
        """Every record, in the order of the first call."""
        return sorted(self._records.values(), key=lambda r: r.seq)


_ledger: Ledger = DatabaseLedger()


@contextmanager
def use_ledger(ledger: Ledger) -> Iterator[Ledger]:
    """Route the fake services to ``ledger`` for the duration of the block."""
    global _ledger
    previous, _ledger = _ledger, ledger
    try:
        yield ledger
    finally:
        _ledger = previous


def call(
    ctx: ActivityContext,
    service: str,
    operation: str,
    reference: str,
    request: Any = None,
    *,
    answer: Answer,
    fail: dict[str, Any] | None = None,
) -> Any:
    """Call a fake service once per ``ctx.idempotency_key``; see the module docstring.

    ``answer(key)`` builds the service's answer the first time; ``fail`` is a failure
    switch spec (``{"mode": ..., "times": ...}``) or None.
    """
    target = Call(service, operation, ctx.idempotency_key, str(reference), request)
    return _ledger.call(target, answer, FailureSwitch.from_spec(fail))


def count(service: str, operation: str, reference: str) -> int:
    """How many distinct calls of ``service.operation`` for ``reference`` took effect."""
    return _ledger.count(service, operation, str(reference))


def make_id(prefix: str, key: str) -> str:
    """A service-side id derived from the idempotency key, e.g. ``pay_3f9a…``."""
    return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:12]}"
