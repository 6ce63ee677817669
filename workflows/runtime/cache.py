"""The sticky cache: live orchestrations kept between episodes (bounded LRU)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from ..conf import conf
from ..engine import Orchestration


class StickyCache:
    """Maps instance pk -> (execution id, history epoch, Orchestration, provisional stamp).

    An entry is *taken* out while an episode uses it, so two threads never drive the
    same generator. An entry that is behind the stored history (another process ran later
    episodes) is still useful: the episode replays only the missing events.

    An episode puts its state back before its transaction commits (so the next episode,
    maybe in another thread right after the commit, does not replay everything), marked
    *provisional* with the ``updated_at`` its instance row will have. Until the commit
    confirms it, only an episode that finds the row with exactly that stamp may use it:
    after a rollback the row has another one and the entry is dropped.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[int, tuple[str, int, Orchestration, Any]] = OrderedDict()
        # The open activity count of each entry as last put: still known while an episode
        # has the entry taken (results arriving meanwhile decide how to merge by it).
        self._in_flight: dict[int, int] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def take(
        self, pk: int, execution_id: str, epoch: int, history_length: int, stamp: Any = None
    ) -> Orchestration | None:
        """The cached state if it is a prefix of the stored history, else None.

        ``stamp``: the locked instance row's ``updated_at``, checked against a
        provisional entry.
        """
        with self._lock:
            entry = self._entries.pop(pk, None)
            if entry and entry[0] == execution_id and entry[1] == epoch:
                cached, provisional = entry[2], entry[3]
                if provisional is None:
                    usable = cached.history_length <= history_length
                else:
                    usable = provisional == stamp and cached.history_length == history_length
                if usable:
                    self.hits += 1
                    return cached  # its open activity count stays known meanwhile
            self._in_flight.pop(pk, None)
            self.misses += 1
            return None

    def put(
        self,
        pk: int,
        execution_id: str,
        epoch: int,
        orchestration: Orchestration,
        provisional: Any = None,
    ) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._entries[pk] = (execution_id, epoch, orchestration, provisional)
            self._entries.move_to_end(pk)
            self._in_flight[pk] = orchestration.activities_in_flight
            while len(self._entries) > self.size:
                evicted, _entry = self._entries.popitem(last=False)
                self._in_flight.pop(evicted, None)

    def confirm(self, pk: int, stamp: Any) -> None:
        """The episode that stamped the entry with ``stamp`` committed: a plain entry now.

        Another episode's entry (taken and put back meanwhile) keeps its own stamp.
        """
        with self._lock:
            entry = self._entries.get(pk)
            if entry is not None and entry[3] is not None and entry[3] == stamp:
                self._entries[pk] = (entry[0], entry[1], entry[2], None)

    def activities_in_flight(self, pk: int) -> int | None:
        """The cached orchestration's open activity count (as its last episode here left
        it, while an episode runs); None when not cached in this process."""
        with self._lock:
            entry = self._entries.get(pk)
            return entry[2].activities_in_flight if entry else self._in_flight.get(pk)

    def discard(self, pk: int) -> None:
        with self._lock:
            self._entries.pop(pk, None)
            self._in_flight.pop(pk, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._in_flight.clear()

    def __len__(self) -> int:
        return len(self._entries)


_cache: StickyCache | None = None


def sticky_cache() -> StickyCache:
    global _cache
    if _cache is None:
        _cache = StickyCache(conf.STICKY_CACHE_SIZE)
    return _cache
