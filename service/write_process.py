"""The driver's writes in a process of their own (service/turn_writer.py says what a writer
promises; this is the one a driver uses whenever its store can be opened by another process).

Why a process. The driver's thread proposes children (pure Python, the engine) and the writes
run the database client (SQLAlchemy, psycopg or sqlite3, JSON), also Python. In one process the
two take turns for the interpreter lock, and a write waits for it again after each round trip
to the database: with the driver busy, a turn that takes 3-4 ms alone took 15-20 ms. A child
process has an interpreter of its own; the driver only pickles the turn to it (about 0.3 ms).

How. The child (`python -m service.write_process FD`) opens the store at the location the
parent sends first, on a socket pair, then answers each message (search id, `record_turn`'s
keyword arguments) with ("ok", TurnRecord) or ("error", the exception), one at a time. The
parent has no thread: the driver's own calls (`put`, `written`, `wait`, `drain`) send the next
batch when the child is idle and collect its answers, so a write's end is seen at the driver's
next look (within a millisecond while writes are pending: see the driver's WRITE_POLL_SECONDS).

Lifetime. The child runs in a session of its own and ignores SIGINT and SIGTERM (a Ctrl-C, or
a signal to the process group, is the driver's to handle: it decides when the writes end), and
exits when the parent closes its end: `close()`, or the parent's death, which closes it too.
A write under way when the parent dies is finished or rolled back as a whole, like any
transaction: the store stays consistent either way, and the lease check refuses it if another
driver took over meanwhile.
If the child dies, the next look raises StoreUnavailableError: whether the write under way was
committed is then unknown, as when a database connection drops, and the resumed driver reads
what was.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from service.store import StoreError, StoreUnavailableError
from service.store.records import TurnRecord
from service.turn_writer import Turn, WriterStats, next_batch, turn_arguments

# Seconds the child gets to exit after `close` before it is killed.
EXIT_SECONDS = 10.0


class ProcessTurnWriter:
    """Writes the turns from a child process that opens the store at `location`."""

    def __init__(self, location: str, search_id: int, lease_holder: str):
        self.search_id = search_id
        self.lease_holder = lease_holder
        self.stats = WriterStats()
        self._todo: deque[Turn | None] = deque()
        self._batch: list[Turn] = []  # the turns being written
        self._sent_at = 0.0  # time.monotonic() when the batch was sent
        self._done: list[tuple[Turn, TurnRecord]] = []
        self._error: BaseException | None = None
        ours, theirs = socket.socketpair()
        try:
            self._child = subprocess.Popen(
                [sys.executable, "-m", "service.write_process", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=_child_environment(),
                # Out of the terminal's process group: a Ctrl-C is the driver's to handle.
                start_new_session=True,
            )
        except OSError as exc:
            ours.close()
            raise StoreError(f"could not start the driver's writer process: {exc}") from exc
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        self._conn.send(location)  # on the socket, not the command line: it may hold a password

    @property
    def pid(self) -> int:
        return self._child.pid

    @property
    def pending(self) -> int:
        return len(self._batch) + len(self._todo)

    def writing_for(self) -> float:
        return time.monotonic() - self._sent_at if self._batch else 0.0

    def put(self, turn: Turn) -> None:
        if self._error is None:
            self._todo.append(turn)
            self._collect()

    def written(self) -> list[tuple[Turn, TurnRecord]]:
        self._collect()
        done, self._done = self._done, []
        if not done and self._error is not None:
            raise self._error
        return done

    def wait(self, timeout: float) -> None:
        self._collect()
        if self._batch and not self._done:
            self._poll(timeout)
            self._collect()

    def drain(self, timeout: float | None = None) -> list[tuple[Turn, TurnRecord]]:
        self._settle(timeout)
        return self.written()

    def close(self, timeout: float | None = None) -> None:
        self._settle(timeout)
        with contextlib.suppress(OSError):  # the child is gone already
            self._conn.send(None)
        self._conn.close()
        try:
            self._child.wait(EXIT_SECONDS)
        except subprocess.TimeoutExpired:  # its write hangs: the transaction is rolled back
            self._child.kill()
            self._child.wait()

    # -- the conversation with the child ------------------------------------------------------

    def _settle(self, timeout: float | None) -> None:
        """Waits until every turn put is written, or dropped after a failure (up to
        `timeout` seconds)."""
        until = None if timeout is None else time.monotonic() + timeout
        self._collect()
        while self._batch:
            left = None if until is None else until - time.monotonic()
            if left is not None and left <= 0:
                break
            self._poll(left)
            self._collect()

    def _poll(self, timeout: float | None) -> None:
        with contextlib.suppress(OSError):  # _collect reports it
            self._conn.poll(timeout)

    def _collect(self) -> None:
        """Takes the child's answer if it has come, and sends the next batch if it is idle."""
        if self._batch:
            try:
                if not self._conn.poll(0):
                    return
                answer, value = self._conn.recv()
            except (EOFError, OSError) as exc:
                self._fail(self._lost(exc))
                return
            if answer == "ok":
                self.stats.add(len(self._batch), time.monotonic() - self._sent_at)
                self._done += [(turn, value) for turn in self._batch]
                self._batch = []
            else:
                self._fail(value)
                return
        if self._todo and self._error is None:
            batch = next_batch(self._todo)
            try:
                self._conn.send((self.search_id, turn_arguments(batch, self.lease_holder)))
            except OSError as exc:
                self._fail(self._lost(exc))
                return
            self._batch, self._sent_at = batch, time.monotonic()

    def _fail(self, error: BaseException) -> None:
        """The write failed: the turns after it are dropped (their engine states depend on it),
        and `written` raises the error once it has returned the turns before."""
        self._error = error
        self._batch = []
        self._todo.clear()

    def _lost(self, exc: BaseException) -> StoreUnavailableError:
        try:
            code: int | None = self._child.wait(1.0)
        except subprocess.TimeoutExpired:
            code = None
        how = "is not answering" if code is None else f"ended with exit code {code}"
        return StoreUnavailableError(
            f"the driver's writer process (pid {self._child.pid}) {how} ({exc!r}); whether its "
            "last write was committed is unknown, and the search resumes from what was"
        )


