"""Helpers for the API's tests: a store filled through its own methods with real DNAs (a chain
of real mutations of the transformer seed) and realistic results, and a manager double."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL
from store_support import done, engine_state, postgres_schema, postgres_url, seed_dna

from primer_search.canonical import canonical_hash
from primer_search.evolution import Proposal, ProposalKind
from primer_search.fitness_cache import CachedFitness
from primer_search.mutation import mutate_with_hash
from service.api import create_app
from service.settings import Settings
from service.store import (
    Evaluation,
    IndividualStatus,
    SearchStatus,
    SQLStore,
    StateConflictError,
    upgrade_schema,
)

API = "/api/v1"
CONFIG = {"name": "filled", "population_size": 4, "tournament_size": 2, "budget": "10s"}


class RecordingManager:
    """A DriverManager double: records calls, drives nothing. `start` refuses a search it
    drives already, as the real one does."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.driving: set[int] = set()

    def start(self, search_id: int) -> None:
        if search_id in self.driving:
            raise StateConflictError(f"search {search_id} is driven already", current="running")
        self.started.append(search_id)
        self.driving.add(search_id)

    def is_driving(self, search_id: int) -> bool:
        return search_id in self.driving

    def resume_running_searches(self) -> list[int]:
        return []

    def shutdown(self, timeout: float) -> None:
        self.driving.clear()


@contextmanager
def postgres_template() -> Iterator[URL]:
    """An upgraded schema in the test database, for one test module."""
    base = postgres_url()
    assert base is not None
    with postgres_schema(base) as url:
        upgrade_schema(url)
        yield url


def opened_store(template: Path | URL, tmp_path: Path) -> SQLStore:
    """An empty, upgraded store: a copy of the SQLite template, or the PostgreSQL template
    schema emptied."""
    if isinstance(template, Path):
        path = tmp_path / "api.db"
        shutil.copyfile(template, path)
        return SQLStore(path)
    engine = create_engine(template)
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE fitness_cache, individuals, searches RESTART IDENTITY CASCADE"))
    engine.dispose()
    return SQLStore(template)


def client_for(
    store: SQLStore, manager: RecordingManager, settings: Settings | None = None
) -> TestClient:
    app = create_app(store, manager, settings or Settings())
    return TestClient(app, raise_server_exceptions=False)


# The filled search: iid -> (parent, what became of it). 0..3 are the first generation (children
# of the seed), then a chain 0 -> 4 -> 6 -> 9 of improving children.
FITNESS = {0: 5.0, 1: 5.2, 2: 5.1, 4: 4.6, 6: 4.3, 9: 4.1}
PARENTS = {0: None, 1: None, 2: None, 3: None, 4: 0, 5: 1, 6: 4, 7: 2, 8: 4, 9: 6, 10: 2}


def fill_search(store: SQLStore) -> int:
    """A search with DONE (0, 1, 2, 4, 6, 9), FAILED (3), STOPPED at a hurdle (5), CACHED (7),
    REJECTED (8) and PENDING (10) individuals, all with real mutated DNAs."""
    sid = store.create_search(CONFIG["name"], CONFIG, seed_dna())
    store.update_status(sid, SearchStatus.RUNNING, {SearchStatus.CREATED})
    rng = np.random.default_rng(0)
    dnas: dict[int, Any] = {}
    kinds = {7: ProposalKind.CACHED, 8: ProposalKind.REJECTED}
    for iid, parent in PARENTS.items():
        base = seed_dna() if parent is None else dnas[parent]
        dna, record, program_hash = mutate_with_hash(base, rng, parent_hash=canonical_hash(base))
        dnas[iid] = dna
        kind = kinds.get(iid, ProposalKind.TRAIN)
        proposal = Proposal(
            id=iid,
            kind=kind,
            dna=dna,
            program_hash=program_hash,
            parent_id=parent,
            mutation=record,
            cached=CachedFitness(fitness=4.9, hurdle_fitness=(), source_id=0)
            if kind is ProposalKind.CACHED
            else None,
            rejection="gate: too many parameters" if kind is ProposalKind.REJECTED else None,
        )
        store.record_proposals(sid, [proposal], engine_state(iid))
        if iid in FITNESS:
            store.record_result(sid, iid, done(FITNESS[iid]), engine_state(iid))
    store.record_result(sid, 3, Evaluation.failure("nan: loss diverged"), engine_state(20))
    stopped = Evaluation(
        status=IndividualStatus.STOPPED,
        fitness=6.0,
        hurdle_fitness=(6.0,),
        hurdle_reached=1,
        result={"status": "stopped_at_hurdle", "fitness": 6.0},
    )
    store.record_result(sid, 5, stopped, engine_state(21))
    return sid
