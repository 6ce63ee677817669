"""Retry policies and the pure backoff arithmetic behind them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .errors import RegistrationError
from .failures import FailureDetails


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how fast to retry a failed activity or sub-orchestration.

    Retries are durable: between attempts the orchestrator waits on a durable timer,
    so a restart during the backoff loses nothing. Errors that are
    :class:`NonRetryableError` subclasses, or match one of ``non_retryable`` (classes
    or qualified class names), are never retried.

    Example::

        policy = RetryPolicy(max_attempts=5, first_retry=timedelta(seconds=10),
                             non_retryable=(ValueError,))
        yield ctx.call_activity("charge_payment", order, retry=policy)
    """

    max_attempts: int
    first_retry: timedelta = timedelta(seconds=1)
    backoff_coefficient: float = 2.0
    max_retry_interval: timedelta | None = None
    retry_timeout: timedelta | None = None
    non_retryable: tuple[type | str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise RegistrationError(
                f"RetryPolicy.max_attempts must be >= 1, not {self.max_attempts!r}."
            )
        if self.first_retry <= timedelta(0):
            raise RegistrationError("RetryPolicy.first_retry must be a positive timedelta.")
        if self.backoff_coefficient < 1:
            raise RegistrationError("RetryPolicy.backoff_coefficient must be >= 1.")
        if self.max_retry_interval is not None and self.max_retry_interval < self.first_retry:
            raise RegistrationError("RetryPolicy.max_retry_interval must be >= first_retry.")
        object.__setattr__(self, "non_retryable", tuple(self.non_retryable))


def backoff_delay(policy: RetryPolicy, failed_attempt: int) -> timedelta:
    """Delay before the attempt that follows ``failed_attempt`` (1-based).

    >>> backoff_delay(RetryPolicy(5, timedelta(seconds=1)), 3)
    datetime.timedelta(seconds=4)
    """
    seconds = policy.first_retry.total_seconds() * policy.backoff_coefficient ** (
        failed_attempt - 1
    )
    if policy.max_retry_interval is not None:
        seconds = min(seconds, policy.max_retry_interval.total_seconds())
    return timedelta(seconds=seconds)


def is_retryable(policy: RetryPolicy, failure: FailureDetails) -> bool:
    if failure.non_retryable:
        return False
    return not any(failure.is_instance_of(t) for t in policy.non_retryable)


def next_retry_delay(
    policy: RetryPolicy, failed_attempt: int, failure: FailureDetails, elapsed: timedelta
) -> timedelta | None:
    """The delay before the next attempt, or None when the policy gives up.

    ``elapsed`` is the time since the first attempt was scheduled; it and the next
    delay must stay within ``retry_timeout`` when one is set.
    """
    if failed_attempt >= policy.max_attempts or not is_retryable(policy, failure):
        return None
    delay = backoff_delay(policy, failed_attempt)
    if policy.retry_timeout is not None and elapsed + delay > policy.retry_timeout:
        return None
    return delay
