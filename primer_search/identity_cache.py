"""A small cache keyed by object identity, for values derived from immutable objects (a DNA, a
subprogram, a lowered graph) that the search computes again and again: the engine mutates the
same parent up to `max_tries` times, hashes a child and then sizes it, and a child shares every
subprogram a mutation left alone with its parent.

Identity, not equality: hashing a DNA by value costs about as much as what is cached. Each entry
holds a reference to its key, so an id is never reused while its entry lives. The oldest entry
leaves first. Safe to share between threads (a lost race only recomputes a value).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class IdentityCache(Generic[K, V]):
    def __init__(self, size: int):
        self._size = size
        self._entries: OrderedDict[int, tuple[K, V]] = OrderedDict()

    def get(self, key: K, compute: Callable[[K], V]) -> V:
        """The value for `key`, computed by `compute(key)` unless remembered."""
        entry = self._entries.get(id(key))
        if entry is not None and entry[0] is key:
            return entry[1]
        value = compute(key)
        self.put(key, value)
        return value

    def peek(self, key: K) -> V | None:
        """The value remembered for `key`, or None."""
        entry = self._entries.get(id(key))
        return entry[1] if entry is not None and entry[0] is key else None

    def put(self, key: K, value: V) -> None:
        self._entries[id(key)] = (key, value)
        while len(self._entries) > self._size:
            try:
                self._entries.popitem(last=False)
            except KeyError:  # emptied by another thread meanwhile
                break

    def __len__(self) -> int:
        return len(self._entries)
