"""The driver's writers (service/turn_writer.py, service/write_process.py), on a real SQLite
store: turns are written in the order they were put, turns that wait together are written
together, a failed write stops the writes after it and keeps its error's type, a hanging write
shows; the writer process survives a Ctrl-C, reports its own death, and ends with its parent."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from store_support import done, engine_state, proposal

from service.store import (
    LeaseLostError,
    NotFoundError,
    SQLStore,
    StateConflictError,
    StoreError,
    StoreUnavailableError,
)
from service.store.records import IndividualStatus
from service.turn_writer import ThreadTurnWriter, Turn, TurnWriter, open_turn_writer
from service.write_process import ProcessTurnWriter, _portable

HOLDER = "driver-1"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLStore]:
    with SQLStore(tmp_path / "writer.db", upgrade=True) as store:
        yield store


def new_search(store: SQLStore) -> int:
    search_id = store.create_search("s", {}, proposal(0).dna)
    assert store.acquire_lease(search_id, HOLDER, 60)
    return search_id


def process_writer(store: SQLStore, search_id: int, holder: str = HOLDER) -> ProcessTurnWriter:
    location = store.location()
    assert location is not None
    return ProcessTurnWriter(location, search_id, holder)


WRITERS: dict[str, Callable[[SQLStore, int], TurnWriter]] = {
    "thread": lambda store, search_id: ThreadTurnWriter(store, search_id, HOLDER),
    "process": process_writer,
}


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


@contextmanager
def database_locked(store: SQLStore) -> Iterator[None]:
    """Holds the SQLite database's write lock, as a long transaction elsewhere would: a write
    waits for it (up to the busy timeout)."""
    assert store.url.database is not None
    other = sqlite3.connect(store.url.database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


@pytest.mark.parametrize("kind", WRITERS)
def test_turns_are_written_in_order_and_returned_once(store: SQLStore, kind: str) -> None:
    search_id = new_search(store)
    writer = WRITERS[kind](store, search_id)
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
    writer = ThreadTurnWriter(stalling, search_id, HOLDER)  # type: ignore[arg-type]
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
    writer = ThreadTurnWriter(stalling, search_id, HOLDER)  # type: ignore[arg-type]
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
    writer = ThreadTurnWriter(stalling, search_id, HOLDER)  # type: ignore[arg-type]
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


# -- the writer process ---------------------------------------------------------------------------


def test_a_driver_writes_from_a_process_unless_only_its_own_process_can_open_the_store(
    store: SQLStore,
) -> None:
    search_id = new_search(store)
    for kind, process in ((ProcessTurnWriter, True), (ThreadTurnWriter, False)):
        writer = open_turn_writer(store, search_id, HOLDER, process=process)
        assert type(writer) is kind
        writer.close(30)
    with SQLStore("sqlite://", upgrade=True) as memory:
        assert memory.location() is None
        writer = open_turn_writer(memory, new_search(memory), HOLDER)
        assert type(writer) is ThreadTurnWriter
        writer.close(30)


def test_the_writer_process_merges_turns_that_wait_and_drops_those_after_a_failure(
    store: SQLStore,
) -> None:
    """While the database is locked, the first write waits (and shows in writing_for) and
    three turns queue up: they go in one transaction. Then a write with a result for an unknown
    individual fails: the turn put after it is not written, and the error is the store's."""
    search_id = new_search(store)
    writer = process_writer(store, search_id)
    first = proposals_turn(0, 2, 1)
    later = [result_turn(0, 3.5, 2), proposals_turn(2, 1, 3), proposals_turn(3, 1, 4)]
    with database_locked(store):
        writer.put(first)
        for turn in later:
            writer.put(turn)
        writer.wait(0.3)
        assert writer.pending == 4 and writer.written() == []
        assert writer.writing_for() >= 0.3
    written = writer.drain(30)
    assert [turn for turn, _ in written] == [first, *later] and writer.writing_for() == 0.0
    assert writer.stats.writes == 2 and writer.stats.turns == 4
    assert written[0][1].attempts == {0: 1} and written[3][1].attempts == {2: 1, 3: 1}

    bad, after = result_turn(7, 3.0, 5), proposals_turn(4, 1, 6)
    with database_locked(store):
        writer.put(bad)
        writer.put(after)
    with pytest.raises(NotFoundError, match="individual 7"):
        writer.drain(30)
    writer.put(proposals_turn(5, 1, 7))  # ignored once a write failed
    assert writer.pending == 0
    writer.close(30)
    assert store.get_engine_state(search_id) == engine_state(4)
    assert [i.iid for i in store.list_individuals(search_id).items] == [0, 1, 2, 3]


