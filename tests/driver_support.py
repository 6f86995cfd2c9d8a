"""Helpers for the driver's tests: a micro preset, a shared local Ray, stores, and the checks every
driven search must pass.

The candidates are real: TensorFlow trains each one on the built-in corpus. To keep a candidate
to about three seconds on two shared cores, the tests register a "micro" preset (one layer,
sequence length 16, about 50K parameters; the tiny preset takes 11 s a candidate, mostly
compilation) and give a budget of a few steps. The driver resolves presets and hands the
evaluators the resolved configs, so registering the preset in the driver's process is enough.

Run as a script, this module is `primer-search` with the micro preset registered: the crash tests
start it in a subprocess (`python tests/driver_support.py run ...`) and SIGKILL it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from primer_search.config import PRESETS, ModelConfig
from primer_search.training.config import TRAIN_PRESETS, TrainConfig

MICRO = ModelConfig(
    name="micro",
    vocab_size=512,
    seq_len=16,
    num_layers=1,
    min_params=10_000,
    max_params=200_000,
    target_params=50_000,
)
MICRO_TRAIN = TrainConfig(name="micro", batch_tokens=256, peak_learning_rate=0.01, warmup_steps=10)
# The builtin corpus with a small vocabulary and one validation batch of 1,024 tokens.
DATA = {"source": "builtin", "vocab_size": 512, "validation_tokens": 1024}


def register_micro_preset() -> None:
    PRESETS.setdefault("micro", MICRO)
    TRAIN_PRESETS.setdefault("micro", MICRO_TRAIN)


def unregister_micro_preset() -> None:
    PRESETS.pop("micro", None)
    TRAIN_PRESETS.pop("micro", None)


@pytest.fixture(scope="module")
def micro_preset() -> Iterator[None]:
    """The micro preset, for the tests of one module (other tests enumerate the presets)."""
    register_micro_preset()
    yield
    unregister_micro_preset()


@pytest.fixture(scope="session")
def ray_cluster() -> str:
    """A local Ray with two CPUs, started once per test session (idempotent: every module that
    imports this fixture shares it); its address, for driver subprocesses to join."""
    from service.runtime import init_ray, ray_address

    init_ray(num_cpus=2)
    return ray_address()


def create_search(store: Any, **overrides: Any) -> int:
    from service.search_config import SearchConfig
    from service.search_engine import seed_dna_of

    config = SearchConfig.model_validate(micro_config(**overrides))
    dna = seed_dna_of(config)
    return int(store.create_search(config.name, config.model_dump(mode="json"), dna))


def micro_config(**overrides: Any) -> dict[str, Any]:
    """A SearchConfig as JSON: micro candidates, 3 training steps each."""
    config: dict[str, Any] = {
        "name": "test",
        "seed": "transformer",
        "data": DATA,
        "preset": "micro",
        "budget": "3steps",
        "population_size": 3,
        "tournament_size": 2,
        "max_evaluations": 4,
        "evaluators": 1,
        "rng_seed": 7,
    }
    config.update(overrides)
    return config


def shared_cache_dir() -> Path:
    """One corpus cache for the whole test session (and its subprocesses): the built-in corpus is
    tokenized once, then memory-mapped by every evaluator."""
    path = Path(tempfile.gettempdir()) / f"primer-search-test-cache-{os.getuid()}"
    path.mkdir(exist_ok=True)
    return path


@contextmanager
def open_store(backend: str, tmp_path: Path) -> Iterator[Any]:
    """An empty, upgraded store: a SQLite file, or a fresh PostgreSQL schema."""
    from store_support import postgres_schema, postgres_url

    from service.store import SQLStore

    if backend == "sqlite":
        store = SQLStore(tmp_path / "search.db", upgrade=True)
        try:
            yield store
        finally:
            store.close()
        return
    base = postgres_url()
    assert base is not None
    with postgres_schema(base) as url:
        store = SQLStore(url, upgrade=True)
        try:
            yield store
        finally:
            store.close()


def check_search_complete(store: Any, search_id: int, evaluations: int) -> list[Any]:
    """The invariants of a search driven to its end, crashes or not: exactly `evaluations`
    individuals with a training result, each proposal stored once with a final status, the
    engine's counters equal to the store's counts. Returns all the individuals."""
    from service.store import IndividualStatus as I  # noqa: E741
    from service.store import SearchStatus

    search = store.get_search(search_id)
    assert search.status is SearchStatus.FINISHED, search
    page = store.list_individuals(search_id, limit=1000, details=True)
    individuals = page.items
    iids = [ind.iid for ind in individuals]
    assert iids == list(range(len(iids))), "proposal ids are 0..n-1, none lost or duplicated"
    counts = store.status_counts(search_id)
    assert counts[I.PENDING] == counts[I.RUNNING] == 0, counts
    evaluated = counts[I.DONE] + counts[I.STOPPED] + counts[I.FAILED]
    assert evaluated == evaluations, counts
    state = store.get_engine_state(search_id)
    c = state["counters"]
    assert c["proposed"] == len(individuals)
    assert c["trained"] + c["failed"] == evaluations
    assert c["cache_hits"] == counts[I.CACHED] and c["rejected"] == counts[I.REJECTED]
    assert state["pending"] == []
    for ind in individuals:
        if ind.status in (I.DONE, I.STOPPED, I.FAILED):
            assert ind.attempts >= 1 and ind.result is not None, ind
        if ind.status is I.DONE:
            assert ind.fitness is not None and ind.result["status"] == "ok"
            assert ind.result["program_hash"] == ind.program_hash
    return individuals


if __name__ == "__main__":  # `primer-search` with the micro preset
    register_micro_preset()
    from service.cli import main

    sys.argv[0] = "primer-search"
    main()
