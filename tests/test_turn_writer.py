"""The driver's writer thread (service/turn_writer.py), on a real SQLite store: turns are written
in the order they were put, a failed write stops the writes after it, and a hanging write shows."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from store_support import done, engine_state, proposal

from service.store import NotFoundError, SQLStore
from service.store.records import IndividualStatus
from service.turn_writer import Turn, TurnWriter

HOLDER = "driver-1"


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with SQLStore(tmp_path / "writer.db", upgrade=True) as store:
        yield store


def new_search(store: SQLStore) -> int:
    search_id = store.create_search("s", {}, proposal(0).dna)
    assert store.acquire_lease(search_id, HOLDER, 60)
    return search_id


def proposals_turn(first: int, count: int, step: int) -> Turn:
    """New proposals first .. first+count-1, the first of them handed out to slot 0."""
    new = [proposal(iid) for iid in range(first, first + count)]
    return Turn(
        results=(),
        proposals=new,
        handouts=[(0, new[0])],
        running={new[0].id: "w0"},
        engine_state=engine_state(step),
    )


def result_turn(iid: int, fitness: float, step: int) -> Turn:
    return Turn(
        results=[(proposal(iid), done(fitness))],
        proposals=(),
        handouts=(),
        running={},
        engine_state=engine_state(step),
    )


def test_turns_are_written_in_order_and_returned_once(store: SQLStore) -> None:
    search_id = new_search(store)
    writer = TurnWriter(store, search_id, HOLDER)
    turns = [proposals_turn(0, 3, 1), result_turn(0, 3.5, 2), proposals_turn(3, 2, 3)]
    for turn in turns:
        writer.put(turn)
    written = writer.drain(30)
    assert [turn for turn, _ in written] == turns and writer.pending == 0
    # Each turn's hand-outs have their attempt counts in its record (turns written together
    # share one record).
    assert [record.attempts[iid] for (turn, record) in written for iid in turn.running] == [1, 1]
    assert writer.written() == []  # each is returned once
    writer.close(30)
    assert store.get_engine_state(search_id) == engine_state(3)
    statuses = [i.status for i in store.list_individuals(search_id).items]
    S = IndividualStatus
    assert statuses == [S.DONE, S.PENDING, S.PENDING, S.RUNNING, S.PENDING]


def test_a_failed_write_stops_the_writes_after_it(store: SQLStore) -> None:
    """The turn naming an unknown individual fails; the turn put while it was being written
    holds an engine state that depends on it, so it is not written; the error comes after the
    turns before it."""
    search_id = new_search(store)
    stalling = StallingStore(store, stall_on=2)
    writer = TurnWriter(stalling, search_id, HOLDER)  # type: ignore[arg-type]
    good, bad, after = proposals_turn(0, 2, 1), result_turn(7, 3.0, 2), proposals_turn(2, 1, 3)
    writer.put(good)
    writer.wait(30)  # written alone
    writer.put(bad)
    assert stalling.stalled.wait(30)
    writer.put(after)
    stalling.release.set()
    assert [turn for turn, _ in writer.drain(30)] == [good]
    with pytest.raises(NotFoundError, match="individual 7"):
        writer.written()
    assert stalling.calls == 2  # `after` was dropped, not written
    writer.put(proposals_turn(3, 1, 4))  # ignored once a write failed
    assert writer.pending == 0
    writer.close(30)
    assert store.get_engine_state(search_id) == engine_state(1)
    assert [i.iid for i in store.list_individuals(search_id).items] == [0, 1]


class StallingStore:
    """The store, with its `stall_on`-th `record_turn` held until the test releases it."""

    def __init__(self, store: SQLStore, stall_on: int = 1):
        self._store = store
        self.stall_on = stall_on
        self.entered, self.stalled = threading.Event(), threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def record_turn(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        self.entered.set()
        if self.calls == self.stall_on:
            self.stalled.set()
            assert self.release.wait(30)
        return self._store.record_turn(*args, **kwargs)


def test_a_hanging_write_shows_in_writing_for(store: SQLStore) -> None:
    search_id = new_search(store)
    stalling = StallingStore(store)
    writer = TurnWriter(stalling, search_id, HOLDER)  # type: ignore[arg-type]
    assert writer.writing_for() == 0.0
    writer.put(proposals_turn(0, 1, 1))
    assert stalling.entered.wait(30)
    writer.wait(0.2)
    assert writer.pending == 1 and writer.written() == []
    assert writer.writing_for() >= 0.2
    stalling.release.set()
    assert len(writer.drain(30)) == 1 and writer.writing_for() == 0.0
    writer.close(30)


def test_turns_that_wait_together_are_written_in_one_transaction(store: SQLStore) -> None:
    """While a write hangs, three turns queue up: they are written in one `record_turn`, each
    returned with its record, and the store ends as after writing them one by one."""
    search_id = new_search(store)
    stalling = StallingStore(store)
    writer = TurnWriter(stalling, search_id, HOLDER)  # type: ignore[arg-type]
    first = proposals_turn(0, 2, 1)
    writer.put(first)
    assert stalling.entered.wait(30)
    later = [result_turn(0, 3.5, 2), proposals_turn(2, 1, 3), proposals_turn(3, 1, 4)]
    for turn in later:
        writer.put(turn)
    stalling.release.set()
    written = writer.drain(30)
    writer.close(30)
    assert [turn for turn, _ in written] == [first, *later] and stalling.calls == 2
    assert written[0][1].attempts == {0: 1} and written[3][1].attempts == {2: 1, 3: 1}
    assert store.get_engine_state(search_id) == engine_state(4)
    S = IndividualStatus
    statuses = [i.status for i in store.list_individuals(search_id).items]
    assert statuses == [S.DONE, S.PENDING, S.RUNNING, S.RUNNING]
