"""Crash and resume: the process driving a search is SIGKILLed twice, at two different moments
(once just after its first proposals were stored, once while a candidate is in training), and
`primer-search resume ID` finishes the search: exactly N evaluations, no individual duplicated,
none lost, counters consistent, and (one evaluator: results come back in proposal order) the
engine state equal to that of the same search run without a crash.

The drivers are subprocesses (`python tests/driver_support.py`, the real CLI with the micro
preset) joined to this session's Ray (`--ray-address`), so each start skips Ray's own start-up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from driver_support import (
    check_search_complete,
    create_search,
    micro_config,
    micro_preset,  # noqa: F401 (a fixture)
    open_store,
    ray_cluster,  # noqa: F401 (a fixture)
    shared_cache_dir,
)

from service.driver import DriverExit, LeaseHeldError, SearchDriver
from service.store import IndividualStatus, SQLStore, StoreError

pytestmark = pytest.mark.usefixtures("micro_preset", "ray_cluster")

N = 5
CONFIG = {"evaluators": 1, "max_evaluations": N, "max_attempts": 5, "name": "crash"}
SUPPORT = Path(__file__).with_name("driver_support.py")
LEASE_TTL = "4"


def cli(*args: str, db: Path, ray_address: str) -> subprocess.Popen:
    """The CLI in a subprocess of its own session (so a SIGKILL of its group ends it whole)."""
    command = [sys.executable, str(SUPPORT), *args, "--db", str(db), "--ray-address", ray_address,
               "--cache-dir", str(shared_cache_dir()), "--lease-ttl", LEASE_TTL]  # fmt: skip
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def kill_when(process: subprocess.Popen, condition, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the driver ended before {what}:\n{process.stdout.read()}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(30)


def finish(process: subprocess.Popen, timeout: float = 240) -> str:
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    return output


def wait_lease_expired(store: SQLStore, search_id: int) -> None:
    deadline = time.monotonic() + 30
    while store.get_search(search_id).lease_active:
        assert time.monotonic() < deadline, "the dead driver's lease never expired"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def reference_state(ray_cluster, micro_preset, tmp_path_factory):  # noqa: F811
    """The engine state of the same search run without a crash."""
    with open_store("sqlite", tmp_path_factory.mktemp("reference")) as store:
        search_id = create_search(store, **CONFIG)
        driver = SearchDriver(store, search_id, cache_dir=shared_cache_dir(), poll_seconds=0.2)
        assert driver.run() is DriverExit.FINISHED
        check_search_complete(store, search_id, N)
        return store.get_engine_state(search_id)


def test_a_search_killed_twice_resumes_to_the_same_end(tmp_path, ray_cluster, reference_state):  # noqa: F811
    db = tmp_path / "crash.db"
    config = tmp_path / "search.json"
    config.write_text(json.dumps(micro_config(**CONFIG)))
    first = cli("run", "--config", str(config), db=db, ray_address=ray_cluster)
    store = None

    def proposals_stored() -> bool:
        nonlocal store
        try:
            if store is None and db.exists():
                store = SQLStore(db)
            return store is not None and store.get_search(1).num_individuals >= 1
        except StoreError:  # the schema or the search is being created
            return False

    kill_when(first, proposals_stored, "the first proposals")  # moment 1: nothing evaluated
    assert store is not None
    assert store.get_search(1).num_finished == 0

    # The dead driver's lease still runs: a second driver refuses, naming it...
    with pytest.raises(LeaseHeldError, match="is being driven by .*:"):
        SearchDriver(store, 1, cache_dir=shared_cache_dir()).acquire()

    wait_lease_expired(store, 1)  # ...and takes over once its TTL has passed
    second = cli("resume", "1", db=db, ray_address=ray_cluster)

    def in_training() -> bool:
        running = store.list_individuals(1, status=IndividualStatus.RUNNING).items
        return store.get_search(1).num_finished >= 2 and bool(running)

    kill_when(second, in_training, "a candidate in training after two results")  # moment 2
    interrupted = store.list_individuals(1, status=IndividualStatus.RUNNING).items
    assert interrupted, "killed while a candidate was in training"

    wait_lease_expired(store, 1)
    output = finish(cli("resume", "1", db=db, ray_address=ray_cluster))
    assert "search 1 finished" in output, output

    individuals = check_search_complete(store, 1, N)
    for ind in interrupted:
        assert store.get_individual(1, ind.iid).attempts == ind.attempts + 1
    assert all(ind.attempts <= 3 for ind in individuals)
    assert_same_engine_state(store.get_engine_state(1), reference_state)
    store.close()


def assert_same_engine_state(state: dict, reference: dict) -> None:
    """Equal proposals, RNG, counters and population; fitness equal up to float noise."""
    for key in ("format", "config", "seed_hash", "cache_key", "counters", "rng", "pending"):
        assert state[key] == reference[key], key
    members = [(m["id"], m["program_hash"]) for m in state["population"]]
    assert members == [(m["id"], m["program_hash"]) for m in reference["population"]]
    for got, want in zip(state["population"], reference["population"], strict=True):
        assert float(got["fitness"]) == pytest.approx(float(want["fitness"]), rel=1e-5)
