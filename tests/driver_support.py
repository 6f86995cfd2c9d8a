"""Helpers for the driver's tests: a micro preset, a shared local Ray, stores, and the checks every
driven search must pass.

The candidates are real: TensorFlow trains each one on the built-in corpus. To keep a candidate
to about three seconds on two shared cores, the tests register a "micro" preset (one layer,
sequence length 16, about 50K parameters; the tiny preset takes 11 s a candidate, mostly
compilation) and give a budget of a few steps. The driver resolves presets and hands the
evaluators the resolved configs, so registering the preset in the driver's process is enough.

The fault tests need no training: `stub_evaluator` makes an evaluator class that sleeps and
returns a made-up result (or hangs), run through real Ray like the real one.

Run as a script, this module is `primer-search` with the micro preset registered: the crash tests
start it in a subprocess (`python tests/driver_support.py run ...`) and SIGKILL it.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
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
            assert ind.attempts >= 1, ind
        if ind.status in (I.DONE, I.STOPPED) or (
            ind.status is I.FAILED and not (ind.error or "").startswith("no result after")
        ):  # only a candidate out of attempts (no evaluator came back) has no training record
            assert ind.result is not None, ind
        if ind.status is I.DONE:
            assert ind.fitness is not None and ind.result["status"] == "ok"
            assert ind.result["program_hash"] == ind.program_hash
    # The fitness cache holds every program trained with a fitness, and an entry of this search
    # only with its result: an entry is written in the same transaction as the result it is.
    by_iid = {ind.iid: ind for ind in individuals}
    for ind in individuals:
        if ind.status in (I.DONE, I.STOPPED):
            assert store.cache_get(ind.program_hash, state["cache_key"]) is not None, ind
    for program_hash, entry in store.cache_entries(state["cache_key"], search_id).items():
        source = by_iid[entry.source_id]
        assert source.status in (I.DONE, I.STOPPED) and source.program_hash == program_hash
        assert entry.fitness == source.fitness
    return individuals


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Polls `condition` until it returns something true, and returns that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def stub_evaluator(
    seconds: float = 0.5,
    hangs: Mapping[int, int] | None = None,
    log_dir: Path | None = None,
    slow: Mapping[int, float] | None = None,
) -> type:
    """An evaluator class that trains nothing, for the driver's fault tests (through real Ray,
    without TensorFlow's start-up or its load on shared cores). Each evaluation sleeps `seconds`
    (`slow` maps a candidate id to its own) and returns an `ok` TrainResult whose fitness, in
    [3, 4), comes from the program's hash.

    `hangs` maps a candidate id to how many of its attempts hang forever (1: the first only; a
    large number: every one). Attempts are counted in `log_dir/<iid>`, one line (the
    evaluator's pid) per attempt: the evaluators are separate processes, and a hung one is
    replaced. The class is made here, so Ray pickles it whole, with these values."""
    hang_counts = dict(hangs or {})
    durations = dict(slow or {})
    directory = None if log_dir is None else str(log_dir)
    if hang_counts and directory is None:
        raise ValueError("a stub evaluator that hangs needs a log_dir to count attempts in")

    class StubEvaluator:
        def __init__(self, setup: Any):
            # Imported on start, as the real evaluator imports TensorFlow: an evaluation's time
            # is then its own, even on a loaded machine.
            import primer_search.canonical
            import primer_search.dna
            import primer_search.training.result  # noqa: F401

            self.setup = setup
            self.worker = f"stub:{os.getpid()}"

        def describe(self) -> dict[str, Any]:
            vocab = self.setup.model_config.vocab_size
            return {"worker": self.worker, "corpus_identity": "stub", "vocab_size": vocab}

        def identity(self) -> str:
            return self.worker

        def evaluate(self, request: Any) -> dict[str, Any]:
            from primer_search.canonical import canonical_hash
            from primer_search.dna import parse_dna
            from primer_search.training.result import Status, TrainResult

            attempt = 1
            if directory is not None:
                with open(os.path.join(directory, str(request.iid)), "a+") as log:
                    log.write(f"{os.getpid()}\n")
                    log.seek(0)
                    attempt = len(log.read().split())
            if attempt <= hang_counts.get(request.iid, 0):
                while True:  # hung: only killing the actor ends this
                    time.sleep(3600)
            time.sleep(durations.get(request.iid, seconds))
            program_hash = canonical_hash(parse_dna(request.dna))
            fitness = 3.0 + int(program_hash[:8], 16) / 16**8
            model, train = self.setup.model_config, self.setup.train_config
            return TrainResult(
                status=Status.OK,
                fitness=fitness,
                perplexity=math.exp(fitness),
                budget=request.budget,
                seed=request.seed,
                program_hash=program_hash,
                model_preset=model.name,
                train_preset=train.name,
                vocab_size=model.vocab_size,
                seq_len=model.seq_len,
                batch_tokens=train.batch_tokens,
                device="stub",
                versions={},
            ).model_dump(mode="json")

    return StubEvaluator


if __name__ == "__main__":  # `primer-search` with the micro preset
    register_micro_preset()
    from service.cli import main

    sys.argv[0] = "primer-search"
    main()
