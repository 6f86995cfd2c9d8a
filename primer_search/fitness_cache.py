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


class MemoryFitnessCache:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], CachedFitness] = {}

    def get(self, program_hash: str, config_key: str) -> CachedFitness | None:
        return self._entries.get((program_hash, config_key))

    def put(self, program_hash: str, config_key: str, value: CachedFitness) -> None:
        self._entries.setdefault((program_hash, config_key), value)

    def items(self) -> Iterator[tuple[tuple[str, str], CachedFitness]]:
        """Every entry in insertion order, for saving the cache with an engine's state."""
        return iter(self._entries.items())

    def __len__(self) -> int:
        return len(self._entries)
