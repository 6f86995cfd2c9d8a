"""One driver per search, and the CLI's `run` / `resume` edges that need no Ray: a second driver
refuses while a live driver holds the lease, a dead driver's lease is taken over after its TTL,
a finished search is not resumed, and `run` builds its config from a file and options."""

from __future__ import annotations

import time

import pytest
from driver_support import create_search, open_store
from typer.testing import CliRunner

from primer_search.errors import ConfigError
from service.cli import app
from service.cli.run import build_config
from service.driver import LeaseHeldError, SearchDriver, SearchFinishedError
from service.store import LeaseLostError, SearchStatus

runner = CliRunner()
HOLDER = "otherhost:4242:0badc0de"
TINY = {"preset": "tiny"}  # no micro preset needed: nothing is trained here


@pytest.fixture
def store(tmp_path):
    with open_store("sqlite", tmp_path) as store:
        yield store


def test_a_second_driver_refuses_while_a_live_driver_holds_the_lease(store, tmp_path):
    search_id = create_search(store, **TINY)
    assert store.acquire_lease(search_id, HOLDER, 60)
    with pytest.raises(LeaseHeldError, match=f"driven by {HOLDER}"):
        SearchDriver(store, search_id, cache_dir=tmp_path).acquire()
    result = runner.invoke(app, ["resume", str(search_id), "--db", str(tmp_path / "search.db")])
    assert result.exit_code == 1, result.output
    assert f"is being driven by {HOLDER}" in result.output and "Traceback" not in result.output
    assert store.get_search(search_id).lease_holder == HOLDER  # untouched


def test_a_dead_drivers_lease_is_taken_over_after_its_ttl(store, tmp_path):
    search_id = create_search(store, **TINY)
    assert store.acquire_lease(search_id, HOLDER, 1.0)  # then it "dies": no more heartbeats
    driver = SearchDriver(store, search_id, cache_dir=tmp_path)
    with pytest.raises(LeaseHeldError):
        driver.acquire()
    time.sleep(1.2)
    driver.acquire()
    assert store.get_search(search_id).lease_holder == driver.holder
    with pytest.raises(LeaseLostError):  # the old holder, were it alive, can no longer write
        store.record_proposals(search_id, [], {"format": 1}, lease_holder=HOLDER)
    assert store.release_lease(search_id, driver.holder)


def test_a_finished_search_is_not_resumed(store, tmp_path):
    search_id = create_search(store, **TINY)
    store.update_status(search_id, SearchStatus.RUNNING, {SearchStatus.CREATED})
    store.update_status(search_id, SearchStatus.FINISHED, {SearchStatus.RUNNING})
    with pytest.raises(SearchFinishedError):
        SearchDriver(store, search_id, cache_dir=tmp_path).acquire()
    result = runner.invoke(app, ["resume", str(search_id), "--db", str(tmp_path / "search.db")])
    assert result.exit_code == 1
    assert f"search {search_id} is finished" in result.output
    assert store.get_search(search_id).lease_holder is None


def test_resume_of_an_unknown_search_is_a_clean_error(tmp_path):
    result = runner.invoke(app, ["resume", "99", "--db", str(tmp_path / "empty.db")])
    assert result.exit_code == 1 and "99" in result.output and "Traceback" not in result.output


def test_run_takes_its_config_from_a_file_and_the_options_override_it(tmp_path):
    path = tmp_path / "search.yaml"
    path.write_text("preset: tiny\nbudget: 10s\npopulation_size: 8\ntournament_size: 2\n")
    config = build_config(path, {"budget": "5steps", "max_evaluations": 3}, "builtin", 2.0, None)
    assert (config.budget, config.population_size, config.max_evaluations) == ("5steps", 8, 3)
    assert config.data.source == "builtin" and config.resources.num_cpus == 2.0
    with pytest.raises(ConfigError, match="tournament_size"):
        build_config(path, {"tournament_size": 9}, None, None, None)
    with pytest.raises(ConfigError, match="neither a seed"):
        build_config(None, {"seed": "no-such-seed"}, None, None, None)