def _child_environment() -> dict[str, str]:
    """This environment, with the folder holding the `service` package first on the path (the
    child imports it as this process did, installed or not)."""
    root = str(Path(__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root if not path else os.pathsep.join([root, path])}


# -- the child --------------------------------------------------------------------------------


def serve(conn: Connection) -> None:
    """The child's loop: opens the store at the location received first, then answers each
    write until the parent sends None or closes its end."""
    from service.store import SQLStore

    location = conn.recv()
    store: SQLStore | None = None
    opening_error: BaseException | None = None
    try:
        store = SQLStore(location)
    except BaseException as exc:  # noqa: BLE001 (answered to each write)
        opening_error = exc
    try:
        while True:
            try:
                message = conn.recv()
            except EOFError:
                return
            if message is None:
                return
            search_id, arguments = message
            try:
                if store is None:
                    assert opening_error is not None
                    raise opening_error
                answer: tuple[str, Any] = ("ok", store.record_turn(search_id, **arguments))
            except BaseException as exc:  # noqa: BLE001 (the parent's to handle)
                answer = ("error", _portable(exc))
            conn.send(answer)
    finally:
        if store is not None:
            store.close()


def _portable(exc: BaseException) -> BaseException:
    """`exc` if it survives pickling whole, else a StoreError that names it."""
    try:
        copy = pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 (any failure to pickle or rebuild)
        copy = None
    if type(copy) is type(exc) and str(copy) == str(exc):
        return exc
    return StoreError(f"the driver's writer process failed: {type(exc).__name__}: {exc}")


def main() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    serve(Connection(int(sys.argv[1])))


if __name__ == "__main__":
    main()
