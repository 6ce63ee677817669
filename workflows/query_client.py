"""DurableClient's finding of instances: filters, sorts, keyset pages and the capped
count (workflows/listing.py), read as list summaries.

A mixin of :class:`workflows.client.DurableClient`, kept in its own module so client.py
stays readable; callers use ``DurableClient().query(...)`` like any client method.

A list reads no payload it does not show: input and output (large, maybe offloaded to
the storage) never, failure, custom status and attention reason only when asked for. So
a page of 500 rows decrypts and fetches nothing it does not need, and one unreadable
payload (a missing offloaded object, a retired key) does not break everyone's list.

Example::

    page = DurableClient().query(attributes={"customer": "acme"}, sort="-updated", count=True)
    page.items[0].summary  # True: input and output are not read; get_status has them
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Final

from django.db.models import QuerySet

from . import listing
from .access import may_see_every_instance, redacted
from .engine.errors import InvalidInput
from .models import ApprovalRequest, Instance
from .states import Page, state_of
from .statuses import InstanceStatus

# The columns of a list summary (state_of reads the payload columns not listed as None).
SUMMARY_COLUMNS: Final = (
    "task_hub",
    "instance_id",
    "name",
    "version",
    "status",
    "execution_id",
    "business_key",
    "needs_attention",
    "history_length",
    "created_at",
    "updated_at",
    "completed_at",
    "search_attributes",
    "parent",
    "parent_task_id",
    "parent__instance_id",
)
# Payload columns a list may ask for: small and never offloaded (the console shows them).
LIST_PAYLOADS: Final = ("failure", "custom_status", "attention_reason")
MAX_LIMIT: Final = 500


class QueryOperations:
    hub: str
    approvals: Callable[..., QuerySet[ApprovalRequest]]  # ApprovalOperations'

    def query(
        self,
        *,
        name: str | None = None,
        status: str | list[str] | None = None,
        business_key: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        updated_after: datetime | None = None,
        updated_before: datetime | None = None,
        needs_attention: bool | None = None,
        search: str | None = None,
        attributes: dict[str, str] | None = None,
        sort: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        count: bool = False,
        payloads: Iterable[str] = (),
        user: Any = None,
    ) -> Page:
        """Instances matching the filters, ``limit`` per page, newest first unless ``sort``
        says otherwise (``created``, ``updated``, ``name``, ``status``; a leading ``-``
        sorts descending). Pass back ``next_cursor`` or ``previous_cursor`` for the page
        after or before. ``attributes`` filters by search attributes (text that also
        matches the number or true/false it spells). With ``count`` the page carries the
        total, counted up to ``listing.COUNT_CAP``. The items are summaries: no input or
        output, and of ``LIST_PAYLOADS`` only those in ``payloads``. With ``user`` only
        the instances they may see, redacted().

        Example::

            page = client.query(attributes={"customer": "acme"}, sort="-updated", count=True)
            page.total, page.next_cursor
            client.query(status="failed", payloads=["failure"]).items[0].failure
        """
        extra = tuple(payloads)
        unknown = [column for column in extra if column not in LIST_PAYLOADS]
        if unknown:
            raise InvalidInput(
                f"A list reads no payload {unknown[0]!r}; ask for any of "
                f"{', '.join(LIST_PAYLOADS)} (get_status has input and output)."
            )
        qs = (
            Instance.objects.filter(task_hub=self.hub)
            .select_related("parent")
            .only(*SUMMARY_COLUMNS, *extra)
        )
        if user is not None and not may_see_every_instance(user):
            if getattr(user, "is_authenticated", False):
                qs = qs.filter(pk__in=self.approvals(user=user).values("instance_id"))
            else:
                qs = qs.none()
        if name:
            qs = qs.filter(name=name)
        if status:
            statuses = [status] if isinstance(status, str) else list(status)
            bad = [s for s in statuses if s not in InstanceStatus.values]
            if bad:
                raise InvalidInput(
                    f"Unknown status {bad[0]!r}; use one of {', '.join(InstanceStatus.values)}."
                )
            qs = qs.filter(status__in=statuses)
        if business_key:
            qs = qs.filter(business_key=business_key)
        for column, after, before in (
            ("created_at", created_after, created_before),
            ("updated_at", updated_after, updated_before),
        ):
            if after:
                qs = qs.filter(**{f"{column}__gte": after})
            if before:
                qs = qs.filter(**{f"{column}__lt": before})
        if needs_attention is not None:
            qs = qs.filter(needs_attention=needs_attention)
        if search:  # a trigram index scan on PostgreSQL (models.SearchText)
            qs = qs.search(search)
        if attributes:  # a GIN index scan on PostgreSQL (models.InstanceQuerySet)
            qs = qs.with_attributes(listing.attribute_filters(attributes))
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be an integer from 1 to {MAX_LIMIT}.")
        found = listing.keyset_page(qs, listing.parse_sort(sort), cursor, limit)
        total, exact = listing.capped_count(qs) if count else (None, True)
        states = [state_of(i) for i in found.rows]
        if user is not None:
            states = [redacted(state, user) for state in states]
        return Page(states, found.next_cursor, found.previous_cursor, total, exact)
