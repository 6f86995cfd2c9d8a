"""Helpers for the store's tests: databases to test on, proposals and results built by hand.

PostgreSQL comes from PRIMER_SEARCH_TEST_POSTGRES_URL (the Makefile and .ci/run set it); each
use gets a uniquely named schema (the URL's search_path points into it), dropped afterwards.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL

from primer_search.dna import DNA
from primer_search.evolution import Proposal, ProposalKind
from primer_search.fitness_cache import CachedFitness
from primer_search.mutation import MutationRecord, MutationType
from primer_search.seeds import load_seed
from service.store import Evaluation, IndividualStatus, SQLStore
from service.store.database import database_url

POSTGRES_ENV = "PRIMER_SEARCH_TEST_POSTGRES_URL"
POSTGRES_SKIP_REASON = f"PostgreSQL tests need {POSTGRES_ENV} (make test sets it)"


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


@contextmanager
def postgres_schema(base_url: str) -> Iterator[URL]:
    """A fresh, empty schema in the test database: yields a URL whose connections use it."""
    name = f"primer_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    url = database_url(base_url)
    admin = create_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        yield url.update_query_dict({"options": f"-csearch_path={name}"})
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        admin.dispose()


@cache
def seed_dna() -> DNA:
    return load_seed("transformer")


def proposal(
    iid: int,
    parent: int | None = None,
    mutation: str | None = "insert",
    kind: ProposalKind = ProposalKind.TRAIN,
    cached_fitness: float | None = None,
    program_hash: str | None = None,
) -> Proposal:
    """A proposal built by hand (any id, parent and mutation type), on the transformer seed."""
    cached = None
    if kind is ProposalKind.CACHED:
        assert cached_fitness is not None
        cached = CachedFitness(fitness=cached_fitness, hurdle_fitness=(4.0,), source_id=999)
    return Proposal(
        id=iid,
        kind=kind,
        dna=seed_dna(),
        program_hash=program_hash or f"hash-{iid}",
        parent_id=parent,
        mutation=None if mutation is None else MutationRecord(type=MutationType(mutation)),
        cached=cached,
        rejection="gate: too many parameters" if kind is ProposalKind.REJECTED else None,
    )


def engine_state(step: int, size: int = 0) -> dict[str, Any]:
    """A stand-in for an engine state: a 128-bit integer and an infinity, as in the real one
    (the RNG state, a failed member's fitness), and optional padding to `size` bytes."""
    return {
        "format": 1,
        "step": step,
        "rng": 2**127 + step,
        "worst": math.inf,
        "padding": "x" * size,
    }


def done(fitness: float, **extra: Any) -> Evaluation:
    return Evaluation(
        status=IndividualStatus.DONE,
        fitness=fitness,
        perplexity=math.exp(fitness),
        parameter_count=1000,
        step_seconds=0.01,
        result={"status": "ok", "fitness": fitness},
        **extra,
    )


def record_results_process(url: str, search_id: int, iids: list[int], worker: str) -> None:
    """Run in a child process: marks running and records a result for each iid, each with an
    engine-state write, as a driver would. Raises (a non-zero exit code) on any error."""
    store = SQLStore(url)
    try:
        for iid in iids:
            store.mark_running(search_id, iid, worker)
            store.record_result(search_id, iid, done(3.0 + iid / 1000), engine_state(iid, 4000))
    finally:
        store.close()


def stopped(fitness: float, hurdle: int) -> Evaluation:
    """A candidate stopped at `hurdle` (1-based) with that hurdle's fitness."""
    return Evaluation(
        status=IndividualStatus.STOPPED,
        fitness=fitness,
        perplexity=math.exp(fitness),
        hurdle_fitness=(fitness,) * hurdle,
        hurdle_reached=hurdle,
        result={"status": "stopped_at_hurdle", "fitness": fitness},
    )


def trained(
    fitness: float, parameter_count: int | None, step_seconds: float | None, hurdles: int = 0
) -> Evaluation:
    """A candidate trained to the end past `hurdles` hurdles, with its size and step time."""
    return Evaluation(
        status=IndividualStatus.DONE,
        fitness=fitness,
        perplexity=math.exp(fitness),
        hurdle_fitness=(fitness,) * hurdles,
        hurdle_reached=hurdles,
        parameter_count=parameter_count,
        step_seconds=step_seconds,
        result={"status": "ok", "fitness": fitness},
    )
