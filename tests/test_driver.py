"""The driver end to end with a real local Ray and real (micro) TensorFlow training: a search
runs to exactly N evaluations on SQLite and PostgreSQL, its best individual's lineage reaches the
seed, and an evaluator killed mid-training costs its candidate one attempt, nothing else.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from driver_support import (
    check_search_complete,
    create_search,
    micro_preset,  # noqa: F401 (a fixture)
    open_store,
    ray_cluster,  # noqa: F401 (a fixture)
    shared_cache_dir,
)
from store_support import POSTGRES_SKIP_REASON, postgres_url

from service.driver import DriverExit, SearchDriver
from service.manager import DriverManager
from service.store import IndividualStatus, SearchStatus

pytestmark = pytest.mark.usefixtures("micro_preset", "ray_cluster")

BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql", marks=pytest.mark.skipif(not postgres_url(), reason=POSTGRES_SKIP_REASON)
    ),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_search_runs_to_exactly_n_evaluations(backend, tmp_path):
    with open_store(backend, tmp_path) as store:
        search_id = create_search(store, evaluators=2, max_evaluations=4)
        seen = []
        cache_dir = shared_cache_dir()
        driver = SearchDriver(
            store, search_id, cache_dir=cache_dir, poll_seconds=0.2, on_progress=seen.append
        )
        assert driver.run() is DriverExit.FINISHED
        individuals = check_search_complete(store, search_id, evaluations=4)
        assert {ind.worker for ind in individuals if ind.worker} and all(
            ind.attempts == 1 for ind in individuals if ind.kind == "train"
        )
        assert seen[-1].evaluated == 4 and seen[-1].in_flight == 0
        search = store.get_search(search_id)
        assert search.lease_holder is None and search.finished_at is not None
        assert search.best_iid is not None
        chain = store.lineage(search_id, search.best_iid)
        assert chain[0].iid == search.best_iid
        assert chain[-1].parent_iid is None  # the first generation: its parent is the seed
        for child, parent in zip(chain, chain[1:], strict=False):
            assert child.parent_iid == parent.iid


def test_a_killed_evaluator_costs_its_candidate_one_attempt(tmp_path):
    with open_store("sqlite", tmp_path) as store:
        search_id = create_search(store, evaluators=1, max_evaluations=2, max_attempts=3)
        manager = DriverManager(store, cache_dir=shared_cache_dir(), poll_seconds=0.2)
        manager.start(search_id)
        victim = _first_running(store, search_id)
        pid = int(victim.worker.rsplit(":", 1)[1])
        os.kill(pid, signal.SIGKILL)  # the evaluator's process, mid-training
        _wait(lambda: not manager.is_driving(search_id), 120, "the search to finish")
        assert manager.last_exit(search_id) is DriverExit.FINISHED
        check_search_complete(store, search_id, evaluations=2)
        rerun = store.get_individual(search_id, victim.iid)
        assert rerun.status is IndividualStatus.DONE
        assert rerun.attempts == 2 and rerun.worker != victim.worker
        assert store.get_search(search_id).status is SearchStatus.FINISHED


def _first_running(store, search_id):
    def running():
        page = store.list_individuals(search_id, status=IndividualStatus.RUNNING)
        return page.items[0] if page.items else None

    return _wait(running, 120, "a candidate in training")


def _wait(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_pause_finishes_the_work_in_flight_and_stop_keeps_it_for_resume(tmp_path):
    with open_store("sqlite", tmp_path) as store:
        search_id = create_search(store, evaluators=1, max_evaluations=3)
        manager = DriverManager(store, cache_dir=shared_cache_dir(), poll_seconds=0.2)
        manager.start(search_id)
        _first_running(store, search_id)
        store.update_status(search_id, SearchStatus.PAUSED, {SearchStatus.RUNNING})  # the API
        _wait(lambda: not manager.is_driving(search_id), 120, "the paused driver to exit")
        assert manager.last_exit(search_id) is DriverExit.PAUSED
        counts = store.status_counts(search_id)
        assert counts[IndividualStatus.PENDING] == counts[IndividualStatus.RUNNING] == 0
        assert 1 <= store.get_search(search_id).num_finished < 3  # what was in flight: recorded

        manager.start(search_id)  # resume; then the API stops it mid-training
        victim = _first_running(store, search_id)  # none was running at the pause
        store.update_status(search_id, SearchStatus.STOPPED, {SearchStatus.RUNNING})
        _wait(lambda: not manager.is_driving(search_id), 60, "the stopped driver to exit")
        assert manager.last_exit(search_id) is DriverExit.STOPPED
        assert store.get_individual(search_id, victim.iid).status is IndividualStatus.RUNNING

        manager.start(search_id)  # resume: the abandoned candidate is trained again
        _wait(lambda: not manager.is_driving(search_id), 120, "the search to finish")
        assert manager.last_exit(search_id) is DriverExit.FINISHED
        check_search_complete(store, search_id, evaluations=3)
        assert store.get_individual(search_id, victim.iid).attempts == 2
