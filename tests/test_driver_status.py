"""How soon a driver sees a pause or a stop (service/driver.py, STATUS_MAX_AGE): the status read
by a turn's write decides the next turns' proposals for at most STATUS_MAX_AGE seconds; after
that a turn reads it again. A stop requested in-process is seen at once. No Ray: only the
driver's status logic, against a real store, on a clock the test moves."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from driver_support import create_search, micro_preset, open_store  # noqa: F401 (a fixture)

import service.driver as driver_module
from service.driver import STATUS_MAX_AGE, SearchDriver
from service.store import SearchStatus

pytestmark = pytest.mark.usefixtures("micro_preset")
S = SearchStatus


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1000.0]
    monkeypatch.setattr(driver_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    return now


def test_a_pause_is_seen_within_status_max_age(tmp_path, clock):
    with open_store("sqlite", tmp_path) as store:
        sid = create_search(store)
        store.update_status(sid, S.RUNNING, {S.CREATED})
        driver = SearchDriver(store, sid, cache_dir=tmp_path)
        assert driver._status() is S.RUNNING  # nothing read yet: read now
        store.update_status(sid, S.PAUSED, {S.RUNNING})  # the API pauses it
        clock[0] += 0.9 * STATUS_MAX_AGE
        assert driver._status() is S.RUNNING  # the last read stands, under load
        clock[0] += 0.2 * STATUS_MAX_AGE
        assert driver._status() is S.PAUSED  # older than STATUS_MAX_AGE: read again
        store.update_status(sid, S.STOPPED, {S.PAUSED})
        clock[0] += 1.1 * STATUS_MAX_AGE
        assert driver._status() is None  # stopped: the driver stops now


def test_a_stop_requested_in_process_is_seen_at_once(tmp_path, clock):
    with open_store("sqlite", tmp_path) as store:
        sid = create_search(store)
        store.update_status(sid, S.RUNNING, {S.CREATED})
        driver = SearchDriver(store, sid, cache_dir=tmp_path)
        assert driver._status() is S.RUNNING
        driver.request_stop()
        assert driver._status() is None
