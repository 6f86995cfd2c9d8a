"""The SearchStore contract (service/store/base.py), run against every backend: SQLite (a file) and
PostgreSQL (when PRIMER_SEARCH_TEST_POSTGRES_URL is set; skipped with the reason otherwise).

Each test gets an empty store: SQLite copies a freshly upgraded file, PostgreSQL truncates the
tables of a schema made for this test session (dropped at its end).
"""

from __future__ import annotations

import collections
import math
import multiprocessing
import shutil
import threading
import time
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from store_support import (
    POSTGRES_SKIP_REASON,
    done,
    engine_state,
    postgres_schema,
    postgres_url,
    proposal,
    record_results_process,
    seed_dna,
)

from primer_search.dna import parse_dna
from primer_search.evolution import (
    EvolutionConfig,
    Outcome,
    ProposalKind,
    RegularizedEvolution,
)
from primer_search.fitness_cache import CachedFitness, FitnessCache, MemoryFitnessCache
from service.store import (
    Evaluation,
    IndividualStatus,
    LeaseLostError,
    NotFoundError,
    SchemaVersionError,
    SearchStatus,
    SQLStore,
    StateConflictError,
    StoreArgumentError,
    StoreError,
    head_revision,
    upgrade_schema,
)
from service.store.database import database_url
from service.store.fitness_cache import DriverFitnessCache

BACKENDS = ["sqlite", "postgresql"]
S = SearchStatus
I = IndividualStatus  # noqa: E741


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("store") / "template.db"
    upgrade_schema(path)
    return str(path)


@pytest.fixture(scope="session")
def postgres_session_url() -> Any:
    base = postgres_url()
    if base is None:
        pytest.skip(POSTGRES_SKIP_REASON)
    with postgres_schema(base) as url:
        upgrade_schema(url)
        yield url


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """An upgraded, empty database of each backend, as a URL string."""
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return str(path)
    session_url = request.getfixturevalue("postgres_session_url")
    engine = create_engine(session_url)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE fitness_cache, individuals, searches RESTART IDENTITY CASCADE"))
    engine.dispose()
    return str(session_url.render_as_string(hide_password=False))


@pytest.fixture
def store(url: str) -> Any:
    with SQLStore(url) as opened:
        yield opened


def new_search(store: SQLStore, name: str = "s", **kw: Any) -> int:
    return store.create_search(name, {"population_size": 4, "budget": "10s"}, seed_dna(), **kw)


def iids(records: Any) -> list[int]:
    return [r.iid for r in records]


class CountingStore:
    """The store, counting the calls of each method."""

    def __init__(self, store: SQLStore):
        self._store = store
        self.calls: collections.Counter[str] = collections.Counter()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return method(*args, **kwargs)

        return counted


