"""The REST API (issue 5) against a real store on SQLite (and PostgreSQL when
PRIMER_SEARCH_TEST_POSTGRES_URL is set), filled through the store's own methods. The driver
manager is a double that records calls: running searches for real is the end-to-end test's job.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import (
    API,
    FITNESS,
    RecordingManager,
    client_for,
    fill_search,
)
from fastapi.testclient import TestClient
from store_support import seed_dna

from primer_search.dna import parse_dna
from primer_search.render import render
from primer_search.seeds import load_seed, seed_names
from service.settings import Settings
from service.store import SearchStatus, SQLStore

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def manager() -> RecordingManager:
    return RecordingManager()


@pytest.fixture
def client(store: SQLStore, manager: RecordingManager) -> TestClient:
    return client_for(store, manager)


@pytest.fixture
def sid(store: SQLStore) -> int:
    return fill_search(store)


def body(**changes: Any) -> dict[str, Any]:
    config = {"name": "api", "population_size": 8, "tournament_size": 2, "budget": "5s"}
    return {**config, **changes}


# -- health, seeds, DNA -------------------------------------------------------------------------


def test_health(client: TestClient, store: SQLStore) -> None:
    r = client.get(f"{API}/health")
    assert r.status_code == 200
    assert r.json()["status"] == "ok" and r.json()["database"] == store.dialect


def test_seeds_list_and_detail(client: TestClient) -> None:
    seeds = client.get(f"{API}/seeds").json()
    assert [s["name"] for s in seeds["data"]] == seed_names()
    assert seeds["count"] == len(seed_names())
    primer = client.get(f"{API}/seeds/primer").json()
    assert parse_dna(primer["dna"]) == load_seed("primer")
    assert primer["code"] == render(load_seed("primer")) and "Primer-EZ" in primer["note"]


def test_unknown_seed_is_404_listing_the_seeds(client: TestClient) -> None:
    r = client.get(f"{API}/seeds/nope")
    assert r.status_code == 404 and "transformer" in r.json()["detail"]


def test_a_valid_dna_is_sized_under_the_preset(client: TestClient) -> None:
    r = client.post(f"{API}/dna/validate", json=seed_dna().to_dict())
    answer = r.json()
    assert r.status_code == 200 and answer["valid"] and answer["issues"] == []
    assert 1_000_000 <= answer["sizing"]["parameter_count"] <= 3_000_000  # the tiny preset
    assert answer["sizing"]["preset"] == "tiny" and answer["sizing"]["base_unit"] > 0
    paper = client.post(f"{API}/dna/validate?preset=paper", json=seed_dna().to_dict()).json()
    assert 32_000_000 <= paper["sizing"]["parameter_count"] <= 38_000_000


def test_an_invalid_dna_lists_every_issue_with_its_place(client: TestClient) -> None:
    dna = seed_dna().to_dict()
    dna["subprograms"][0]["instructions"][1]["op"] = "NOT_AN_OP"
    dna["subprograms"][0]["instructions"][2]["input1"] = 99
    r = client.post(f"{API}/dna/validate", json=dna)
    assert r.status_code == 200 and r.json()["valid"] is False
    places = {(i["subprogram"], i["instruction"], i["field"]) for i in r.json()["issues"]}
    assert places == {(0, 1, "op"), (0, 2, "input1")}
    assert r.json()["sizing"] is None


def test_a_structurally_broken_dna_is_still_an_answer(client: TestClient) -> None:
    r = client.post(f"{API}/dna/validate", json={"subprograms": "no", "extra": 1})
    assert r.status_code == 200 and r.json()["valid"] is False
    assert {i["field"] for i in r.json()["issues"]} == {"subprograms", "extra"}


def test_a_body_that_is_not_an_object_or_an_unknown_preset_is_422(client: TestClient) -> None:
    assert client.post(f"{API}/dna/validate", json=[1, 2]).status_code == 422
    r = client.post(f"{API}/dna/validate?preset=huge", json=seed_dna().to_dict())
    assert r.status_code == 422 and "preset" in r.json()["detail"]
    deep = client.post(
        f"{API}/dna/validate", content="[" * 50_000, headers={"content-type": "application/json"}
    )
    assert 400 <= deep.status_code < 500


# -- searches -----------------------------------------------------------------------------------


def test_create_search_stores_it_and_starts_it(
    client: TestClient, manager: RecordingManager, store: SQLStore
) -> None:
    r = client.post(f"{API}/searches", json=body(seed="primer_ez", rng_seed=7))
    assert r.status_code == 201
    search = r.json()
    assert r.headers["location"] == f"/searches/{search['id']}"
    assert search["status"] == "running" and manager.started == [search["id"]]
    assert search["config"]["seed"] == "primer_ez" and search["config"]["rng_seed"] == 7
    assert store.get_search(search["id"]).seed_dna == load_seed("primer_ez").to_dict()


def test_create_search_from_a_dna(client: TestClient, store: SQLStore) -> None:
    dna = load_seed("primer").to_dict()
    r = client.post(f"{API}/searches", json=body(seed=None, dna=dna))
    assert r.status_code == 201 and store.get_search(r.json()["id"]).seed_dna == dna


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"budget": "ten minutes"}, "budget", "budget"),
        ({"seed": "nope"}, "seed", "unknown seed"),
        ({"tournament_size": 9}, "tournament_size", "must not exceed population_size"),
        ({"seed": None, "dna": {"subprograms": []}}, "dna", "invalid DNA"),
        ({"population_size": 1}, "population_size", "greater than or equal"),
        ({"preset": "huge"}, "preset", "unknown preset"),
        ({"colour": "red"}, "colour", "Extra inputs"),
    ],
)
def test_a_bad_config_is_422_naming_the_field(
    client: TestClient, manager: RecordingManager, changes: dict, field: str, words: str
) -> None:
    r = client.post(f"{API}/searches", json=body(**changes))
    assert r.status_code == 422
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", field] and words in error["msg"]
    assert manager.started == []
    assert client.get(f"{API}/searches").json()["total"] == 0


def test_searches_are_paged_newest_first(client: TestClient) -> None:
    ids = [client.post(f"{API}/searches", json=body(name=f"s{i}")).json()["id"] for i in range(5)]
    first = client.get(f"{API}/searches?limit=2").json()
    second = client.get(f"{API}/searches?limit=2&offset=2").json()
    assert first["total"] == 5 and [s["id"] for s in first["data"]] == ids[::-1][:2]
    assert [s["id"] for s in second["data"]] == ids[::-1][2:4]
    client.post(f"{API}/searches/{ids[0]}/pause")
    paused = client.get(f"{API}/searches?status=paused").json()
    assert [s["id"] for s in paused["data"]] == [ids[0]] and paused["total"] == 1
    assert client.get(f"{API}/searches?limit=0").status_code == 422
    assert client.get(f"{API}/searches?status=sleeping").status_code == 422


def test_a_search_reports_its_progress(client: TestClient, sid: int) -> None:
    s = client.get(f"{API}/searches/{sid}").json()
    assert s["counts"] == {
        "evaluated": 8,  # 6 done, 1 failed, 1 stopped at a hurdle
        "done": 6,
        "running": 0,
        "pending": 1,
        "failed": 1,
        "stopped_at_hurdle": 1,
        "cache_hits": 1,
        "rejected": 1,
    }
    assert s["best_fitness"] == min(FITNESS.values()) and s["best_iid"] == 9
    assert s["num_individuals"] == 11 and s["status"] == "running"
    assert s["elapsed_seconds"] > 0 and s["evaluations_per_hour"] > 0


def test_unknown_ids_are_404(client: TestClient, sid: int) -> None:
    for path in [
        "/searches/999",
        "/searches/999/individuals",
        "/searches/999/best",
        "/searches/999/export",
        f"/searches/{sid}/individuals/999",
        f"/searches/{sid}/individuals/999/lineage",
    ]:
        r = client.get(f"{API}{path}")
        assert r.status_code == 404, path
        assert "999" in r.json()["detail"], path
    for action in ("pause", "resume", "stop"):
        assert client.post(f"{API}/searches/999/{action}").status_code == 404
    assert client.get(f"{API}/searches/abc").status_code == 422


def test_ids_and_offsets_beyond_the_columns_are_422_not_overflows(
    client: TestClient, sid: int
) -> None:
    for path in [
        f"/searches/{2**40}",
        f"/searches?offset={2**40}",
        f"/searches/{sid}/individuals?offset={2**40}",
        f"/searches/{sid}/individuals/{2**70}",
        f"/searches/{sid}/individuals/-1/lineage",
    ]:
        assert client.get(f"{API}{path}").status_code == 422, path
    assert client.post(f"{API}/searches/{2**40}/resume").status_code == 422


# -- status transitions -------------------------------------------------------------------------


S = SearchStatus
TRANSITIONS = [
    # (status before, action, status after or None for 409)
    (S.RUNNING, "pause", S.PAUSED),
    (S.RUNNING, "stop", S.STOPPED),
    (S.PAUSED, "resume", S.RUNNING),
    (S.PAUSED, "stop", S.STOPPED),
    (S.STOPPED, "resume", S.RUNNING),
    (S.CREATED, "resume", S.RUNNING),
    (S.PAUSED, "pause", None),
    (S.STOPPED, "stop", None),
    (S.STOPPED, "pause", None),
    (S.FINISHED, "resume", None),
    (S.FINISHED, "pause", None),
    (S.FINISHED, "stop", None),
    (S.FAILED, "resume", None),
]


@pytest.mark.parametrize(("before", "action", "after"), TRANSITIONS)
def test_status_transitions(
    client: TestClient,
    store: SQLStore,
    manager: RecordingManager,
    before: SearchStatus,
    action: str,
    after: SearchStatus | None,
) -> None:
    sid = store.create_search("t", {"budget": "5s"}, seed_dna())
    if before is not S.CREATED:
        store.update_status(sid, before, {S.CREATED})
    r = client.post(f"{API}/searches/{sid}/{action}")
    if after is None:
        assert r.status_code == 409
        assert before.value in r.json()["detail"]
        assert store.get_search(sid).status is before
    else:
        assert r.status_code == 200 and r.json()["status"] == after.value
        assert store.get_search(sid).status is after
    assert manager.started == ([sid] if action == "resume" and after is not None else [])


def test_resume_of_a_running_search(
    client: TestClient, store: SQLStore, manager: RecordingManager
) -> None:
    r = client.post(f"{API}/searches", json=body())
    sid = r.json()["id"]
    again = client.post(f"{API}/searches/{sid}/resume")  # driven here: a conflict
    assert again.status_code == 409 and "running" in again.json()["detail"]
    manager.driving.clear()  # its driver died: resume starts a new one
    assert client.post(f"{API}/searches/{sid}/resume").status_code == 200
    assert manager.started == [sid, sid]
    store.acquire_lease(sid, "another-process", 60)  # driven elsewhere: a conflict
    manager.driving.clear()
    assert client.post(f"{API}/searches/{sid}/resume").status_code == 409


# -- individuals --------------------------------------------------------------------------------


def iids(answer: dict) -> list[int]:
    return [i["iid"] for i in answer["data"]]


def test_individuals_are_paged_sorted_and_filtered(client: TestClient, sid: int) -> None:
    url = f"{API}/searches/{sid}/individuals"
    page = client.get(f"{url}?limit=4&offset=4").json()
    assert page["total"] == 11 and iids(page) == [4, 5, 6, 7]
    by_fitness = client.get(f"{url}?sort_by=fitness&status=done").json()
    assert iids(by_fitness) == sorted(FITNESS, key=FITNESS.__getitem__)
    worst_first = client.get(f"{url}?sort_by=fitness&order=desc&status=done&limit=2").json()
    assert iids(worst_first) == [1, 2] and worst_first["total"] == 6
    either = client.get(f"{url}?status=failed&status=rejected").json()
    assert iids(either) == [3, 8] and either["data"][1]["error"] == "gate: too many parameters"
    newest = client.get(f"{url}?sort_by=created&order=desc&limit=1").json()
    assert iids(newest) == [10]
    assert "dna" not in page["data"][0]  # pages are summaries
    for bad in ["sort_by=name", "order=up", "limit=0", "limit=5000", "offset=-1", "status=x"]:
        r = client.get(f"{url}?{bad}")
        assert r.status_code == 422, bad
        assert bad.split("=")[0] in r.json()["detail"][0]["loc"], bad


def test_an_individual_in_detail(client: TestClient, store: SQLStore, sid: int) -> None:
    r = client.get(f"{API}/searches/{sid}/individuals/6").json()
    stored = store.get_individual(sid, 6)
    assert r["dna"] == stored.dna and r["code"] == render(parse_dna(stored.dna))
    assert r["parent_iid"] == 4 and r["mutation"] == stored.mutation
    assert r["mutation_type"] == stored.mutation["type"]
    assert r["result"] == {"status": "ok", "fitness": FITNESS[6]} and r["fitness"] == FITNESS[6]
    stopped = client.get(f"{API}/searches/{sid}/individuals/5").json()
    assert stopped["status"] == "stopped" and stopped["hurdle_fitness"] == [6.0]


def test_lineage_reaches_the_seed_with_each_fitness_change(client: TestClient, sid: int) -> None:
    lineage = client.get(f"{API}/searches/{sid}/individuals/9/lineage").json()
    assert lineage["reaches_seed"] is True
    assert [s["iid"] for s in lineage["data"]] == [9, 6, 4, 0]
    changes = [s["fitness_change"] for s in lineage["data"]]
    assert changes[:3] == pytest.approx([4.1 - 4.3, 4.3 - 4.6, 4.6 - 5.0])
    assert changes[3] is None  # the seed has no fitness of its own
    assert all(s["mutation_type"] for s in lineage["data"])
    pending = client.get(f"{API}/searches/{sid}/individuals/10/lineage").json()
    assert [s["iid"] for s in pending["data"]] == [10, 2] and pending["data"][0]["fitness"] is None


def test_best_k(client: TestClient, sid: int) -> None:
    best = client.get(f"{API}/searches/{sid}/best?k=3").json()
    assert iids(best) == [9, 6, 4] and best["count"] == 3
    assert best["data"][0]["code"].startswith("# constants")
    assert client.get(f"{API}/searches/{sid}/best?k=0").status_code == 422


def test_export_as_json_and_as_code(client: TestClient, store: SQLStore, sid: int) -> None:
    exported = client.get(f"{API}/searches/{sid}/export?k=2").json()
    assert exported["search"] == {"id": sid, "name": "filled", "status": "running"}
    assert [p["iid"] for p in exported["programs"]] == [9, 6]
    assert [p["rank"] for p in exported["programs"]] == [1, 2]
    assert parse_dna(exported["programs"][0]["dna"]).to_dict() == store.get_individual(sid, 9).dna
    code = client.get(f"{API}/searches/{sid}/export?format=code&k=2")
    assert code.status_code == 200 and code.headers["content-type"].startswith("text/plain")
    assert "# rank 1: individual 9, fitness 4.1000" in code.text
    assert render(parse_dna(store.get_individual(sid, 6).dna)) in code.text
    assert client.get(f"{API}/searches/{sid}/export?format=pdf").status_code == 422


# -- the edge: auth, body size, bugs ------------------------------------------------------------


def test_a_token_guards_every_endpoint(store: SQLStore, manager: RecordingManager) -> None:
    client = client_for(store, manager, Settings(api_token="s3cret"))
    for path in [f"{API}/health", f"{API}/seeds", "/docs", f"{API}/openapi.json", "/nowhere"]:
        assert client.get(path).status_code == 401, path
        wrong = client.get(path, headers={"Authorization": "Bearer s3cre"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    ok = {"Authorization": "Bearer s3cret"}
    assert client.get(f"{API}/health", headers=ok).status_code == 200
    assert client.get("/docs", headers=ok).status_code == 200
    assert client.post(f"{API}/searches", json=body()).status_code == 401
    assert manager.started == []
    assert client.post(f"{API}/searches", json=body(), headers=ok).status_code == 201


def test_a_body_over_the_limit_is_413(store: SQLStore, manager: RecordingManager) -> None:
    client = client_for(store, manager, Settings(max_body_bytes=2048))
    big = seed_dna().to_dict()  # about 3 KB
    assert client.post(f"{API}/dna/validate", json=big).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it comes
        yield b'{"subprograms": ['
        for _ in range(200):
            yield b'{"instructions": []},'
        yield b"{}]}"

    r = client.post(
        f"{API}/dna/validate", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and "2048" in r.json()["detail"]
    main_only = seed_dna().model_copy(update={"subprograms": seed_dna().subprograms[:1]})
    assert client.post(f"{API}/dna/validate", json=main_only.to_dict()).status_code == 200


class BrokenStore(SQLStore):
    def get_search(self, search_id: int) -> Any:
        raise RuntimeError("a bug")


def test_a_bug_is_a_clean_500(template: Path, tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    path.write_bytes(template.read_bytes())
    with BrokenStore(path) as store:
        r = client_for(store, RecordingManager()).get(f"{API}/searches/1")
    assert r.status_code == 500 and r.json() == {"detail": "internal error (logged on the server)"}


def test_the_api_does_not_import_tensorflow() -> None:
    code = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from service.api import create_app\n"
        "from service.settings import Settings\n"
        "from service.store import SQLStore\n"
        "store = SQLStore('sqlite://', upgrade=True)\n"
        "class Manager:\n"
        "    def start(self, search_id): pass\n"
        "c = TestClient(create_app(store, Manager(), Settings()))\n"
        "dna = c.get('/api/v1/seeds/primer').json()['dna']\n"
        "assert c.post('/api/v1/dna/validate', json=dna).json()['valid']\n"
        "assert c.post('/api/v1/searches', json={'budget': 'x'}).status_code == 422\n"
        "assert c.post('/api/v1/searches', json={'budget': '5s'}).status_code == 201\n"
        "assert 'tensorflow' not in sys.modules, 'the API imported TensorFlow'\n"
    )
    subprocess.run([sys.executable, "-W", "ignore", "-c", code], check=True, timeout=120)
