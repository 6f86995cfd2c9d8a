"""The API's reads for the dashboard: the fitness points, the statistics, a child's diff against
its parent, the extra sorts and the population filter of the individual pages, and the progress
numbers of the search list. On SQLite and PostgreSQL (when PRIMER_SEARCH_TEST_POSTGRES_URL is
set), against a store filled through its own methods."""

from __future__ import annotations

import pytest
from api_support import (
    API,
    CONFIG,
    FITNESS,
    RecordingManager,
    client_for,
    fill_search,
)
from fastapi.testclient import TestClient
from store_support import (
    done,
    proposal,
    seed_dna,
    stopped,
    trained,
)

from primer_search.dna import parse_dna
from primer_search.render import render
from service.store import Evaluation, SearchStatus, SQLStore

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def client(store: SQLStore) -> TestClient:
    return client_for(store, RecordingManager())


@pytest.fixture
def sid(store: SQLStore) -> int:
    return fill_search(store)


def running_search(store: SQLStore, **config: object) -> int:
    sid = store.create_search("s", {**CONFIG, **config}, seed_dna())
    store.update_status(sid, SearchStatus.RUNNING, {SearchStatus.CREATED})
    return sid


def get(client: TestClient, path: str) -> dict:
    r = client.get(f"{API}{path}")
    assert r.status_code == 200, r.text
    answer: dict = r.json()
    return answer


# -- points ---------------------------------------------------------------------------------------

COLUMNS = [
    "seq",
    "iid",
    "status",
    "fitness",
    "perplexity",
    "hurdle_reached",
    "parameter_count",
    "step_seconds",
    "seconds",
    "mutation_type",
    "parent_iid",
]


def test_points_are_the_trained_individuals_as_columns_in_finish_order(
    client: TestClient, sid: int
) -> None:
    p = get(client, f"/searches/{sid}/points")
    assert all(len(p[c]) == p["count"] == 8 for c in COLUMNS)
    # fill_search records the results of 0, 1, 2, 4, 6, 9 as it goes, then 3 fails, 5 stops;
    # 7 (cached) and 8 (rejected) are numbered but are not points; 10 is pending
    assert p["iid"] == [0, 1, 2, 4, 6, 9, 3, 5]
    assert p["seq"] == sorted(p["seq"]) and p["last_seq"] == p["seq"][-1] == 10
    assert p["status"] == ["done"] * 6 + ["failed", "stopped"]
    assert p["fitness"] == [*(FITNESS[i] for i in (0, 1, 2, 4, 6, 9)), None, 6.0]
    assert p["parent_iid"] == [None, None, None, 0, 4, 6, None, 1]
    assert p["hurdle_reached"][-1] == 1
    assert p["started_at"] is not None and p["search_id"] == sid
    assert all(s >= 0 for s in p["seconds"]) and p["seconds"] == sorted(p["seconds"])


def test_points_are_polled_after_the_last_seq(
    client: TestClient, store: SQLStore, sid: int
) -> None:
    first = get(client, f"/searches/{sid}/points?limit=3")
    assert first["iid"] == [0, 1, 2]
    rest = get(client, f"/searches/{sid}/points?after={first['last_seq']}")
    assert rest["iid"] == [4, 6, 9, 3, 5]
    none_yet = get(client, f"/searches/{sid}/points?after={rest['last_seq']}")
    assert (none_yet["count"], none_yet["last_seq"], none_yet["iid"]) == (0, None, [])
    store.record_result(sid, 10, done(3.9), {})
    new = get(client, f"/searches/{sid}/points?after={rest['last_seq']}")
    assert (new["iid"], new["seq"]) == ([10], [rest["last_seq"] + 1])


def test_bad_point_queries_are_422_naming_the_field(client: TestClient, sid: int) -> None:
    for query, field in [
        ("after=-1", "after"),
        ("after=x", "after"),
        ("limit=0", "limit"),
        ("limit=50001", "limit"),
    ]:
        r = client.get(f"{API}/searches/{sid}/points?{query}")
        assert r.status_code == 422, query
        assert r.json()["detail"][0]["loc"] == ["query", field]


# -- statistics -----------------------------------------------------------------------------------


def test_statistics_of_the_filled_search(client: TestClient, sid: int) -> None:
    s = get(client, f"/searches/{sid}/statistics")
    assert s["counts"] == {
        "pending": 1,
        "running": 0,
        "done": 6,
        "stopped": 1,
        "failed": 1,
        "cached": 1,
        "rejected": 1,
    }
    assert (s["evaluated"], s["cache_hits"], s["rejected"]) == (8, 1, 1)
    assert s["failures"] == [{"reason": "nan", "count": 1}]  # "nan: loss diverged"
    assert s["rejections"] == [{"reason": "gate", "count": 1}]  # "gate: too many parameters"
    applied = {m["mutation_type"]: m["applied"] for m in s["mutations"]}
    assert sum(applied.values()) == 11  # every individual is a mutated child here
    assert set(s["mutations"][0]) == {
        "mutation_type",
        "applied",
        "compared",
        "beat_parent",
        "mean_fitness_change",
    }
    assert s["hurdles"]["count"] == 0 and s["hurdles"]["levels"] == []