class TestSearchStoreContract:
    # -- searches --------------------------------------------------------------------------------

    def test_created_search_reads_back(self, store: SQLStore) -> None:
        state = engine_state(0)
        first = new_search(store, "first", engine_state=state)
        second = new_search(store, "second")
        assert (first, second) == (1, 2)  # small integers that users type
        record = store.get_search(first)
        assert record.name == "first" and record.status is S.CREATED
        assert record.config == {"population_size": 4, "budget": "10s"}
        assert parse_dna(record.seed_dna) == seed_dna()
        assert (record.num_individuals, record.num_finished, record.best_fitness) == (0, 0, None)
        assert record.created_at.tzinfo is not None and record.started_at is None
        assert not record.lease_active
        # 128-bit integers and infinities survive exactly (the RNG state, a failed member).
        assert store.get_engine_state(first) == state
        assert store.get_engine_state(second) is None

    def test_unknown_ids_raise_not_found(self, store: SQLStore) -> None:
        sid = new_search(store)
        store.record_proposals(sid, [proposal(0)], engine_state(1))
        calls = [
            lambda: store.get_search(9),
            lambda: store.get_engine_state(9),
            lambda: store.update_status(9, S.RUNNING, {S.CREATED}),
            lambda: store.record_proposals(9, [], engine_state(0)),
            lambda: store.list_individuals(9),
            lambda: store.status_counts(9),
            lambda: store.best(9),
            lambda: store.pending_individuals(9),
            lambda: store.load_programs(9, [0]),
            lambda: store.mutation_statistics(9),
            lambda: store.acquire_lease(9, "a", 10),
            lambda: store.get_individual(sid, 5),
            lambda: store.lineage(sid, 5),
            lambda: store.mark_running(sid, 5, "w"),
            lambda: store.record_result(sid, 5, done(3.0), engine_state(2)),
        ]
        for call in calls:
            with pytest.raises(NotFoundError):
                call()

    def test_list_searches_pages_newest_first(self, store: SQLStore) -> None:
        ids = [new_search(store, f"s{i}") for i in range(5)]
        store.update_status(ids[1], S.RUNNING, {S.CREATED})
        store.update_status(ids[3], S.RUNNING, {S.CREATED})
        page = store.list_searches(offset=1, limit=2)
        assert [s.id for s in page.items] == [ids[3], ids[2]] and page.total == 5
        running = store.list_searches(status=S.RUNNING)
        assert [s.id for s in running.items] == [ids[3], ids[1]] and running.total == 2
        with pytest.raises(StoreArgumentError, match="limit"):
            store.list_searches(limit=0)

    def test_status_transitions_are_checked(self, store: SQLStore) -> None:
        sid = new_search(store)
        assert store.update_status(sid, S.RUNNING, {S.CREATED, S.PAUSED}) is S.CREATED
        started = store.get_search(sid).started_at
        assert started is not None
        store.update_status(sid, S.PAUSED, {S.RUNNING})
        with pytest.raises(StateConflictError, match="paused") as conflict:
            store.update_status(sid, S.FINISHED, {S.RUNNING})
        assert conflict.value.current == "paused"
        assert store.get_search(sid).status is S.PAUSED  # unchanged
        store.update_status(sid, S.RUNNING, {S.PAUSED})
        store.update_status(sid, S.FAILED, {S.RUNNING}, error="evaluators lost")
        record = store.get_search(sid)
        assert record.status is S.FAILED and record.error == "evaluators lost"
        assert record.started_at == started and record.finished_at is not None

    # -- the driver's writes ---------------------------------------------------------------------

    def test_proposals_of_each_kind_are_stored_with_the_engine_state(self, store: SQLStore) -> None:
        sid = new_search(store)
        proposals = [
            proposal(0),
            proposal(1, kind=ProposalKind.CACHED, cached_fitness=3.5),
            proposal(2, kind=ProposalKind.REJECTED, mutation="swap"),
        ]
        store.record_proposals(sid, proposals, engine_state(3))
        pending, cached, rejected = (store.get_individual(sid, i) for i in range(3))
        assert (pending.status, pending.kind, pending.attempts) == (I.PENDING, "train", 0)
        assert pending.mutation_type == "insert" and pending.mutation is not None
        assert pending.mutation["type"] == "insert"
        assert parse_dna(pending.dna or {}) == seed_dna() and pending.program_hash == "hash-0"
        assert (cached.status, cached.fitness, cached.hurdle_fitness) == (I.CACHED, 3.5, (4.0,))
        assert cached.perplexity == pytest.approx(math.exp(3.5))
        assert rejected.status is I.REJECTED and rejected.error == "gate: too many parameters"
        assert store.get_engine_state(sid) == engine_state(3)
        search = store.get_search(sid)
        assert (search.num_individuals, search.num_finished) == (3, 2)

    def test_proposals_are_not_stored_when_the_engine_state_write_fails(
        self, store: SQLStore
    ) -> None:
        sid = new_search(store, engine_state=engine_state(0))
        unwritable = {"format": 1, "not json": object()}
        with pytest.raises(StoreError):
            store.record_proposals(sid, [proposal(0), proposal(1)], unwritable)
        assert store.list_individuals(sid).total == 0
        assert store.get_engine_state(sid) == engine_state(0)
        assert store.get_search(sid).num_individuals == 0

    def test_a_failed_batch_of_proposals_leaves_nothing(self, store: SQLStore) -> None:
        sid = new_search(store)
        store.record_proposals(sid, [proposal(0)], engine_state(1))
        with pytest.raises(StateConflictError):  # iid 0 again, after a new one
            store.record_proposals(sid, [proposal(1), proposal(0)], engine_state(2))
        with pytest.raises(StateConflictError):  # a parent that was never stored
            store.record_proposals(sid, [proposal(2), proposal(3, parent=77)], engine_state(3))
        assert iids(store.list_individuals(sid).items) == [0]
        assert store.get_engine_state(sid) == engine_state(1)

    def test_mark_running_counts_attempts(self, store: SQLStore) -> None:
        sid = new_search(store)
        store.record_proposals(sid, [proposal(0), proposal(1, kind=ProposalKind.REJECTED)], {})
        assert store.mark_running(sid, 0, "evaluator-1") == 1
        assert store.mark_running(sid, 0, "evaluator-2") == 2  # resubmitted after a death
        individual = store.get_individual(sid, 0)
        assert (individual.status, individual.worker, individual.attempts) == (
            I.RUNNING,
            "evaluator-2",
            2,
        )
        assert individual.started_at is not None
        with pytest.raises(StateConflictError, match="rejected"):
            store.mark_running(sid, 1, "evaluator-1")
        store.record_result(sid, 0, done(3.0), engine_state(1))
        with pytest.raises(StateConflictError, match="done") as conflict:
            store.mark_running(sid, 0, "evaluator-1")
        assert conflict.value.current == "done"

    def test_a_result_is_stored_with_the_engine_state(self, store: SQLStore) -> None:
        sid = new_search(store)
        store.record_proposals(sid, [proposal(0), proposal(1), proposal(2)], engine_state(0))
        store.mark_running(sid, 0, "w")
        evaluation = Evaluation(
            status=I.STOPPED,
            fitness=4.25,
            perplexity=math.exp(4.25),
            hurdle_fitness=(4.25,),
            hurdle_reached=1,
            parameter_count=12345,
            step_seconds=0.5,
            result={"status": "stopped_at_hurdle", "perplexity": math.inf},
        )
        store.record_result(sid, 0, evaluation, engine_state(1))
        store.record_result(sid, 1, done(3.5), engine_state(2))  # straight from pending
        store.record_result(sid, 2, Evaluation.failure("evaluator died 3 times"), engine_state(3))
        stopped, trained, failed = (store.get_individual(sid, i) for i in range(3))
        assert (stopped.status, stopped.fitness, stopped.hurdle_fitness) == (
            I.STOPPED,
            4.25,
            (4.25,),
        )
        assert (stopped.hurdle_reached, stopped.parameter_count, stopped.step_seconds) == (
            1,
            12345,
            0.5,
        )
        assert stopped.result == {"status": "stopped_at_hurdle", "perplexity": math.inf}
        assert stopped.finished_at is not None and stopped.finished_at >= stopped.created_at
        assert (trained.status, trained.fitness) == (I.DONE, 3.5)
        assert (failed.status, failed.fitness, failed.error) == (
            I.FAILED,
            None,
            "evaluator died 3 times",
        )
        assert store.get_engine_state(sid) == engine_state(3)
        search = store.get_search(sid)
        assert (search.num_finished, search.best_fitness, search.best_iid) == (3, 3.5, 1)

    def test_a_second_result_is_a_conflict(self, store: SQLStore) -> None:
        sid = new_search(store)
        store.record_proposals(sid, [proposal(0)], engine_state(0))
        store.record_result(sid, 0, done(3.0), engine_state(1))
        with pytest.raises(StateConflictError, match="already done") as conflict:
            store.record_result(sid, 0, done(2.0), engine_state(2))
        assert conflict.value.current == "done"
        assert store.get_individual(sid, 0).fitness == 3.0
        assert store.get_engine_state(sid) == engine_state(1)
        assert store.get_search(sid).num_finished == 1

    def test_a_result_is_not_stored_when_the_engine_state_write_fails(
        self, store: SQLStore
    ) -> None:
        sid = new_search(store)
        store.record_proposals(sid, [proposal(0)], engine_state(0))
        store.mark_running(sid, 0, "w")
        with pytest.raises(StoreError):
            store.record_result(sid, 0, done(3.0), {"bad": object()})
        individual = store.get_individual(sid, 0)
        assert (individual.status, individual.fitness) == (I.RUNNING, None)
        assert store.get_engine_state(sid) == engine_state(0)

    def test_a_turn_is_written_whole_in_arrival_order(self, store: SQLStore) -> None:
        sid = new_search(store)
        store.record_proposals(sid, [proposal(i) for i in range(3)], engine_state(0))
        store.mark_running(sid, 0, "w0")
        store.mark_running(sid, 1, "w1")
        entry = CachedFitness(fitness=3.5, hurdle_fitness=(4.0,), source_id=1)
        turn = store.record_turn(
            sid,
            results=[(1, done(3.5)), (0, Evaluation.failure("nan"))],  # in arrival order
            proposals=[
                proposal(3, parent=1),
                proposal(4, parent=1, kind=ProposalKind.CACHED, cached_fitness=3.5),
                proposal(5, parent=1),
                proposal(6, parent=1, kind=ProposalKind.REJECTED),
            ],
            running={3: "w0", 2: "w1"},  # a new proposal and a stored one handed out
            engine_state=engine_state(1),
            cache_entries=[("hash-1", "key", entry)],
        )
        assert turn.status is S.CREATED and turn.attempts == {3: 1, 2: 1} and not turn.cache_kept
        got = {i: store.get_individual(sid, i) for i in range(7)}
        assert [(got[i].status, got[i].finish_seq) for i in range(7)] == [
            (I.FAILED, 2),
            (I.DONE, 1),
            (I.RUNNING, None),
            (I.RUNNING, None),
            (I.CACHED, 3),
            (I.PENDING, None),
            (I.REJECTED, 4),
        ]
        assert (got[3].worker, got[3].attempts, got[2].worker, got[2].attempts) == (
            "w0",
            1,
            "w1",
            1,
        )
        assert got[3].started_at is not None and got[5].attempts == 0
        search = store.get_search(sid)
        assert (search.num_individuals, search.num_finished) == (7, 4)
        assert (search.best_fitness, search.best_iid) == (3.5, 1)
        assert store.get_engine_state(sid) == engine_state(1)
        assert store.cache_get("hash-1", "key") == entry
        assert store.cache_entries("key", sid) == {"hash-1": entry}

        # A turn of hand-outs alone leaves the engine state; the cache keeps its first entry.
        later = CachedFitness(fitness=9.0, source_id=5)
        turn = store.record_turn(
            sid, running={3: "w2"}, cache_entries=[("hash-1", "key", later), ("h", "key", later)]
        )
        assert turn.attempts == {3: 2} and turn.cache_kept == (("hash-1", "key"),)
        assert store.cache_get("hash-1", "key") == entry and store.cache_get("h", "key") == later
        assert store.get_engine_state(sid) == engine_state(1)
        assert store.get_search(sid).num_finished == 4

    def test_a_turn_with_any_conflict_writes_nothing(self, store: SQLStore) -> None:
        sid = new_search(store)
        store.record_proposals(sid, [proposal(i) for i in range(3)], engine_state(0))
        store.record_result(sid, 0, done(3.0), engine_state(1))
        entry = CachedFitness(fitness=3.5, source_id=1)
        turns: list[tuple[dict[str, Any], type[Exception], str]] = [
            # after a result that applies: a result for an individual that is final already,
            ({"results": [(1, done(3.5)), (0, done(2.0))]}, StateConflictError, "0 .* done"),
            # the same individual twice in one turn, an unknown individual,
            ({"results": [(1, done(3.5)), (1, done(3.4))]}, StateConflictError, "1 .* done"),
            ({"results": [(1, done(3.5)), (9, done(3.0))]}, NotFoundError, "individual 9"),
            # a final individual handed out, a settled proposal handed out, a stored id proposed
            ({"results": [(1, done(3.5))], "running": {0: "w"}}, StateConflictError, "0 .*done"),
            (
                {"proposals": [proposal(3, kind=ProposalKind.REJECTED)], "running": {3: "w"}},
                StateConflictError,
                "rejected",
            ),
            (
                {"results": [(1, done(3.5))], "proposals": [proposal(2)]},
                StateConflictError,
                "conflict",
            ),
        ]
        for turn, error, message in turns:
            turn["proposals"] = [proposal(4), *turn.get("proposals", [])]  # and a valid one
            with pytest.raises(error, match=message):
                store.record_turn(
                    sid, **turn, engine_state=engine_state(2), cache_entries=[("h", "k", entry)]
                )
        assert [i.status for i in store.list_individuals(sid).items] == [
            I.DONE,
            I.PENDING,
            I.PENDING,
        ]
        assert store.get_engine_state(sid) == engine_state(1)
        assert store.cache_get("h", "k") is None
        search = store.get_search(sid)
        assert (search.num_individuals, search.num_finished, search.best_iid) == (3, 1, 0)

    def test_evaluations_are_validated(self) -> None:
        with pytest.raises(StoreArgumentError, match="finite fitness"):
            Evaluation(status=I.DONE, fitness=math.nan)
        with pytest.raises(StoreArgumentError, match="status"):
            Evaluation(status=I.PENDING)

    # -- what a resuming driver reads ------------------------------------------------------------

    def test_pending_individuals_and_programs(self, store: SQLStore) -> None:
        sid = new_search(store)
        store.record_proposals(sid, [proposal(i) for i in range(4)], engine_state(0))
        store.mark_running(sid, 2, "w")
        store.record_result(sid, 1, done(3.0), engine_state(1))
        pending = store.pending_individuals(sid)
        assert iids(pending) == [0, 2, 3]
        assert [p.status for p in pending] == [I.PENDING, I.RUNNING, I.PENDING]
        assert all(p.dna == seed_dna().to_dict() for p in pending)
        programs = store.load_programs(sid, [3, 1, 42])
        assert sorted(programs) == [1, 3] and parse_dna(programs[3]) == seed_dna()

    def test_a_search_resumes_exactly_from_the_store(self, store: SQLStore) -> None:
        """Drive a real engine through the store, 'crash' with candidates in flight, rebuild
        it from the store alone: it continues exactly like an engine that never stopped."""
        config = EvolutionConfig(population_size=5, tournament_size=3, seed=11)

        def fitness(program_hash: str) -> float:
            return 3.0 + int(program_hash[:6], 16) / 16**6

        def step(engine: RegularizedEvolution, sid: int | None) -> list[int]:
            """Up to 3 proposals in flight, then the oldest in flight is reported."""
            made = []
            while len(engine.pending) < 3:
                p = engine.propose()
                if p is None:
                    break
                made.append(p.id)
                if sid is not None:
                    store.record_proposals(sid, [p], engine.state_dict(include_programs=False))
            oldest = min(p.id for p in engine.pending)
            program_hash = next(p.program_hash for p in engine.pending if p.id == oldest)
            engine.report(oldest, Outcome(fitness=fitness(program_hash)))
            if sid is not None:
                state = engine.state_dict(include_programs=False)
                store.record_result(sid, oldest, done(fitness(program_hash)), state)
            return made

        reference = RegularizedEvolution(seed_dna(), config, cache=MemoryFitnessCache())
        sid = new_search(store)
        cache: FitnessCache = store.fitness_cache(sid)
        crashed = RegularizedEvolution(seed_dna(), config, cache=cache)
        for _ in range(12):
            assert step(reference, None) == step(crashed, sid)
        assert crashed.pending  # candidates in flight at the crash
        state = store.get_engine_state(sid)
        assert state is not None
        needed = [m["id"] for m in state["population"]] + [p["id"] for p in state["pending"]]
        programs = {i: parse_dna(d) for i, d in store.load_programs(sid, needed).items()}
        resumed = RegularizedEvolution.from_state(state, seed_dna(), cache=cache, programs=programs)
        assert iids(store.pending_individuals(sid)) == sorted(p.id for p in resumed.pending)
        for _ in range(12):
            assert step(reference, None) == step(resumed, sid)
        assert resumed.state_dict() == reference.state_dict()

    # -- reads for the API and the dashboard -----------------------------------------------------

    def test_pages_are_sorted_filtered_and_counted(self, store: SQLStore) -> None:
        sid = new_search(store)
        # Two batches, the second with lower iids, so that "created" and "iid" orders differ.
        store.record_proposals(sid, [proposal(i) for i in range(12, 24)], engine_state(0))
        time.sleep(0.01)
        store.record_proposals(sid, [proposal(i) for i in range(12)], engine_state(1))
        fitness: dict[int, float | None] = {}
        for i in range(24):
            if i % 5 == 4:
                store.record_result(sid, i, Evaluation.failure("nan"), engine_state(2))
                fitness[i] = None
            elif i % 7 != 6:  # the rest stay pending, without fitness
                fitness[i] = 3.0 + (i * 7 % 5) / 10  # repeated values: ties broken by iid
                store.record_result(sid, i, done(fitness[i]), engine_state(2))
            else:
                fitness[i] = None
        created = list(range(12, 24)) + list(range(12))

        def by_fitness(descending: bool) -> list[int]:
            have = [i for i in range(24) if fitness[i] is not None]
            ordered = sorted(have, key=lambda i: (fitness[i], i), reverse=descending)
            return ordered + sorted(
                (i for i in range(24) if fitness[i] is None), reverse=descending
            )

        expected = {
            ("iid", False): list(range(24)),
            ("iid", True): list(range(23, -1, -1)),
            ("created", False): created,
            ("created", True): created[::-1],
            ("fitness", False): by_fitness(False),
            ("fitness", True): by_fitness(True),
        }
        for (sort_by, descending), order in expected.items():
            pages = [
                store.list_individuals(
                    sid, offset=o, limit=5, sort_by=sort_by, descending=descending
                )
                for o in range(0, 25, 5)
            ]
            assert {p.total for p in pages} == {24}
            assert [i for p in pages for i in iids(p.items)] == order, (sort_by, descending)
        failed = store.list_individuals(sid, status=I.FAILED, sort_by="iid")
        assert iids(failed.items) == [4, 9, 14, 19] and failed.total == 4
        either = store.list_individuals(sid, status=[I.FAILED, I.PENDING], limit=2)
        assert iids(either.items) == [4, 6] and either.total == 7
        assert store.list_individuals(sid, offset=100).items == []
        with pytest.raises(StoreArgumentError, match="sort_by"):
            store.list_individuals(sid, sort_by="name")

    def test_pages_carry_details_only_when_asked(self, store: SQLStore) -> None:
        sid = new_search(store)
        store.record_proposals(sid, [proposal(0)], engine_state(0))
        store.record_result(sid, 0, done(3.0), engine_state(1))
        (summary,) = store.list_individuals(sid).items
        assert summary.dna is None and summary.result is None and summary.mutation is not None
        (detail,) = store.list_individuals(sid, details=True).items
        assert detail.dna == seed_dna().to_dict() and detail.result == done(3.0).result
        assert detail == store.get_individual(sid, 0)

    def test_lineage_follows_parents_to_the_first_generation(self, store: SQLStore) -> None:
        sid = new_search(store)
        store.record_proposals(sid, [proposal(0), proposal(1, mutation=None)], engine_state(0))
        store.record_proposals(sid, [proposal(2, parent=0), proposal(3, parent=1)], {})
        store.record_proposals(sid, [proposal(4, parent=2)], {})
        store.record_proposals(sid, [proposal(5, parent=4), proposal(6, parent=2)], {})
        assert iids(store.lineage(sid, 5)) == [5, 4, 2, 0]
        assert iids(store.lineage(sid, 3)) == [3, 1]
        assert iids(store.lineage(sid, 0)) == [0]
        other = new_search(store)  # the same iids in another search are not followed
        store.record_proposals(other, [proposal(0), proposal(2, parent=0)], {})
        assert iids(store.lineage(other, 2)) == [2, 0]

    def test_best_and_status_counts(self, store: SQLStore) -> None:
        sid = new_search(store)
        store.record_proposals(
            sid,
            [
                *(proposal(i) for i in range(6)),
                proposal(6, kind=ProposalKind.CACHED, cached_fitness=1.0),
                proposal(7, kind=ProposalKind.REJECTED),
            ],
            engine_state(0),
        )
        for i, f in [(0, 3.3), (1, 3.1), (2, 3.1), (3, 3.2)]:
            store.record_result(sid, i, done(f), engine_state(i))
        store.mark_running(sid, 4, "w")
        assert iids(store.best(sid, k=3)) == [1, 2, 3]
        assert store.best(sid, k=1)[0].dna == seed_dna().to_dict()
        assert iids(store.best(sid, k=2, statuses=[I.DONE, I.CACHED])) == [6, 1]
        counts = store.status_counts(sid)
        assert counts == {
            I.PENDING: 1,
            I.RUNNING: 1,
            I.DONE: 4,
            I.STOPPED: 0,
            I.FAILED: 0,
            I.CACHED: 1,
            I.REJECTED: 1,
        }
        assert store.status_counts(new_search(store)) == dict.fromkeys(I, 0)

    def test_mutation_statistics(self, store: SQLStore) -> None:
        sid = new_search(store)
        store.record_proposals(sid, [proposal(0), proposal(1, mutation=None)], {})
        store.record_proposals(
            sid,
            [
                proposal(2, parent=0, mutation="insert"),
                proposal(3, parent=0, mutation="insert"),
                proposal(4, parent=1, mutation="swap"),
                proposal(5, parent=1, mutation="swap"),
                proposal(6, parent=2, mutation="delete"),
                proposal(7, parent=2, mutation="swap", kind=ProposalKind.REJECTED),
            ],
            {},
        )
        for i, f in [(0, 5.0), (1, 4.0), (2, 4.5), (3, 5.9), (4, 3.0)]:
            store.record_result(sid, i, done(f), {})
        store.record_result(sid, 5, Evaluation.failure("nan"), {})
        store.record_proposals(
            sid,
            [
                proposal(
                    8, parent=4, mutation="delete", kind=ProposalKind.CACHED, cached_fitness=3.0
                )
            ],
            {},
        )
        stats = {s.mutation_type: s for s in store.mutation_statistics(sid)}
        assert sorted(stats) == ["delete", "insert", "swap"]
        # insert: 0 (no parent row: the seed's child), 2 (-0.5, beats), 3 (+0.9)
        assert (stats["insert"].applied, stats["insert"].compared) == (3, 2)
        assert stats["insert"].beat_parent == 1
        assert stats["insert"].mean_fitness_change == pytest.approx(0.2)
        # swap: 4 (-1.0, beats), 5 failed and 7 rejected are not compared
        assert (stats["swap"].applied, stats["swap"].compared, stats["swap"].beat_parent) == (
            3,
            1,
            1,
        )
        assert stats["swap"].mean_fitness_change == pytest.approx(-1.0)
        # delete: 6 pending, 8 cached at its parent's fitness (a tie does not beat)
        assert (stats["delete"].applied, stats["delete"].compared) == (2, 1)
        assert stats["delete"].beat_parent == 0 and stats["delete"].mean_fitness_change == 0.0
        assert store.mutation_statistics(new_search(store)) == []

    # -- the fitness cache -----------------------------------------------------------------------

    def test_fitness_cache_keeps_the_first_entry(self, store: SQLStore) -> None:
        sid = new_search(store)
        cache: FitnessCache = store.fitness_cache(sid)
        first = CachedFitness(fitness=3.0, hurdle_fitness=(4.0, 3.5), source_id=7)
        assert cache.get("h", "budget-a") is None
        cache.put("h", "budget-a", first)
        cache.put("h", "budget-a", CachedFitness(fitness=2.0, source_id=9))  # no overwrite
        assert cache.get("h", "budget-a") == first
        assert cache.get("h", "budget-b") is None
        assert store.cache_put("h", "budget-b", first) is True
        assert store.cache_put("h", "budget-b", first) is False
        other = SQLStore(store.url)  # another connection (or process) sees the same cache
        try:
            assert other.fitness_cache().get("h", "budget-a") == first
        finally:
            other.close()

    def test_a_search_alone_on_its_cache_key_is_told_so(self, store: SQLStore) -> None:
        a, b = new_search(store, "a"), new_search(store, "b")
        value = CachedFitness(fitness=3.0, source_id=7)
        assert not store.cache_shared("key", a) and store.cache_entries("key", a) == {}
        store.cache_put("h1", "key", value, a)
        store.cache_put("h2", "other-key", value, b)
        assert not store.cache_shared("key", a) and not store.cache_shared("other-key", b)
        assert store.cache_shared("key", b) and store.cache_shared("other-key", a)
        assert (
            store.cache_entries("key", a) == {"h1": value} and store.cache_entries("key", b) == {}
        )
        store.cache_put("h3", "other-key", value)  # put by no search: shared with everyone
        assert store.cache_shared("other-key", b)

    def test_the_drivers_cache_asks_the_store_only_what_it_cannot_know(
        self, store: SQLStore
    ) -> None:
        a, b = new_search(store, "a"), new_search(store, "b")
        store.cache_put("earlier", "key", CachedFitness(fitness=2.0, source_id=0), a)
        counting = CountingStore(store)
        cache = DriverFitnessCache(counting, a, recheck_seconds=0.2)  # type: ignore[arg-type]
        value = CachedFitness(fitness=3.0, source_id=7)
        assert cache.get("earlier", "key") == CachedFitness(fitness=2.0, source_id=0)  # resumed
        cache.put("h1", "key", value)
        assert cache.get("h1", "key") == value and store.cache_get("h1", "key") is None  # held
        assert cache.take_unsaved() == [("h1", "key", value)] and cache.take_unsaved() == []
        assert cache.get("new", "key") is None
        assert counting.calls["cache_get"] == 0  # alone on its key: no lookups in the store

        store.cache_put("theirs", "key", value, b)  # another search starts sharing the key
        time.sleep(0.25)
        assert cache.get("theirs", "key") == value and counting.calls["cache_get"] == 1
        assert cache.get("theirs", "key") == value and counting.calls["cache_get"] == 1
        cache.put("h2", "key", value)
        cache.forget([("h2", "key")])  # the store kept another entry: read it next time
        assert cache.get("h2", "key") is None and counting.calls["cache_get"] == 2

    # -- the driver's lease ----------------------------------------------------------------------

    def test_one_holder_at_a_time(self, store: SQLStore) -> None:
        sid = new_search(store)
        assert store.acquire_lease(sid, "driver-a", 60)
        assert not store.acquire_lease(sid, "driver-b", 60)
        assert store.acquire_lease(sid, "driver-a", 60)  # renewal by the holder
        record = store.get_search(sid)
        assert record.lease_active and record.lease_holder == "driver-a"
        assert record.lease_expires_at is not None
        assert store.heartbeat(sid, "driver-a") and not store.heartbeat(sid, "driver-b")
        assert not store.release_lease(sid, "driver-b")
        assert store.release_lease(sid, "driver-a")
        assert not store.get_search(sid).lease_active
        assert store.acquire_lease(sid, "driver-b", 60)
        with pytest.raises(StoreArgumentError, match="ttl"):
            store.acquire_lease(sid, "driver-b", 0)

    def test_an_expired_lease_is_taken_over_and_the_old_driver_is_fenced(
        self, store: SQLStore
    ) -> None:
        sid = new_search(store)
        store.record_proposals(sid, [proposal(0), proposal(1)], engine_state(0))
        assert store.acquire_lease(sid, "old", 0.2)
        store.mark_running(sid, 0, "w", lease_holder="old")
        assert not store.acquire_lease(sid, "new", 60)
        time.sleep(0.35)
        assert not store.get_search(sid).lease_active
        assert store.heartbeat(sid, "old")  # expired but not taken: still old's, renewed
        time.sleep(0.35)
        assert store.acquire_lease(sid, "new", 60)
        assert not store.heartbeat(sid, "old")
        with pytest.raises(LeaseLostError, match="new"):
            store.record_result(sid, 0, done(3.0), engine_state(1), lease_holder="old")
        with pytest.raises(LeaseLostError):
            store.record_proposals(sid, [proposal(2)], engine_state(1), lease_holder="old")
        with pytest.raises(LeaseLostError):
            store.mark_running(sid, 1, "w", lease_holder="old")
        assert store.get_engine_state(sid) == engine_state(0)
        assert store.status_counts(sid)[I.PENDING] == 1
        store.record_result(sid, 0, done(3.0), engine_state(1), lease_holder="new")

    # -- schema ----------------------------------------------------------------------------------

    def test_the_schema_is_created_in_an_empty_database(self, empty_url: str) -> None:
        with pytest.raises(SchemaVersionError, match="upgrade_schema"):
            SQLStore(empty_url)
        assert upgrade_schema(empty_url) == head_revision()
        assert upgrade_schema(empty_url) == head_revision()  # a second upgrade changes nothing
        with SQLStore(empty_url) as store:
            assert new_search(store) == 1
            assert store.mutation_statistics(1) == []

    def test_the_migrations_create_exactly_the_tables_the_code_uses(self, url: str) -> None:
        from alembic.autogenerate import compare_metadata
        from alembic.runtime.migration import MigrationContext

        from service.store.schema import metadata

        engine = create_engine(database_url(url))
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
        engine.dispose()

    def test_a_newer_schema_is_refused(self, empty_url: str) -> None:
        url = empty_url
        upgrade_schema(url)
        engine = create_engine(database_url(url))
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'f00d_from_the_future'"))
        engine.dispose()
        with pytest.raises(SchemaVersionError, match="newer primer-search"):
            upgrade_schema(url)
        with pytest.raises(SchemaVersionError, match="f00d_from_the_future"):
            SQLStore(url)

    # -- concurrency -----------------------------------------------------------------------------

    def test_two_processes_record_results_at_once(self, store: SQLStore) -> None:
        sid = new_search(store)
        store.record_proposals(sid, [proposal(i) for i in range(60)], engine_state(0))
        url = store.url.render_as_string(hide_password=False)
        context = multiprocessing.get_context("spawn")
        workers = [
            context.Process(
                target=record_results_process, args=(url, sid, list(range(k, 60, 2)), f"p{k}")
            )
            for k in (0, 1)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        assert [w.exitcode for w in workers] == [0, 0]  # no "database is locked", no error
        assert store.status_counts(sid)[I.DONE] == 60
        assert store.get_search(sid).num_finished == 60
        assert {r.worker for r in store.list_individuals(sid, limit=60).items} == {"p0", "p1"}

    def test_threads_share_one_store(self, store: SQLStore) -> None:
        sid = new_search(store)
        store.record_proposals(sid, [proposal(i) for i in range(40)], engine_state(0))
        errors: list[BaseException] = []

        def work(k: int) -> None:
            try:
                for iid in range(k, 40, 4):
                    store.mark_running(sid, iid, f"t{k}")
                    store.record_result(sid, iid, done(3.0), engine_state(iid))
                    store.list_individuals(sid, sort_by="fitness", limit=5)
            except BaseException as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert store.get_search(sid).num_finished == 40
