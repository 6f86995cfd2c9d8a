"""The fitness cache (issue 4, "Dedup"): a program already evaluated under the same training
configuration is not trained again.

Keyed by (canonical hash of the program, key of the training configuration). The engine is handed
a cache object; `MemoryFitnessCache` is the in-process one, the service provides a SQL-backed one
with the same two methods. Only successful evaluations are stored (a failure may be transient),
and the first evaluation of a program stays: a later, noisier one does not replace it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from pydantic import BaseModel, ConfigDict


class CachedFitness(BaseModel):
    """What a cache hit gives back: enough to rank the program like the original evaluation."""

    model_config = ConfigDict(frozen=True)

    fitness: float
    hurdle_fitness: tuple[float, ...] = ()
    source_id: int  # the individual whose evaluation this was


class FitnessCache(Protocol):
    def get(self, program_hash: str, config_key: str) -> CachedFitness | None: ...

    def put(self, program_hash: str, config_key: str, value: CachedFitness) -> None:
        """Store `value` unless the key already has one (the first evaluation stays)."""
        ...


# A kept entry: (fitness, hurdle_fitness, source_id), CachedFitness's fields in order.
PackedFitness = tuple[float, tuple[float, ...], int]


def pack(value: CachedFitness) -> PackedFitness:
    """A CachedFitness as a plain tuple, for caches that keep many (see MemoryFitnessCache)."""
    return (value.fitness, value.hurdle_fitness, value.source_id)


def unpack(entry: PackedFitness) -> CachedFitness:
    """The CachedFitness a packed entry was made from (its fields were validated then)."""
    fitness, hurdle_fitness, source_id = entry
    return CachedFitness.model_construct(
        fitness=fitness, hurdle_fitness=hurdle_fitness, source_id=source_id
    )


class MemoryFitnessCache:
    """Entries are kept as plain tuples of numbers, not as CachedFitness models: a tuple of
    atomic values leaves the garbage collector's books after its first pass, while a model (and
    its fields-set) is tracked for as long as it lives. A search keeps one entry per evaluation,
    and every full collection would walk them all (a stall of a tenth of a second at 25,000)."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], PackedFitness] = {}

    def get(self, program_hash: str, config_key: str) -> CachedFitness | None:
        entry = self._entries.get((program_hash, config_key))
        return None if entry is None else unpack(entry)

    def put(self, program_hash: str, config_key: str, value: CachedFitness) -> None:
        key = (program_hash, config_key)
        if key not in self._entries:
            self._entries[key] = pack(value)

    def items(self) -> Iterator[tuple[tuple[str, str], CachedFitness]]:
        """Every entry in insertion order, for saving the cache with an engine's state."""
        return ((key, unpack(entry)) for key, entry in self._entries.items())

    def rows(self) -> Iterator[tuple[str, str, float, tuple[float, ...], int]]:
        """Every entry as (program hash, config key, fitness, hurdle fitness, source id), in
        insertion order: what an engine's state saves, without a model per entry."""
        return ((*key, *entry) for key, entry in self._entries.items())

    def __len__(self) -> int:
        return len(self._entries)