def test_hurdle_statistics(client: TestClient, store: SQLStore) -> None:
    sid = running_search(store, hurdles=2, budget="70s")
    store.record_proposals(sid, [proposal(i) for i in range(5)], {})
    store.record_result(sid, 0, trained(4.0, 10, 0.1, hurdles=2), {})
    store.record_result(sid, 1, trained(4.2, 10, 0.1, hurdles=2), {})
    store.record_result(sid, 2, stopped(6.0, hurdle=1), {})
    store.record_result(sid, 3, stopped(5.0, hurdle=2), {})
    h = get(client, f"/searches/{sid}/statistics")["hurdles"]
    # t_k = T (2^k - 1) / (2^(H+1) - 1): 1/7 and 3/7 of the budget
    assert h["count"] == 2 and h["positions"] == pytest.approx([1 / 7, 3 / 7])
    assert h["levels"] == [
        {"hurdle": 1, "reached": 4, "passed": 3, "pass_rate": 0.75},
        {"hurdle": 2, "reached": 3, "passed": 2, "pass_rate": pytest.approx(2 / 3)},
    ]
    assert h["stopped"] == 2
    saved = (1 - 1 / 7) + (1 - 3 / 7)  # budgets not spent by the two stopped candidates
    assert h["budget_fraction_saved"] == pytest.approx(saved / 4)
    assert h["training_seconds_saved"] == pytest.approx(saved * 70)
    steps = running_search(store, hurdles=1, budget="2000steps")
    store.record_proposals(steps, [proposal(0)], {})
    store.record_result(steps, 0, stopped(6.0, hurdle=1), {})
    h = get(client, f"/searches/{steps}/statistics")["hurdles"]
    assert h["budget_fraction_saved"] == pytest.approx(2 / 3)
    assert h["training_seconds_saved"] is None  # not a budget in seconds


def test_a_search_without_individuals(client: TestClient, store: SQLStore) -> None:
    sid = running_search(store, hurdles=3)
    p = get(client, f"/searches/{sid}/points")
    assert p["count"] == 0 and p["last_seq"] is None and all(p[c] == [] for c in COLUMNS)
    s = get(client, f"/searches/{sid}/statistics")
    assert set(s["counts"].values()) == {0} and s["evaluated"] == 0
    assert s["mutations"] == [] and s["failures"] == [] and s["rejections"] == []
    assert s["hurdles"]["levels"][0] == {"hurdle": 1, "reached": 0, "passed": 0, "pass_rate": None}
    assert s["hurdles"]["budget_fraction_saved"] is None
    listed = get(client, "/searches")["data"][0]
    assert (listed["id"], listed["evaluated"]) == (sid, 0)
    assert get(client, f"/searches/{sid}/individuals?population=true")["total"] == 0


def test_a_search_where_every_candidate_failed(client: TestClient, store: SQLStore) -> None:
    sid = running_search(store, hurdles=1)
    store.record_proposals(sid, [proposal(i) for i in range(4)], {})
    errors = ["non_finite: NaN loss", "out_of_memory: 2 GiB", "non_finite: Inf", "non_finite: x"]
    for i, error in enumerate(errors):
        store.record_result(sid, i, Evaluation.failure(error), {})
    s = get(client, f"/searches/{sid}/statistics")
    assert s["evaluated"] == s["counts"]["failed"] == 4
    assert s["failures"] == [
        {"reason": "non_finite", "count": 3},
        {"reason": "out_of_memory", "count": 1},
    ]
    assert s["hurdles"]["levels"] == [{"hurdle": 1, "reached": 0, "passed": 0, "pass_rate": None}]
    assert s["hurdles"]["budget_fraction_saved"] == 0.0
    p = get(client, f"/searches/{sid}/points")
    assert p["status"] == ["failed"] * 4 and p["fitness"] == [None] * 4


# -- diff -----------------------------------------------------------------------------------------


def code_of(store: SQLStore, sid: int, iid: int) -> list[str]:
    dna = store.get_individual(sid, iid).dna
    assert dna is not None
    return render(parse_dna(dna)).splitlines()


def sides(lines: list[dict]) -> tuple[list[str], list[str]]:
    """The parent's and the child's code, put back together from the diff."""
    old = [x["text"] for x in lines if x["op"] in ("equal", "delete")]
    new = [x["text"] for x in lines if x["op"] in ("equal", "insert")]
    return old, new


