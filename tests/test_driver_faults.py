"""The driver's faults and edges, through real Ray with stub evaluators (tests/driver_support.py:
they sleep instead of training, or hang): a hung evaluator is killed and its candidate retried or
failed, the deadline finishes the work in flight, a server shutdown leaves its searches for the
next server, and a driver whose lease was taken over stops without writing.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from driver_support import (
    check_search_complete,
    create_search,
    micro_preset,  # noqa: F401 (a fixture)
    open_store,
    ray_cluster,  # noqa: F401 (a fixture)
    shared_cache_dir,
    stub_evaluator,
    wait_for,
)
from pydantic import ValidationError
from store_support import POSTGRES_SKIP_REASON, postgres_url

from service.driver import DriverExit, SearchDriver
from service.manager import DriverManager
from service.search_config import SearchConfig, default_candidate_timeout
from service.store import IndividualStatus, LeaseLostError, SearchStatus

I = IndividualStatus  # noqa: E741
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql", marks=pytest.mark.skipif(not postgres_url(), reason=POSTGRES_SKIP_REASON)
    ),
]
ray_test = pytest.mark.usefixtures("micro_preset", "ray_cluster")


def driver(store: Any, search_id: int, evaluator: type, **kwargs: Any) -> SearchDriver:
    return SearchDriver(
        store,
        search_id,
        cache_dir=shared_cache_dir(),
        poll_seconds=0.2,
        evaluator_class=evaluator,
        **kwargs,
    )


# -- the candidate timeout -----------------------------------------------------------------------


def test_the_candidate_timeout_is_derived_from_a_seconds_budget_and_validated():
    assert SearchConfig(budget="30s").candidate_timeout_seconds == 3 * 30 + 600
    assert default_candidate_timeout("30s") == 690
    assert SearchConfig(budget="2000steps").candidate_timeout_seconds is None
    explicit = SearchConfig(budget="30s", candidate_timeout_seconds=None)
    assert explicit.candidate_timeout_seconds is None  # null: no timeout, kept as given
    stored = SearchConfig(budget="10s").model_dump(mode="json")
    assert SearchConfig.model_validate(stored).candidate_timeout_seconds == 630
    del stored["candidate_timeout_seconds"]  # a config stored before the field existed
    assert SearchConfig.model_validate(stored).candidate_timeout_seconds == 630
    for bad, message in [(0, "greater than 0"), (-1, "greater than 0"), (10, "must exceed")]:
        with pytest.raises(ValidationError, match=message) as caught:
            SearchConfig(budget="10s", candidate_timeout_seconds=bad)
        assert caught.value.errors()[0]["loc"] == ("candidate_timeout_seconds",)


@ray_test
def test_a_hung_evaluator_is_killed_and_its_candidate_retried_then_failed(tmp_path):
    # Candidate 1 hangs on its first attempt only, candidate 2 on every attempt.
    evaluator = stub_evaluator(seconds=0.3, hangs={1: 1, 2: 99}, log_dir=tmp_path)
    with open_store("sqlite", tmp_path) as store:
        search_id = create_search(
            store, evaluators=2, max_evaluations=6, max_attempts=2, candidate_timeout_seconds=3
        )
        started = time.monotonic()
        assert driver(store, search_id, evaluator).run() is DriverExit.FINISHED
        assert time.monotonic() - started < 60
        individuals = check_search_complete(store, search_id, evaluations=6)

        retried, failed = (store.get_individual(search_id, iid) for iid in (1, 2))
        assert retried.kind == failed.kind == "train", "the hung candidates were trained"
        assert (retried.status, retried.attempts) == (I.DONE, 2)
        assert (failed.status, failed.attempts) == (I.FAILED, 2)
        assert failed.error is not None
        assert "no result after 2 attempt(s)" in failed.error
        assert "timed out after 3 s" in failed.error
        others = [i for i in individuals if i.kind == "train" and i.iid not in (1, 2)]
        assert others and all(i.attempts == 1 and i.status is I.DONE for i in others)

        # Each hung attempt's evaluator process was killed, not just abandoned.
        hung = [(tmp_path / "1").read_text().split()[0], *(tmp_path / "2").read_text().split()]
        assert len(hung) == 3
        wait_for(lambda: not any(_alive(int(pid)) for pid in hung), 30, "the hung evaluators")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- the deadline --------------------------------------------------------------------------------


@ray_test
def test_the_deadline_stops_proposing_and_finishes_the_work_in_flight(tmp_path):
    # The deadline leaves the evaluators time to start on loaded machines; candidate 0 trains
    # well past it, so it is certainly in flight when the deadline comes, and a driver that went
    # on proposing would be seen proposing for seconds after it.
    deadline_seconds = 8.0
    evaluator = stub_evaluator(seconds=0.5, slow={0: deadline_seconds + 6})
    with open_store("sqlite", tmp_path) as store:
        search_id = create_search(
            store, evaluators=2, max_evaluations=None, deadline_seconds=deadline_seconds
        )
        assert driver(store, search_id, evaluator).run() is DriverExit.FINISHED
        search = store.get_search(search_id)
        assert search.started_at is not None and search.finished_at is not None
        deadline = search.started_at + timedelta(seconds=deadline_seconds)

        counts = store.status_counts(search_id)
        evaluated = counts[I.DONE] + counts[I.STOPPED] + counts[I.FAILED]
        individuals = check_search_complete(store, search_id, evaluations=evaluated)
        assert evaluated >= 2  # candidate 0, and the other evaluator's meanwhile
        slack = timedelta(seconds=2)  # from the driver's last deadline check to its insert
        assert all(ind.created_at <= deadline + slack for ind in individuals), "none after it"
        trained = [ind for ind in individuals if ind.kind == "train"]
        assert all(i.status is I.DONE and i.attempts == 1 for i in trained)
        in_flight = individuals[0]
        assert in_flight.kind == "train"
        assert in_flight.started_at < deadline < in_flight.finished_at  # finished, recorded
        assert search.finished_at >= max(i.finished_at for i in trained)


# -- a server shutting down and starting again ---------------------------------------------------


@ray_test
def test_a_server_shutdown_detaches_and_the_next_server_resumes_the_search(tmp_path):
    n = 6
    evaluator = stub_evaluator(seconds=1.0)
    with open_store("sqlite", tmp_path) as store:
        search_id = create_search(store, evaluators=2, max_evaluations=n)
        first = DriverManager(
            store, cache_dir=shared_cache_dir(), poll_seconds=0.2, evaluator_class=evaluator
        )
        first.start(search_id)
        wait_for(
            lambda: store.get_search(search_id).num_finished >= 2 and _running(store, search_id),
            60,
            "two results and a candidate in training",
        )
        first.shutdown(timeout=30)
        assert not first.is_driving(search_id)
        assert first.last_exit(search_id) is DriverExit.DETACHED
        search = store.get_search(search_id)
        assert search.status is SearchStatus.RUNNING and search.lease_holder is None
        interrupted = _running(store, search_id)
        assert interrupted, "the work in flight is left in the store for the next server"
        assert search.num_finished < n

        second = DriverManager(
            store, cache_dir=shared_cache_dir(), poll_seconds=0.2, evaluator_class=evaluator
        )
        assert second.resume_running_searches() == [search_id]
        wait_for(lambda: not second.is_driving(search_id), 60, "the resumed search to finish")
        assert second.last_exit(search_id) is DriverExit.FINISHED
        check_search_complete(store, search_id, evaluations=n)
        for ind in interrupted:
            again = store.get_individual(search_id, ind.iid)
            assert again.status is I.DONE and again.attempts == ind.attempts + 1
        second.shutdown(timeout=30)


def _running(store: Any, search_id: int) -> list[Any]:
    return store.list_individuals(search_id, status=I.RUNNING).items


# -- a lease lost mid-run ------------------------------------------------------------------------

WRITES = ("record_turn", "record_proposals", "mark_running", "record_result", "update_status")
OTHER = "otherhost:4242:takeover"


class StallingStore:
    """The driver's view of the store: the same store, except that once armed, the next call of
    `stall_in` blocks until released (a driver stalled past its lease's TTL: a long GC pause, a
    frozen VM, a network partition). Every write is logged with whether it raised."""

    def __init__(self, store: Any, stall_in: str):
        self._store = store
        self._stall_in = stall_in
        self.armed = threading.Event()
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.writes: list[tuple[str, type[BaseException] | None]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)
        if name != self._stall_in and name not in WRITES:
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            if name == self._stall_in and self.armed.is_set():
                self.armed.clear()
                self.stalled.set()
                assert self.release.wait(60), "the test never released the stalled driver"
            try:
                result = method(*args, **kwargs)
            except BaseException as exc:
                self.writes.append((name, type(exc)))
                raise
            if name in WRITES:
                self.writes.append((name, None))
            return result

        return call


def snapshot(store: Any, search_id: int) -> tuple[Any, ...]:
    individuals = store.list_individuals(search_id, limit=1000, details=True).items
    return store.get_search(search_id), individuals, store.get_engine_state(search_id)


@ray_test
@pytest.mark.parametrize("stall_in", ["record_turn", "heartbeat"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_driver_whose_lease_was_taken_over_stops_without_writing(backend, stall_in, tmp_path):
    """Stalled in a write, the driver's write is refused (LeaseLostError inside the store's
    transaction); stalled before a heartbeat, the heartbeat tells it. Either way it exits with
    LEASE_LOST, and the store is exactly as the new holder found it."""
    with open_store(backend, tmp_path) as store:
        search_id = create_search(store, evaluators=2, max_evaluations=20)
        view = StallingStore(store, stall_in)
        # The view sees the writes made in this process: for a stalled record_turn, the driver
        # writes from a thread. (The writer process's refusal: tests/test_turn_writer.py.)
        in_thread = stall_in == "record_turn"
        evaluator = stub_evaluator(seconds=0.5)
        lost = driver(view, search_id, evaluator, lease_ttl=1.5, writer_process=not in_thread)
        exits: list[DriverExit] = []
        thread = threading.Thread(target=lambda: exits.append(lost.run()), daemon=True)
        thread.start()
        try:
            wait_for(
                lambda: (
                    store.get_search(search_id).num_finished >= 1 and _running(store, search_id)
                ),
                60,
                "a result and a candidate in training",
            )
            view.armed.set()
            assert view.stalled.wait(30), f"the driver never called {stall_in}"
            wait_for(lambda: not store.get_search(search_id).lease_active, 10, "lease expiry")
            assert store.acquire_lease(search_id, OTHER, 60)  # another driver takes over
            before = snapshot(store, search_id)
            writes_before = len(view.writes)
        finally:
            view.release.set()
            thread.join(60)
        assert exits == [DriverExit.LEASE_LOST]
        assert snapshot(store, search_id) == before, "nothing was written after the takeover"
        late = view.writes[writes_before:]
        assert all(error is LeaseLostError for _, error in late), late
        if stall_in == "record_turn":
            assert late[0] == ("record_turn", LeaseLostError)
        search = store.get_search(search_id)
        assert search.lease_holder == OTHER and search.status is SearchStatus.RUNNING
