"""The store's reads for the dashboard (service/store/base.py): the finish order and the fitness
points, the hurdle histogram, failure reasons, status counts of several searches, the extra
sorts and the population filter; and migration 0002's numbering of an existing database. Run
against SQLite and PostgreSQL (when PRIMER_SEARCH_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from alembic import command
from sqlalchemy import insert
from sqlalchemy.engine import URL
from store_support import (
    done,
    engine_state,
    proposal,
    seed_dna,
    stopped,
    trained,
)

from primer_search.evolution import ProposalKind
from service.store import (
    Evaluation,
    IndividualStatus,
    NotFoundError,
    SearchStatus,
    SQLStore,
    StoreArgumentError,
    upgrade_schema,
)
from service.store.base import MAX_POINTS
from service.store.database import create_db_engine
from service.store.migrate import alembic_config, head_revision
from service.store.schema import individuals, searches

I = IndividualStatus  # noqa: E741


def new_search(store: SQLStore, started: bool = True, **config: Any) -> int:
    sid = store.create_search("s", {"population_size": 4, "budget": "10s", **config}, seed_dna())
    if started:
        store.update_status(sid, SearchStatus.RUNNING, {SearchStatus.CREATED})
    return sid


def finish_order(store: SQLStore, sid: int) -> dict[int, int | None]:
    page = store.list_individuals(sid, limit=1000)
    return {r.iid: r.finish_seq for r in page.items}


# -- the finish order and the points ------------------------------------------------------------


def test_individuals_are_numbered_in_the_order_they_become_final(store: SQLStore) -> None:
    sid = new_search(store)
    store.record_proposals(
        sid,
        [proposal(0), proposal(1), proposal(2, kind=ProposalKind.CACHED, cached_fitness=4.0)],
        engine_state(0),
    )
    store.record_result(sid, 1, done(5.0), engine_state(1))
    store.record_proposals(sid, [proposal(3, kind=ProposalKind.REJECTED), proposal(4)], {})
    store.record_result(sid, 0, Evaluation.failure("runtime: boom"), {})
    assert finish_order(store, sid) == {0: 4, 1: 2, 2: 1, 3: 3, 4: None}
    assert store.get_individual(sid, 0).finish_seq == 4
    assert store.get_search(sid).num_finished == 4
    other = new_search(store)  # each search counts from 1
    store.record_proposals(other, [proposal(0)], {})
    store.record_result(other, 0, done(5.0), {})
    assert finish_order(store, other) == {0: 1}


def test_concurrent_writers_never_share_a_number(store: SQLStore) -> None:
    sid = new_search(store)
    store.record_proposals(sid, [proposal(i) for i in range(40)], {})

    def record(iids: range) -> None:
        for i in iids:
            store.record_result(sid, i, done(5.0), engine_state(i, 2000))

    writers = [threading.Thread(target=record, args=(range(k, 40, 2),)) for k in (0, 1)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
    points = store.fitness_points(sid)
    assert points.seq == list(range(1, 41)) and sorted(points.iid) == list(range(40))


def test_points_are_the_trained_individuals_in_finish_order(store: SQLStore) -> None:
    sid = new_search(store)
    store.record_proposals(
        sid,
        [
            proposal(0, mutation=None),
            proposal(1, parent=0, mutation="swap"),
            proposal(2, kind=ProposalKind.CACHED, cached_fitness=4.0),
            proposal(3),
            proposal(4, kind=ProposalKind.REJECTED),
            proposal(5),
        ],
        {},
    )
    store.record_result(sid, 0, trained(5.0, 1234, 0.5, hurdles=2), {})
    store.record_result(sid, 3, stopped(6.0, hurdle=1), {})
    store.record_result(sid, 1, Evaluation.failure("non_finite: nan loss"), {})
    points = store.fitness_points(sid)
    # 2 (cached) and 4 (rejected) were numbered 1 and 2 at insert; 5 is still pending
    assert (points.seq, points.iid) == ([3, 4, 5], [0, 3, 1])
    assert points.status == [I.DONE, I.STOPPED, I.FAILED]
    assert points.fitness == [5.0, 6.0, None]
    assert points.hurdle_reached == [2, 1, 0]
    assert points.parameter_count == [1234, None, None]
    assert points.step_seconds == [0.5, None, None]
    assert points.mutation_type == [None, "insert", "swap"]
    assert points.parent_iid == [None, None, 0]
    assert points.count == 3 and points.last_seq == 5
    search = store.get_search(sid)
    assert points.started_at == search.started_at
    finished = [store.get_individual(sid, i).finished_at for i in (0, 3, 1)]
    assert search.started_at is not None
    expected = [(f - search.started_at).total_seconds() for f in finished if f is not None]
    assert points.seconds == pytest.approx(expected, abs=1e-3)
    assert all(s is not None and s >= 0 for s in points.seconds)


def test_points_page_by_seq(store: SQLStore) -> None:
    sid = new_search(store)
    store.record_proposals(sid, [proposal(i) for i in range(5)], {})
    for i in (4, 2, 0, 3, 1):
        store.record_result(sid, i, done(5.0 + i), {})
    first = store.fitness_points(sid, limit=2)
    assert (first.iid, first.last_seq) == ([4, 2], 2)
    rest = store.fitness_points(sid, after_seq=first.last_seq or 0)
    assert (rest.iid, rest.seq) == ([0, 3, 1], [3, 4, 5])
    nothing = store.fitness_points(sid, after_seq=5)
    assert (nothing.count, nothing.last_seq, nothing.fitness) == (0, None, [])


def test_points_of_an_empty_or_unstarted_search(store: SQLStore) -> None:
    sid = new_search(store, started=False)
    assert store.fitness_points(sid).count == 0
    store.record_proposals(sid, [proposal(0)], {})
    store.record_result(sid, 0, done(5.0), {})
    points = store.fitness_points(sid)
    assert points.started_at is None and points.seconds == [None]
    with pytest.raises(NotFoundError):
        store.fitness_points(sid + 1)
    for bad in ({"after_seq": -1}, {"limit": 0}, {"limit": MAX_POINTS + 1}):
        with pytest.raises(StoreArgumentError):
            store.fitness_points(sid, **bad)


# -- aggregates -----------------------------------------------------------------------------------


def test_hurdle_histogram_counts_trained_candidates_by_status_and_hurdle(store: SQLStore) -> None:
    sid = new_search(store, hurdles=2)
    store.record_proposals(
        sid,
        [*(proposal(i) for i in range(6)), proposal(6, kind=ProposalKind.CACHED, cached_fitness=1)],
        {},
    )
    for i in (0, 1):
        store.record_result(sid, i, trained(4.0, 10, 0.1, hurdles=2), {})
    store.record_result(sid, 2, stopped(6.0, hurdle=1), {})
    store.record_result(sid, 3, stopped(5.0, hurdle=2), {})
    store.record_result(sid, 4, Evaluation.failure("runtime: x"), {})
    assert store.hurdle_histogram(sid) == {
        (I.DONE, 2): 2,
        (I.STOPPED, 1): 1,
        (I.STOPPED, 2): 1,
        (I.FAILED, 0): 1,
    }
    assert store.hurdle_histogram(new_search(store)) == {}
    with pytest.raises(NotFoundError):
        store.hurdle_histogram(sid + 100)


def test_reasons_are_grouped_by_kind_most_frequent_first(store: SQLStore) -> None:
    sid = new_search(store)
    errors = [
        "non_finite: NaN loss at step 3",
        "non_finite: Inf validation loss",
        "runtime: shapes (3, 4) and (5,) do not match",
        "no result after 3 attempt(s); last: the evaluator died",
        "no result after 3 attempt(s); last: timed out after 60 s",
        "non_finite: NaN loss at step 9",
        "plain words",
    ]
    store.record_proposals(sid, [proposal(i) for i in range(len(errors))], {})
    for i, error in enumerate(errors):
        store.record_result(sid, i, Evaluation.failure(error), {})
    rejections = [
        "subprogram 1, instruction 4: input 9 does not exist",
        "program: no subprogram",
        "no base unit puts this program in the 'tiny' range [1, 2] parameters: base unit 1 ...",
        "gate: too many parameters",
        "no base unit puts this program in the 'tiny' range [1, 2] parameters: base unit 3 ...",
    ]
    store.record_proposals(
        sid,
        [
            proposal(100 + i, kind=ProposalKind.REJECTED).model_copy(update={"rejection": why})
            for i, why in enumerate(rejections)
        ],
        {},
    )
    failures = store.reason_counts(sid, I.FAILED)
    assert [(r.reason, r.count) for r in failures] == [
        ("non_finite", 3),
        ("no result after 3 attempt(s)", 2),
        ("plain words", 1),
        ("runtime", 1),
    ]
    assert [(r.reason, r.count) for r in store.reason_counts(sid, I.FAILED, limit=1)] == [
        ("non_finite", 3)
    ]
    assert [(r.reason, r.count) for r in store.reason_counts(sid, I.REJECTED)] == [
        ("invalid program", 2),
        ("no base unit puts this program in the 'tiny' range [1, 2] parameters", 2),
        ("gate", 1),
    ]
    assert store.reason_counts(new_search(store), I.FAILED) == []
    with pytest.raises(NotFoundError):
        store.reason_counts(sid + 100, I.FAILED)
    with pytest.raises(StoreArgumentError):
        store.reason_counts(sid, I.FAILED, limit=0)


def test_status_counts_of_several_searches_in_one_call(store: SQLStore) -> None:
    a, b, empty = new_search(store), new_search(store), new_search(store)
    store.record_proposals(a, [proposal(0), proposal(1)], {})
    store.record_result(a, 0, done(5.0), {})
    store.record_proposals(b, [proposal(0, kind=ProposalKind.REJECTED)], {})
    counts = store.status_counts_by_search([a, b, empty, 999])
    assert counts[a] == store.status_counts(a)
    assert counts[b] == store.status_counts(b)
    assert counts[empty] == counts[999] == dict.fromkeys(I, 0)
    assert store.status_counts_by_search([]) == {}


# -- the extra sorts and the population filter ---------------------------------------------------


def test_pages_sort_by_size_and_step_time_with_missing_values_last(store: SQLStore) -> None:
    sid = new_search(store)
    store.record_proposals(sid, [proposal(i) for i in range(5)], {})
    sizes = {0: (300, 0.2), 1: (100, 0.3), 2: (200, 0.1), 3: (100, None)}
    for i, (params, step) in sizes.items():
        store.record_result(sid, i, trained(5.0, params, step), {})

    def order(sort_by: str, descending: bool) -> list[int]:
        page = store.list_individuals(sid, sort_by=sort_by, descending=descending)
        return [r.iid for r in page.items]

    assert order("parameter_count", False) == [1, 3, 2, 0, 4]
    assert order("parameter_count", True) == [0, 2, 3, 1, 4]
    assert order("step_seconds", False) == [2, 0, 1, 3, 4]
    assert order("step_seconds", True) == [1, 0, 2, 4, 3]


def test_pages_of_given_members_only(store: SQLStore) -> None:
    sid = new_search(store)
    store.record_proposals(sid, [proposal(i) for i in range(6)], {})
    for i in range(6):
        store.record_result(sid, i, done(6.0 - i), {})
    page = store.list_individuals(sid, limit=2, sort_by="fitness", iids=[1, 3, 4, 77])
    assert ([r.iid for r in page.items], page.total) == ([4, 3], 3)
    page = store.list_individuals(sid, offset=2, limit=2, sort_by="fitness", iids=[1, 3, 4])
    assert [r.iid for r in page.items] == [1]
    assert store.list_individuals(sid, iids=[]).total == 0
    many = list(range(40_000))  # more than a statement may bind
    assert store.list_individuals(sid, iids=many).total == 6


# -- migration 0002 ------------------------------------------------------------------------------


def _row(sid: int, iid: int, status: str, created: datetime, finished: datetime | None) -> dict:
    return {
        "search_id": sid,
        "iid": iid,
        "kind": {"cached": "cached", "rejected": "rejected"}.get(status, "train"),
        "status": status,
        "program_hash": f"h{iid}",
        "attempts": 1,
        "hurdle_reached": 0,
        "fitness": 5.0 if status in ("done", "cached") else None,
        "created_at": created,
        "finished_at": finished,
        "dna": seed_dna().to_dict(),
    }


def test_migration_0002_numbers_the_final_individuals_of_an_old_database(
    empty_url: str | URL,
) -> None:
    engine = create_db_engine(empty_url)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def at(seconds: int) -> datetime:
        return t0 + timedelta(seconds=seconds)

    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        for sid in (1, 2):
            conn.execute(
                insert(searches).values(
                    id=sid,
                    name="old",
                    status="running",
                    num_individuals=0,
                    num_finished=0,  # wrong on purpose: the migration recounts
                    config={"budget": "10s"},
                    seed_dna=seed_dna().to_dict(),
                    created_at=t0,
                    updated_at=t0,
                    started_at=t0,
                )
            )
        rows = [
            _row(1, 0, "done", at(0), at(3)),
            _row(1, 1, "done", at(0), at(1)),
            _row(1, 2, "cached", at(2), at(2)),
            _row(1, 3, "pending", at(2), None),
            _row(1, 4, "rejected", at(2), at(2)),  # ties with 2 at t=2: by iid
            _row(1, 5, "failed", at(0), at(1)),  # ties with 1 at t=1: by iid
            _row(2, 0, "done", at(0), at(9)),
        ]
        conn.execute(insert(individuals), rows)
    engine.dispose()

    assert upgrade_schema(empty_url) == head_revision()  # 0002, and any later migration
    with SQLStore(empty_url) as store:
        assert finish_order(store, 1) == {0: 5, 1: 1, 2: 3, 3: None, 4: 4, 5: 2}
        assert finish_order(store, 2) == {0: 1}
        assert store.get_search(1).num_finished == 5
        store.record_result(1, 3, done(4.0), {})  # the next result takes the next number
        assert store.get_individual(1, 3).finish_seq == 6
        assert store.fitness_points(1).iid == [1, 5, 0, 3]
