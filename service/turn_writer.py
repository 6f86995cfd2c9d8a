"""The driver's writes, made while the driver goes on (issue 5: >= 100 evaluations/s).

    writer = open_turn_writer(store, search_id, lease_holder)
    writer.put(turn)                  # returns at once; the turns are written in order
    for turn, record in writer.written():   # the turns committed since (raises a write's error)
        ...                           # now their candidates may go to the evaluators
    writer.close()                    # waits for the turns put, then ends the writer

A driver's turn is one transaction (`SearchStore.record_turn`), and nothing it allows happens
before it commits: its candidates are submitted, its results and settled proposals reported,
only once `written()` returns it. But the driver need not wait for the commit: on PostgreSQL a
turn is a few milliseconds of round trips and a flushed commit, in which the driver can collect
the next result and propose the next children.

Two writers keep that promise. `ProcessTurnWriter` (service/write_process.py), what a driver
uses whenever the store can be opened by another process: a child process writes the turns, so
the database client's work (SQLAlchemy, psycopg, JSON) runs beside the driver instead of taking
turns with it for the one interpreter lock. `ThreadTurnWriter` below writes from a thread of the
driver's process: for a store only this process can open (an in-memory SQLite database).

Turns that wait together are written together, in one `record_turn` (at most MAX_MERGED): the
results of all of them, their proposals, hand-outs and cache entries, with the engine state of
the last. That is what the driver did when it wrote each turn itself: the results that came back
during a write went into the next one. It keeps the commits per evaluation low with many
evaluators. (The search's finish order then numbers the results of the turns before their
settled proposals, as within one turn.)

If a write fails, the turns put after it are not written (each holds the engine state after the
ones before it, so writing it alone would break the store's consistency); `written()` raises
the error once the turns before it have been returned. The driver then stops as it would have,
had it written the turn itself: a resumed driver continues from the last turn committed.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from primer_search.evolution import Proposal
from service.store import Evaluation, SearchStore
from service.store.fitness_cache import CacheEntry
from service.store.records import TurnRecord

# Turns written in one transaction at most.
MAX_MERGED = 32


@dataclass(frozen=True)
class Turn:
    """What one `record_turn` writes, and the hand-outs it allows: (evaluator slot, proposal),
    whose worker names are in `running`."""

    results: Sequence[tuple[Proposal, Evaluation]]
    proposals: Sequence[Proposal]
    handouts: Sequence[tuple[int, Proposal]]
    running: Mapping[int, str]
    engine_state: Mapping[str, Any] | None
    cache_entries: Sequence[CacheEntry] = field(default_factory=tuple)


@dataclass
class WriterStats:
    """What a writer has written: transactions, the turns in them, and the seconds from the
    start of each write to its end as the writer saw it."""

    writes: int = 0
    turns: int = 0
    seconds: float = 0.0

    def add(self, turns: int, seconds: float) -> None:
        self.writes += 1
        self.turns += turns
        self.seconds += seconds


class TurnWriter(Protocol):
    """What the driver uses of a writer (both writers below)."""

    stats: WriterStats

    @property
    def pending(self) -> int:
        """Turns put whose write has not ended yet."""

    def writing_for(self) -> float:
        """Seconds the write under way has taken so far (0 if none is). The driver stops
        renewing its lease when a write hangs, so that another driver can take over, as when
        the driver itself hangs."""

    def put(self, turn: Turn) -> None:
        """Queues `turn` to be written after those put before it (ignored after a failed
        write)."""

    def written(self) -> list[tuple[Turn, TurnRecord]]:
        """The turns committed since the last call, in order, each with what its write read;
        then, once every turn before it was returned, the error of a failed write."""

    def wait(self, timeout: float) -> None:
        """Waits up to `timeout` seconds until a write ends (or none is pending)."""

    def drain(self, timeout: float | None = None) -> list[tuple[Turn, TurnRecord]]:
        """Waits until every turn put has been written (up to `timeout` seconds), and returns
        them as `written` does."""

    def close(self, timeout: float | None = None) -> None:
        """Ends the writer once the turns put are written (up to `timeout` seconds); what they
        allowed is not done (their candidates stay in the store, for the next driver)."""


def open_turn_writer(
    store: SearchStore, search_id: int, lease_holder: str, process: bool = True
) -> TurnWriter:
    """The writer for a driver of `search_id`: a child process when `process` and the store can
    be opened from one (SearchStore.location); else a thread."""
    location = store.location() if process else None
    if location is None:
        return ThreadTurnWriter(store, search_id, lease_holder)
    from service.write_process import ProcessTurnWriter

    return ProcessTurnWriter(location, search_id, lease_holder)


def next_batch(todo: deque[Turn | None]) -> list[Turn]:
    """Takes the turns to write next from the front of `todo`, in order: up to MAX_MERGED, up to
    a None (the end), and up to the first that names an individual one of them proposes (its
    result, or a hand-out as a stored candidate, needs the row first; the driver submits a
    candidate only after its turn was written, so this is a safeguard)."""
    turns: list[Turn] = []
    proposed: set[int] = set()
    while todo and len(turns) < MAX_MERGED:
        turn = todo[0]
        if turn is None:
            break
        named = {p.id for p, _ in turn.results} | (turn.running.keys() - _ids(turn.proposals))
        if turns and named & proposed:
            break
        turns.append(turn)
        proposed |= _ids(turn.proposals)
        todo.popleft()
    return turns


def turn_arguments(turns: Sequence[Turn], lease_holder: str) -> dict[str, Any]:
    """The keyword arguments of the one `record_turn` that writes `turns`: what they hold, with
    the last engine state."""
    states = [turn.engine_state for turn in turns if turn.engine_state is not None]
    return {
        "results": [(p.id, evaluation) for turn in turns for p, evaluation in turn.results],
        "proposals": [proposal for turn in turns for proposal in turn.proposals],
        "running": {iid: worker for turn in turns for iid, worker in turn.running.items()},
        "engine_state": states[-1] if states else None,
        "cache_entries": [entry for turn in turns for entry in turn.cache_entries],
        "lease_holder": lease_holder,
    }


class ThreadTurnWriter:
    """Writes the turns from a thread of this process, through `store`."""

    def __init__(self, store: SearchStore, search_id: int, lease_holder: str):
        self.store = store
        self.search_id = search_id
        self.lease_holder = lease_holder
        self.stats = WriterStats()
        self._todo: deque[Turn | None] = deque()
        self._done: deque[tuple[Turn, TurnRecord]] = deque()
        self._error: BaseException | None = None
        self._unwritten = 0  # turns put and not yet written (or dropped after an error)
        self._writing_since: float | None = None  # time.monotonic() when the write began
        self._changed = threading.Condition()
        self._thread = threading.Thread(
            target=self._run, name=f"turn-writer-{search_id}", daemon=True
        )
        self._thread.start()

    @property
    def pending(self) -> int:
        return self._unwritten

    def writing_for(self) -> float:
        since = self._writing_since
        return 0.0 if since is None else time.monotonic() - since

    def put(self, turn: Turn) -> None:
        with self._changed:
            if self._error is None:
                self._unwritten += 1
                self._todo.append(turn)
                self._changed.notify_all()

    def written(self) -> list[tuple[Turn, TurnRecord]]:
        with self._changed:
            done = list(self._done)
            self._done.clear()
            if not done and self._error is not None:
                raise self._error
        return done

    def wait(self, timeout: float) -> None:
        with self._changed:
            self._changed.wait_for(
                lambda: bool(self._done) or self._error is not None or not self._unwritten,
                timeout,
            )

    def drain(self, timeout: float | None = None) -> list[tuple[Turn, TurnRecord]]:
        with self._changed:
            self._changed.wait_for(lambda: not self._unwritten, timeout)
        return self.written()

    def close(self, timeout: float | None = None) -> None:
        with self._changed:
            self._todo.append(None)
            self._changed.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._todo))
                turns = next_batch(self._todo)
            if not turns:
                return  # None: closed
            started = self._writing_since = time.monotonic()
            try:
                record = self.store.record_turn(
                    self.search_id, **turn_arguments(turns, self.lease_holder)
                )
            except BaseException as exc:  # noqa: BLE001 (handed to the driver's thread)
                self._writing_since = None
                with self._changed:
                    self._error = exc
                    dropped = sum(t is not None for t in self._todo)
                    self._todo = deque(t for t in self._todo if t is None)
                    self._unwritten -= len(turns) + dropped
                    self._changed.notify_all()
                continue
            self._writing_since = None
            self.stats.add(len(turns), time.monotonic() - started)
            with self._changed:
                self._done.extend((turn, record) for turn in turns)
                self._unwritten -= len(turns)
                self._changed.notify_all()


def _ids(proposals: Sequence[Proposal]) -> set[int]:
    return {proposal.id for proposal in proposals}
