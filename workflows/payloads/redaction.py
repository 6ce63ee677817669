"""What log lines may quote of a failure: its message is a payload (README "Payloads",
"Who sees what"), so once payloads are encrypted at rest the logs give the type alone.

Example::

    log.error("activity %s failed (%s)", name, failure_for_log(outcome.failure))
    # "ValueError: card declined" with the codec off, "ValueError" with it on
"""

from __future__ import annotations

from ..conf import conf
from ..engine.failures import FailureDetails


def messages_in_logs() -> bool:
    """DURABLE_LOG_FAILURE_MESSAGES, or (unset) whether payloads are stored in clear."""
    chosen = conf.LOG_FAILURE_MESSAGES
    return not conf.PAYLOAD_CODEC if chosen is None else chosen


def failure_for_log(failure: FailureDetails | None) -> str:
    """The failure as a log line may quote it: type and message, or the type alone."""
    if failure is None:
        return "error"
    if messages_in_logs():
        return failure.summary()
    return failure.type.rsplit(".", 1)[-1]
