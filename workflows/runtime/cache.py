"""The sticky cache: live orchestrations kept between episodes (bounded LRU)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from ..engine import Orchestration


class StickyCache:
    """Maps instance pk -> (execution id, history epoch, Orchestration).

    An entry is *taken* out while an episode uses it, so two threads never drive the
    same generator; it is put back only after the episode's transaction committed. An
    entry that is behind the stored history (another process ran later episodes) is
    still useful: the episode replays only the missing events.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[int, tuple[str, int, Orchestration]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def take(
        self, pk: int, execution_id: str, epoch: int, history_length: int
    ) -> Orchestration | None:
        """The cached state if it is a prefix of the stored history, else None."""
        with self._lock:
            entry = self._entries.pop(pk, None)
            if (
                entry
                and entry[0] == execution_id
                and entry[1] == epoch
                and entry[2].history_length <= history_length
            ):
                self.hits += 1
                return entry[2]
            self.misses += 1
            return None

    def put(self, pk: int, execution_id: str, epoch: int, orchestration: Orchestration) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._entries[pk] = (execution_id, epoch, orchestration)
            self._entries.move_to_end(pk)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def activities_in_flight(self, pk: int) -> int:
        """The cached orchestration's open activity count (0 when not cached)."""
        with self._lock:
            entry = self._entries.get(pk)
            return entry[2].activities_in_flight if entry else 0

    def discard(self, pk: int) -> None:
        with self._lock:
            self._entries.pop(pk, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


_cache: StickyCache | None = None


def sticky_cache() -> StickyCache:
    global _cache
    if _cache is None:
        from django.conf import settings

        _cache = StickyCache(int(settings.DURABLE_STICKY_CACHE_SIZE))
    return _cache