def test_the_writer_process_keeps_the_type_and_details_of_a_refusal(store: SQLStore) -> None:
    search_id = new_search(store)
    writer = process_writer(store, search_id)
    writer.put(proposals_turn(0, 1, 1))
    writer.put(result_turn(0, 3.5, 2))
    writer.drain(30)
    writer.put(result_turn(0, 3.4, 3))  # a second result for a finished individual
    with pytest.raises(StateConflictError, match="already done") as refused:
        writer.drain(30)
    assert refused.value.current == "done"
    writer.close(30)

    intruder = process_writer(store, search_id, holder="driver-2")
    intruder.put(proposals_turn(1, 1, 4))
    with pytest.raises(LeaseLostError) as lost:
        intruder.drain(30)
    assert lost.value.current == HOLDER
    intruder.close(30)


def test_an_error_that_does_not_pickle_reaches_the_driver_by_name() -> None:
    class Odd(Exception):
        def __init__(self, message: str, *, code: int):
            super().__init__(message)
            self.code = code

    error = _portable(Odd("no pickle for me", code=3))
    assert type(error) is StoreError and "Odd: no pickle for me" in str(error)
    conflict = StateConflictError("busy", current="running")
    assert _portable(conflict) is conflict


def test_a_writer_process_that_dies_is_reported(store: SQLStore) -> None:
    search_id = new_search(store)
    writer = process_writer(store, search_id)
    writer.put(proposals_turn(0, 1, 1))
    assert len(writer.drain(30)) == 1
    os.kill(writer.pid, signal.SIGKILL)
    writer.put(proposals_turn(1, 1, 2))
    with pytest.raises(StoreUnavailableError, match=f"writer process \\(pid {writer.pid}\\)"):
        writer.drain(30)
    writer.close(30)
    assert [i.iid for i in store.list_individuals(search_id).items] == [0]


def test_the_writer_process_ignores_ctrl_c_and_ends_on_close(store: SQLStore) -> None:
    search_id = new_search(store)
    writer = process_writer(store, search_id)
    writer.put(proposals_turn(0, 1, 1))
    writer.drain(30)
    os.kill(writer.pid, signal.SIGINT)
    os.kill(writer.pid, signal.SIGTERM)
    time.sleep(0.2)
    writer.put(proposals_turn(1, 1, 2))
    assert len(writer.drain(30)) == 1
    writer.close(30)
    assert writer._child.returncode == 0
    assert [i.iid for i in store.list_individuals(search_id).items] == [0, 1]


PARENT = """
import sys, time
sys.path.insert(0, {tests!r})
from service.store import SQLStore
from service.write_process import ProcessTurnWriter
from test_turn_writer import HOLDER, proposals_turn
store = SQLStore({db!r})
writer = ProcessTurnWriter(store.location(), {search_id}, HOLDER)
writer.put(proposals_turn(0, 1, 1))
writer.drain(30)
print(writer.pid, flush=True)
time.sleep(600)
"""


def test_the_writer_process_ends_with_its_parent(store: SQLStore) -> None:
    """A driver killed outright (SIGKILL) leaves no writer behind: the child sees its socket
    close and exits."""
    search_id = new_search(store)
    code = PARENT.format(tests=str(REPO / "tests"), db=str(store.url.database), search_id=search_id)
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        parent.kill()
        parent.wait(30)
        deadline = time.monotonic() + 30
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(child)
    finally:
        parent.kill()
    assert [i.iid for i in store.list_individuals(search_id).items] == [0]


def alive(pid: int) -> bool:
    """Whether `pid` runs (an exited child that nobody reaped yet, a zombie, does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
