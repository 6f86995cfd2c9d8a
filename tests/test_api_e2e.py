"""The service end to end: the real app (a SQL store, a DriverManager with a local Ray) served
by uvicorn on a free local port, driven over HTTP as a client would. A search POSTed with micro
candidates (real TensorFlow training) runs to exactly N evaluations on SQLite and PostgreSQL,
and its best individual's lineage reaches the seed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from dashboard_support import bound_socket
from dashboard_support import serve as serve_app
from driver_support import (
    check_search_complete,
    micro_config,
    micro_preset,  # noqa: F401 (a fixture)
    open_store,
    ray_cluster,  # noqa: F401 (a fixture)
    shared_cache_dir,
)
from store_support import POSTGRES_SKIP_REASON, postgres_url

from service.api import create_app
from service.manager import DriverManager
from service.settings import Settings

pytestmark = pytest.mark.usefixtures("micro_preset", "ray_cluster")

API = "/api/v1"
N = 6
BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql", marks=pytest.mark.skipif(not postgres_url(), reason=POSTGRES_SKIP_REASON)
    ),
]


@contextmanager
def serve(store: Any, manager: DriverManager) -> Iterator[httpx.Client]:
    """The app served by uvicorn in a thread (dashboard_support.serve) on a port the OS picked,
    which its settings name; a client for it. The manager's drivers stop at the end."""
    sock = bound_socket()
    app = create_app(store, manager, Settings(port=sock.getsockname()[1]))
    try:
        with (
            serve_app(app, sock) as base,
            httpx.Client(base_url=f"{base}{API}", timeout=30) as client,
        ):
            yield client
    finally:
        manager.shutdown(timeout=30)


def wait_finished(client: httpx.Client, search_id: int, timeout: float = 240) -> dict[str, Any]:
    """The search once it has ended and its driver let go of it (the driver releases its lease
    just after writing the final status)."""
    deadline = time.monotonic() + timeout
    while True:
        search = ok(client.get(f"/searches/{search_id}"))
        if search["status"] not in ("created", "running") and not search["driven"]:
            return search
        assert time.monotonic() < deadline, f"the search did not finish in {timeout}s: {search}"
        time.sleep(0.5)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_search_posted_over_http_runs_to_exactly_n_evaluations(backend, tmp_path):
    with open_store(backend, tmp_path) as store:
        manager = DriverManager(store, cache_dir=shared_cache_dir(), poll_seconds=0.2)
        with serve(store, manager) as client:
            config = micro_config(name="e2e", evaluators=2, max_evaluations=N)
            created = ok(client.post("/searches", json=config), 201)
            search_id = created["id"]
            assert created["status"] == "running" and created["driven"]

            search = wait_finished(client, search_id)
            assert search["status"] == "finished", search
            counts = search["counts"]
            assert counts["evaluated"] == N and counts["running"] == counts["pending"] == 0

            page = ok(client.get(f"/searches/{search_id}/individuals", params={"limit": 1000}))
            individuals = page["data"]
            assert page["total"] == len(individuals) == search["num_individuals"]
            iids = [ind["iid"] for ind in individuals]
            assert iids == sorted(set(iids)) == list(range(len(iids))), "no duplicates, no gaps"
            final = ("done", "stopped", "failed")
            evaluated = [ind for ind in individuals if ind["status"] in final]
            assert len(evaluated) == N
            assert all(ind["kind"] == "train" and ind["attempts"] >= 1 for ind in evaluated)

            (best,) = ok(client.get(f"/searches/{search_id}/best", params={"k": 1}))["data"]
            assert best["iid"] == search["best_iid"] and best["fitness"] == search["best_fitness"]
            assert best["fitness"] == min(i["fitness"] for i in evaluated if i["status"] == "done")

            lineage = ok(client.get(f"/searches/{search_id}/individuals/{best['iid']}/lineage"))
            chain = lineage["data"]
            assert lineage["reaches_seed"] and chain[0]["iid"] == best["iid"]
            assert chain[-1]["parent_iid"] is None  # the first generation: its parent is the seed
            for child, parent in zip(chain, chain[1:], strict=False):
                assert child["parent_iid"] == parent["iid"]
        check_search_complete(store, search_id, evaluations=N)


def test_a_bad_candidate_timeout_is_a_422_naming_the_field(tmp_path):
    with open_store("sqlite", tmp_path) as store:
        manager = DriverManager(store, cache_dir=shared_cache_dir())
        with serve(store, manager) as client:
            for value, message in [(0, "greater than 0"), (2, "must exceed the training budget")]:
                body = micro_config(budget="5s", candidate_timeout_seconds=value)
                detail = ok(client.post("/searches", json=body), 422)["detail"]
                (error,) = detail
                assert error["loc"][-1] == "candidate_timeout_seconds"
                assert message in error["msg"]
            assert store.list_searches().total == 0
