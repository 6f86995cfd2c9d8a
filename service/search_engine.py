"""A search's evolution engine, from its config and what the store holds (issue 5).

The driver calls `open_engine`: for a search never driven (no engine state stored) it makes a new
`RegularizedEvolution` from the config; for an interrupted one it restores the last engine state
written (the store writes it in the same transaction as the individuals it concerns) with the
programs of its members and pending proposals. Either way the engine's pending proposals are
exactly the store's PENDING and RUNNING individuals: they are what a resumed driver resubmits.

Also here: how a search config becomes the values the evaluators need (presets resolved in the
driver, so workers never disagree with it about preset tables), the fitness-cache key, and the
conversions between a training record, the store's Evaluation and the engine's Outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from primer_search.config import ModelConfig, get_preset
from primer_search.data import DataSpec
from primer_search.dna import DNA, parse_dna
from primer_search.evolution import (
    EngineStateError,
    EvolutionConfig,
    Outcome,
    RegularizedEvolution,
)
from primer_search.fitness_cache import FitnessCache
from primer_search.gate import static_gate
from primer_search.seeds import load_seed
from primer_search.training.config import TrainConfig, get_train_preset
from primer_search.training.result import TrainResult
from service.search_config import SearchConfig
from service.store import Evaluation, IndividualStatus, SearchStore

# The engine's hurdle bars need this many members that reached a hurdle (EvolutionConfig's own
# default), or fewer in a smaller population.
MIN_HURDLE_MEMBERS = 10


@dataclass(frozen=True)
class SearchSetup:
    """What a search config resolves to."""

    config: SearchConfig
    seed_dna: DNA
    model_config: ModelConfig
    train_config: TrainConfig
    data: DataSpec
    evolution: EvolutionConfig

    @classmethod
    def from_config(cls, config: SearchConfig, seed_dna: Mapping[str, Any]) -> SearchSetup:
        model_config = get_preset(config.preset)
        data = config.data
        spec = DataSpec(
            source=data.source,
            train_paths=data.train_paths,
            validation_paths=data.validation_paths,
            data_dir=data.data_dir,
            vocab_size=data.vocab_size or model_config.vocab_size,
            validation_tokens=data.validation_tokens,
        )
        evolution = EvolutionConfig(
            population_size=config.population_size,
            tournament_size=config.tournament_size,
            initial_population=config.initial_population,
            failure_policy=config.failure_policy,
            num_hurdles=config.hurdles,
            min_hurdle_members=min(MIN_HURDLE_MEMBERS, config.population_size),
            use_cache=config.use_cache,
            seed=config.rng_seed,
        )
        return cls(
            config=config,
            seed_dna=parse_dna(seed_dna),
            model_config=model_config,
            train_config=get_train_preset(config.preset),
            data=spec,
            evolution=evolution,
        )

    def cache_key(self, corpus_identity: str) -> str:
        """The fitness cache's key: what the model saw and how it was trained. A program trained
        on the same corpus with the same presets and budget is not trained again."""
        presets = f"{self.model_config.name}/{self.train_config.name}"
        return f"{corpus_identity}/{presets}/{self.config.budget}"

    def training_seed(self, iid: int) -> int:
        """Each candidate's weights and data order: fixed by the search's seed and the candidate
        (a resubmitted candidate trains exactly as the first time), different between candidates
        (so copies of the seed measure its fitness noise)."""
        return (self.config.rng_seed * 1_000_003 + iid) % 2**31


def seed_dna_of(config: SearchConfig) -> DNA:
    """The program a new search starts from: its named seed or its own DNA."""
    if config.dna is not None:
        return parse_dna(config.dna)
    assert config.seed is not None  # SearchConfig checks that one of the two is given
    return load_seed(config.seed)


def open_engine(
    store: SearchStore,
    search_id: int,
    setup: SearchSetup,
    vocab_size: int,
    corpus_identity: str,
    cache: FitnessCache | None = None,
) -> RegularizedEvolution:
    """The search's engine: new, or restored from the store (see the module doc). `vocab_size`
    is the corpus's, which the static gate needs to size models. `cache` is the engine's
    fitness cache (the driver's DriverFitnessCache); by default the store's own."""
    gate = static_gate(setup.model_config.with_vocab(vocab_size))
    if cache is None:
        cache = store.fitness_cache(search_id)
    state = store.get_engine_state(search_id)
    if state is None:
        key = setup.cache_key(corpus_identity)
        return RegularizedEvolution(setup.seed_dna, setup.evolution, gate, cache, key)
    ids = [int(m["id"]) for m in state["population"]] + [int(p["id"]) for p in state["pending"]]
    programs = {iid: parse_dna(dna) for iid, dna in store.load_programs(search_id, ids).items()}
    engine = RegularizedEvolution.from_state(state, setup.seed_dna, gate, cache, programs=programs)
    stored = {record.iid for record in store.pending_individuals(search_id)}
    pending = {proposal.id for proposal in engine.pending}
    if stored != pending:  # the store writes both in one transaction: this is a bug
        raise EngineStateError(
            f"search {search_id}: the engine's pending proposals {sorted(pending)} are not the "
            f"store's pending individuals {sorted(stored)}"
        )
    return engine


def evaluation_of(record: Mapping[str, Any]) -> Evaluation:
    """The store's Evaluation of an evaluator's TrainResult (JSON)."""
    return Evaluation.from_train_result(TrainResult.model_validate(record))


def outcome_of(evaluation: Evaluation) -> Outcome:
    """What the engine is told of an evaluation: the fitness (truncated at a hurdle for a stopped
    candidate) or the failure."""
    if evaluation.status is IndividualStatus.FAILED:
        return Outcome(failed=True, reason=evaluation.error)
    return Outcome(fitness=evaluation.fitness, hurdle_fitness=evaluation.hurdle_fitness)
