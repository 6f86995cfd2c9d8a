"""The fitness cache (issue 4, "Dedup") on the store: shared by every search and process that
uses the database, so a program evaluated by one search is not trained again by another with the
same training configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from primer_search.fitness_cache import CachedFitness

if TYPE_CHECKING:
    from service.store.base import SearchStore


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