def test_a_child_is_diffed_against_its_parent(
    client: TestClient, store: SQLStore, sid: int
) -> None:
    d = get(client, f"/searches/{sid}/individuals/4/diff")
    assert (d["iid"], d["parent_iid"], d["parent_label"]) == (4, 0, "individual 0")
    child = store.get_individual(sid, 4)
    assert d["mutation"] == child.mutation and d["mutation_type"] == child.mutation_type
    assert sides(d["lines"]) == (code_of(store, sid, 0), code_of(store, sid, 4))
    assert {x["op"] for x in d["lines"]} > {"equal"}  # a mutation changes the code
    for x in d["lines"]:
        assert (x["old"] is None) == (x["op"] == "insert")
        assert (x["new"] is None) == (x["op"] == "delete")
    old_numbers = [x["old"] for x in d["lines"] if x["old"] is not None]
    assert old_numbers == list(range(1, len(old_numbers) + 1))


def test_the_first_generation_is_diffed_against_the_seed(
    client: TestClient, store: SQLStore
) -> None:
    sid = client.post(f"{API}/searches", json={"name": "d", "seed": "primer_ez"}).json()["id"]
    store.record_proposals(sid, [proposal(0, mutation=None)], {})
    d = get(client, f"/searches/{sid}/individuals/0/diff")
    assert (d["parent_iid"], d["parent_label"], d["mutation"]) == (None, "seed primer_ez", None)
    seed_code = render(parse_dna(store.get_search(sid).seed_dna)).splitlines()
    assert sides(d["lines"]) == (seed_code, code_of(store, sid, 0))


def test_unknown_ids_are_404(client: TestClient, sid: int) -> None:
    for path in [
        "/searches/999/points",
        "/searches/999/statistics",
        "/searches/999/individuals/0/diff",
        f"/searches/{sid}/individuals/999/diff",
        "/searches/999/individuals?population=true",
    ]:
        r = client.get(f"{API}{path}")
        assert r.status_code == 404, path
        assert "999" in r.json()["detail"], path


# -- individual pages and the search list ---------------------------------------------------------


def test_individuals_sort_by_size_and_step_time(client: TestClient, store: SQLStore) -> None:
    sid = running_search(store)
    store.record_proposals(sid, [proposal(i) for i in range(4)], {})
    for i, (params, step) in {0: (300, 0.2), 1: (100, 0.3), 2: (200, None)}.items():
        store.record_result(sid, i, trained(5.0, params, step), {})

    def order(query: str) -> list[int]:
        return [x["iid"] for x in get(client, f"/searches/{sid}/individuals?{query}")["data"]]

    assert order("sort_by=parameter_count") == [1, 2, 0, 3]
    assert order("sort_by=parameter_count&order=desc") == [0, 2, 1, 3]
    assert order("sort_by=step_seconds&order=desc") == [1, 0, 3, 2]  # ties by iid, desc
    r = client.get(f"{API}/searches/{sid}/individuals?sort_by=size")
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "sort_by"]
    item = get(client, f"/searches/{sid}/individuals?limit=1")["data"][0]
    for field in [
        "iid",
        "status",
        "fitness",
        "perplexity",
        "parameter_count",
        "step_seconds",
        "mutation_type",
        "attempts",
        "error",
        "hurdle_reached",
        "parent_iid",
        "created_at",
        "finished_at",
        "finish_seq",
    ]:
        assert field in item, field


def test_individuals_of_the_current_population(
    client: TestClient, store: SQLStore, sid: int
) -> None:
    state = {"population": [{"id": 9, "fitness": 4.1}, {"id": 4}, {"id": 6}, {"id": 1}]}
    store.record_proposals(sid, [], state)  # saves the engine state alone
    page = get(client, f"/searches/{sid}/individuals?population=true&sort_by=fitness&limit=3")
    assert [x["iid"] for x in page["data"]] == [9, 6, 4] and page["total"] == 4
    page = get(client, f"/searches/{sid}/individuals?population=true&offset=3")
    assert [x["iid"] for x in page["data"]] == [9]  # by iid: 1, 4, 6, then 9


def test_the_search_list_carries_progress(client: TestClient, store: SQLStore, sid: int) -> None:
    idle = store.create_search("idle", CONFIG, seed_dna())  # never started
    listed = {s["id"]: s for s in get(client, "/searches")["data"]}
    assert listed[sid]["evaluated"] == 8
    assert listed[sid]["elapsed_seconds"] > 0 and listed[sid]["evaluations_per_hour"] > 0
    assert listed[idle]["evaluated"] == 0
    assert listed[idle]["elapsed_seconds"] is None and listed[idle]["evaluations_per_hour"] is None
    detail = get(client, f"/searches/{sid}")
    assert detail["evaluated"] == detail["counts"]["evaluated"] == 8
