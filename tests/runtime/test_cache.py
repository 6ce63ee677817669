"""The sticky cache on its own: provisional entries and their confirmation."""

from __future__ import annotations

from types import SimpleNamespace

from workflows.engine import InstanceRef, Orchestration, default_registry
from workflows.runtime.cache import StickyCache


def state() -> Orchestration:
    return Orchestration(default_registry, InstanceRef("i", "e"))


def test_a_provisional_entry_is_used_only_with_its_own_row_stamp():
    cache = StickyCache(10)
    orchestration = state()
    cache.put(1, "e", 0, orchestration, provisional="stamp-a")
    assert cache.take(1, "e", 0, 0, "stamp-other") is None  # rolled back: another stamp
    cache.put(1, "e", 0, orchestration, provisional="stamp-a")
    assert cache.take(1, "e", 0, 0, "stamp-a") is orchestration


def test_a_commit_confirms_only_the_entry_its_own_episode_put():
    cache = StickyCache(10)
    orchestration = state()
    cache.put(1, "e", 0, orchestration, provisional="a")  # episode A, before its commit
    assert cache.take(1, "e", 0, 0, "a") is orchestration  # episode B, right after it
    cache.put(1, "e", 0, orchestration, provisional="b")  # B, before its commit
    cache.confirm(1, "a")  # A's after-commit hook runs late: B's entry stays provisional
    assert cache.take(1, "e", 0, 5, "c") is None  # B rolled back; a longer history elsewhere


def test_a_confirmed_entry_may_be_behind_the_stored_history_but_never_ahead():
    cache = StickyCache(10)
    orchestration = state()
    cache.put(1, "e", 0, orchestration, provisional="a")
    cache.confirm(1, "a")
    assert cache.take(1, "e", 0, 7, "anything") is orchestration  # behind: catch up
    cache.put(1, "e", 0, orchestration)
    assert cache.take(1, "e", 1, 7, "anything") is None  # rewound: another epoch
    assert cache.activities_in_flight(1) is None  # unknown once it is gone


def test_the_open_activity_count_stays_known_while_an_episode_has_the_entry():
    # A result arriving meanwhile decides by it whether to wait for the row (a chain, a
    # narrow bounded fan-out) or to leave it to the inbox: "unknown" sent it to the inbox.
    cache = StickyCache(10)
    orchestration = SimpleNamespace(activities_in_flight=5, history_length=0)  # 5 left open
    cache.put(1, "e", 0, orchestration)
    assert cache.take(1, "e", 0, 0) is orchestration
    assert cache.activities_in_flight(1) == 5  # taken, still known
    cache.discard(1)  # finished: nothing to merge with any more
    assert cache.activities_in_flight(1) is None
    cache.put(2, "e", 0, orchestration)
    cache.clear()
    assert cache.activities_in_flight(2) is None


def test_an_evicted_entry_forgets_its_count():
    cache = StickyCache(1)
    first, second = state(), state()
    cache.put(1, "e", 0, first)
    cache.put(2, "e", 0, second)  # evicts 1
    assert cache.activities_in_flight(1) is None
    assert cache.activities_in_flight(2) == 0
