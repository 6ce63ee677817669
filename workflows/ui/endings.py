"""Which failed instances of a list are failed sagas whose undo steps all ran
(``display.ending_of``), read in one query per list."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from workflows.client import DurableClient
from workflows.statuses import CompensationStatus, InstanceStatus

from .display import Ending, ending_of

SETTLED = (
    CompensationStatus.COMPENSATED,
    CompensationStatus.RESOLVED_MANUALLY,
    CompensationStatus.SKIPPED,
)


def endings(client: DurableClient, items: Iterable[Any]) -> dict[str, Ending]:
    """instance id -> its Ending, for the failed ones among ``items`` that have one.

    Example::

        endings(DurableClient(), page.items).get("order-17")  # Ending(... "compensated" ...)
    """
    failed = [item.instance_id for item in items if item.status == InstanceStatus.FAILED]
    if not failed:
        return {}
    statuses: dict[str, list[str]] = defaultdict(list)
    rows = (
        client.compensations()
        .filter(instance__instance_id__in=failed)
        .values_list("instance__instance_id", "status")
    )
    for instance_id, status in rows:
        statuses[instance_id].append(status)
    found = {iid: ending_of(InstanceStatus.FAILED, s) for iid, s in statuses.items()}
    return {iid: ending for iid, ending in found.items() if ending is not None}


def compensated_count(client: DurableClient) -> int:
    """How many failed instances have settled compensations (the Failed tile's note)."""
    return (
        client.compensations()
        .filter(instance__status=InstanceStatus.FAILED, status__in=SETTLED)
        .order_by()  # the default ordering would join the DISTINCT
        .values("instance")
        .distinct()
        .count()
    )
