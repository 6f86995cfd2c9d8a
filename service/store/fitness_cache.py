"""The fitness cache (issue 4, "Dedup") on the store: shared by every search and process that
uses the database, so a program evaluated by one search is not trained again by another with the
same training configuration."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from primer_search.fitness_cache import CachedFitness, PackedFitness, pack, unpack

if TYPE_CHECKING:
    from service.store.base import SearchStore

# One entry to write: (canonical program hash, training config key, fitness).
CacheEntry = tuple[str, str, CachedFitness]


class StoreFitnessCache:
    """A `primer_search.fitness_cache.FitnessCache` backed by a store's `fitness_cache` table.
    `put` inserts if absent (the first evaluation wins), like MemoryFitnessCache; the entries it
    puts name `search_id` as their source."""

    def __init__(self, store: SearchStore, search_id: int | None = None):
        self.store = store
        self.search_id = search_id

    def get(self, program_hash: str, config_key: str) -> CachedFitness | None:
        return self.store.cache_get(program_hash, config_key)

    def put(self, program_hash: str, config_key: str, value: CachedFitness) -> None:
        self.store.cache_put(program_hash, config_key, value, self.search_id)


class DriverFitnessCache:
    """The engine's cache in a driver (service/driver.py): the store's fitness cache, with what
    one search needs of it kept in memory.

    Its puts are held until the driver writes them in the same transaction as the results they
    come from (`take_unsaved`, then `record_turn(cache_entries=...)`), so an entry is never
    committed without its result, and costs no transaction of its own.

    Lookups. It knows the entries its search put (loaded when a key is first used: a resumed
    search's earlier evaluations), those it puts, and those it read: store entries never
    change (the first evaluation stays). A lookup it cannot answer asks the store, where
    another search may have put the program, unless no other search has put anything under
    the key (`cache_shared`, asked again every `recheck_seconds`): a search alone on its
    training configuration, the common case, then pays no query per new program. A search that
    starts sharing the key is noticed within `recheck_seconds`: until then a program the other
    search evaluated may be trained again, as it may be anyway while both evaluate it at once.

    A put for a key it knows is dropped (the first evaluation stays); a key that the store
    turned out to hold already when the turn was written (another search put it meanwhile) is
    `forget`-ten, so that the next lookup reads the store's entry."""

    def __init__(self, store: SearchStore, search_id: int, recheck_seconds: float = 1.0):
        self.store = store
        self.search_id = search_id
        self.recheck_seconds = recheck_seconds
        # Packed (primer_search.fitness_cache.pack): a driver keeps one per evaluation.
        self._known: dict[tuple[str, str], PackedFitness] = {}
        self._unsaved: list[CacheEntry] = []
        # Per config key: whether another search shares it, and when that was asked (monotonic).
        self._shared: dict[str, tuple[bool, float]] = {}

    def get(self, program_hash: str, config_key: str) -> CachedFitness | None:
        self._open(config_key)
        known = self._known.get((program_hash, config_key))
        if known is not None:
            return unpack(known)
        if not self._may_be_elsewhere(config_key):
            return None
        value = self.store.cache_get(program_hash, config_key)
        if value is not None:
            self._known[(program_hash, config_key)] = pack(value)
        return value

    def put(self, program_hash: str, config_key: str, value: CachedFitness) -> None:
        self._open(config_key)
        if (program_hash, config_key) not in self._known:
            self._known[(program_hash, config_key)] = pack(value)
            self._unsaved.append((program_hash, config_key, value))

    def take_unsaved(self) -> list[CacheEntry]:
        """The entries put since the last call, for the driver's next write."""
        taken, self._unsaved = self._unsaved, []
        return taken

    def forget(self, keys: Iterable[tuple[str, str]]) -> None:
        for key in keys:
            self._known.pop(key, None)

    def _open(self, config_key: str) -> None:
        """On a key's first use: this search's entries under it, and whether it is shared."""
        if config_key in self._shared:
            return
        for program_hash, value in self.store.cache_entries(config_key, self.search_id).items():
            self._known.setdefault((program_hash, config_key), pack(value))
        self._ask_shared(config_key)

    def _may_be_elsewhere(self, config_key: str) -> bool:
        """Whether the store may hold an entry under the key that this cache does not know."""
        shared, asked = self._shared[config_key]
        if shared or time.monotonic() - asked < self.recheck_seconds:
            return shared
        return self._ask_shared(config_key)

    def _ask_shared(self, config_key: str) -> bool:
        shared = self.store.cache_shared(config_key, self.search_id)
        self._shared[config_key] = (shared, time.monotonic())
        return shared
