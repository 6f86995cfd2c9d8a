"""Regularized (aging) evolution as an ask/tell engine (PRIMER.md section 4; issue 4).

    proposal = engine.propose()        # a child to train (or None: wait for a report)
    engine.report(proposal.id, outcome)

The engine never trains and never does I/O: the caller (the service's driver, or a test with a toy
fitness) evaluates proposals, possibly many at once and reported in any order. Every random draw
comes from one seeded numpy Generator, and `state_dict` / `from_state` capture the whole engine
(population with ages, pending proposals, RNG state, counters), so a search restored after k
reports continues exactly as one that never stopped.

Selection: the parent is the fittest (lowest validation log-perplexity) of a tournament drawn
uniformly without replacement from the evaluated population; the evaluated child joins the
population and the oldest member leaves (aging, Real et al. 2019).

Hurdles: the threshold handed to a new candidate for hurdle k is the median fitness at hurdle k
over the current population members that reached hurdle k, so half of those that get to a hurdle
pass it (the paper's "top 50%"; it does not say over which set: we use the current population,
like the Evolved Transformer's progressive dynamic hurdles). With fewer than
`min_hurdle_members` such members there is no threshold.

Proposals come in three kinds: TRAIN (the caller trains it and reports), CACHED (the program was
already evaluated under the same training configuration: it joins the population with the earlier
fitness, no training) and REJECTED (the static gate refused it; it is only counted). The caller
persists every proposal, whatever its kind, together with the engine state.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from primer_search.canonical import canonical_hash
from primer_search.dna import DEFAULT_LIMITS, DNA, Limits, parse_dna
from primer_search.errors import ConfigError, PrimerSearchError
from primer_search.fitness_cache import CachedFitness, FitnessCache, MemoryFitnessCache
from primer_search.gate import Gate, accept_all
from primer_search.mutation import MutationConfig, MutationRecord, mutate

STATE_FORMAT = 1
WORST_FITNESS = math.inf


class EvolutionConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    population_size: int = Field(100, ge=2, le=100_000)
    tournament_size: int = Field(10, ge=1)
    initial_population: Literal["mutated", "copies"] = "mutated"
    failure_policy: Literal["worst", "drop"] = "worst"
    num_hurdles: int = Field(0, ge=0, le=8)
    min_hurdle_members: int = Field(10, ge=2)
    use_cache: bool = True
    mutation: MutationConfig = MutationConfig()
    seed: int = 0

    @model_validator(mode="after")
    def _tournament_fits(self) -> EvolutionConfig:
        if self.tournament_size > self.population_size:
            raise ValueError(
                f"tournament_size ({self.tournament_size}) must not exceed population_size "
                f"({self.population_size})"
            )
        return self


class ProposalKind(str, enum.Enum):
    TRAIN = "train"
    CACHED = "cached"
    REJECTED = "rejected"


class Proposal(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    kind: ProposalKind
    dna: DNA
    program_hash: str
    parent_id: int | None
    mutation: MutationRecord | None
    hurdle_thresholds: tuple[float | None, ...] = ()
    cached: CachedFitness | None = None
    rejection: str | None = None


class Outcome(BaseModel):
    """What the caller reports for a TRAIN proposal. Fitness is validation log-perplexity
    (lower is better); for a candidate stopped at a hurdle, its truncated fitness."""

    model_config = ConfigDict(frozen=True)

    fitness: float | None = None
    hurdle_fitness: tuple[float, ...] = ()
    failed: bool = False
    reason: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Outcome:
        if not self.failed and (self.fitness is None or not math.isfinite(self.fitness)):
            raise ValueError("a successful outcome needs a finite fitness")
        return self


class Member(BaseModel):
    """An evaluated individual in the population."""

    model_config = ConfigDict(frozen=True)

    id: int
    program_hash: str
    fitness: float
    hurdle_fitness: tuple[float, ...] = ()


class Counters(BaseModel):
    proposed: int = 0  # every proposal, all kinds
    trained: int = 0  # TRAIN proposals reported successfully
    failed: int = 0  # TRAIN proposals reported failed
    cache_hits: int = 0
    rejected: int = 0
    initial_issued: int = 0


class EngineStateError(PrimerSearchError):
    """A report or a state the engine cannot accept (unknown id, corrupt state)."""


class RegularizedEvolution:
    def __init__(
        self,
        seed_dna: DNA,
        config: EvolutionConfig,
        gate: Gate = accept_all,
        cache: FitnessCache | None = None,
        cache_key: str = "",
        limits: Limits = DEFAULT_LIMITS,
    ):
        self.seed_dna = seed_dna
        self.config = config
        self.gate = gate
        self.cache: FitnessCache = cache if cache is not None else MemoryFitnessCache()
        self.cache_key = cache_key
        self.limits = limits
        self.counters = Counters()
        self._rng = np.random.default_rng(config.seed)
        self._population: list[Member] = []  # oldest first
        self._pending: dict[int, Proposal] = {}
        self._programs: dict[int, DNA] = {}  # DNA of every member and pending proposal

    # -- ask / tell ----------------------------------------------------------------------------

    def propose(self) -> Proposal | None:
        """The next individual, or None when every evaluated parent is still out (wait for a
        report). CACHED and REJECTED proposals are already settled when returned."""
        made = self._make_child()
        if made is None:
            return None
        dna, parent_id, mutation, initial = made
        program_hash = canonical_hash(dna)
        proposal_id = self.counters.proposed
        self.counters.proposed += 1
        reason = self.gate(dna)
        if reason is not None:
            self.counters.rejected += 1
            return Proposal(
                id=proposal_id,
                kind=ProposalKind.REJECTED,
                dna=dna,
                program_hash=program_hash,
                parent_id=parent_id,
                mutation=mutation,
                rejection=reason,
            )
        if initial:
            self.counters.initial_issued += 1
        cached = self._cache_lookup(program_hash, exact_seed=initial and mutation is None)
        if cached is not None:
            self.counters.cache_hits += 1
            self._programs[proposal_id] = dna
            self._admit(
                Member(
                    id=proposal_id,
                    program_hash=program_hash,
                    fitness=cached.fitness,
                    hurdle_fitness=cached.hurdle_fitness,
                )
            )
            return Proposal(
                id=proposal_id,
                kind=ProposalKind.CACHED,
                dna=dna,
                program_hash=program_hash,
                parent_id=parent_id,
                mutation=mutation,
                cached=cached,
            )
        proposal = Proposal(
            id=proposal_id,
            kind=ProposalKind.TRAIN,
            dna=dna,
            program_hash=program_hash,
            parent_id=parent_id,
            mutation=mutation,
            hurdle_thresholds=self.hurdle_thresholds(),
        )
        self._pending[proposal_id] = proposal
        self._programs[proposal_id] = dna
        return proposal

    def report(self, proposal_id: int, outcome: Outcome) -> None:
        """The result of a TRAIN proposal, in any order."""
        proposal = self._pending.pop(proposal_id, None)
        if proposal is None:
            raise EngineStateError(
                f"no pending proposal {proposal_id} (already reported, or never proposed)"
            )
        if outcome.failed:
            self.counters.failed += 1
            if self.config.failure_policy == "drop":
                self._forget(proposal_id)
                return
            fitness = WORST_FITNESS
        else:
            self.counters.trained += 1
            assert outcome.fitness is not None
            fitness = outcome.fitness
            self.cache.put(
                proposal.program_hash,
                self.cache_key,
                CachedFitness(
                    fitness=fitness, hurdle_fitness=outcome.hurdle_fitness, source_id=proposal_id
                ),
            )
        self._admit(
            Member(
                id=proposal_id,
                program_hash=proposal.program_hash,
                fitness=fitness,
                hurdle_fitness=outcome.hurdle_fitness,
            )
        )

    # -- selection -----------------------------------------------------------------------------

    def _make_child(self) -> tuple[DNA, int | None, MutationRecord | None, bool] | None:
        if self.counters.initial_issued < self.config.population_size or (
            not self._population and not self._pending
        ):
            if self.config.initial_population == "copies":
                return self.seed_dna, None, None, True
            child, record = self._mutate(self.seed_dna)
            return child, None, record, True
        if not self._population:
            return None
        parent = self._tournament()
        child, record = self._mutate(self._programs[parent.id])
        return child, parent.id, record, False

    def _tournament(self) -> Member:
        size = min(self.config.tournament_size, len(self._population))
        picks = self._rng.choice(len(self._population), size=size, replace=False)
        contestants = [self._population[int(i)] for i in picks]
        return min(contestants, key=lambda m: (m.fitness, m.id))

    def _mutate(self, dna: DNA) -> tuple[DNA, MutationRecord]:
        return mutate(dna, self._rng, self.limits, self.config.mutation)

    def hurdle_thresholds(self) -> tuple[float | None, ...]:
        thresholds: list[float | None] = []
        for k in range(self.config.num_hurdles):
            values = [
                m.hurdle_fitness[k]
                for m in self._population
                if len(m.hurdle_fitness) > k and math.isfinite(m.hurdle_fitness[k])
            ]
            enough = len(values) >= self.config.min_hurdle_members
            thresholds.append(float(np.median(values)) if enough else None)
        return tuple(thresholds)

    def _cache_lookup(self, program_hash: str, exact_seed: bool) -> CachedFitness | None:
        # Exact copies of the seed are always trained: the paper's initial population measures
        # the seed's fitness noise, which a cache would hide.
        if not self.config.use_cache or exact_seed:
            return None
        return self.cache.get(program_hash, self.cache_key)

    def _admit(self, member: Member) -> None:
        self._population.append(member)
        while len(self._population) > self.config.population_size:
            self._forget(self._population.pop(0).id)

    def _forget(self, member_id: int) -> None:
        if member_id not in self._pending:
            self._programs.pop(member_id, None)

    # -- inspection ----------------------------------------------------------------------------

    @property
    def population(self) -> tuple[Member, ...]:
        return tuple(self._population)

    @property
    def pending(self) -> tuple[Proposal, ...]:
        return tuple(self._pending.values())

    def program(self, member_id: int) -> DNA:
        """The DNA of a population member or pending proposal."""
        try:
            return self._programs[member_id]
        except KeyError:
            raise EngineStateError(
                f"individual {member_id} is neither in the population nor pending"
            ) from None

    def best(self) -> Member | None:
        return min(self._population, key=lambda m: (m.fitness, m.id), default=None)

    # -- persistence ---------------------------------------------------------------------------

    def state_dict(self, include_programs: bool = True) -> dict[str, Any]:
        """Everything needed to continue exactly. Without programs the state is small (ids,
        fitness, RNG); `from_state` then needs the DNAs of members and pending proposals."""
        state: dict[str, Any] = {
            "format": STATE_FORMAT,
            "config": self.config.model_dump(mode="json"),
            "counters": self.counters.model_dump(),
            "rng": self._rng.bit_generator.state,
            "population": [m.model_dump(mode="json") for m in self._population],
            "pending": [p.model_dump(mode="json", exclude={"dna"}) for p in self._pending.values()],
        }
        if include_programs:
            state["programs"] = {str(k): v.to_dict() for k, v in self._programs.items()}
        return state

    @classmethod
    def from_state(
        cls,
        state: Mapping[str, Any],
        seed_dna: DNA,
        gate: Gate = accept_all,
        cache: FitnessCache | None = None,
        cache_key: str = "",
        limits: Limits = DEFAULT_LIMITS,
        programs: Mapping[int, DNA] | None = None,
    ) -> RegularizedEvolution:
        if state.get("format") != STATE_FORMAT:
            raise EngineStateError(f"unknown engine state format {state.get('format')!r}")
        try:
            config = EvolutionConfig.model_validate(state["config"])
        except Exception as exc:  # pydantic's error names the field
            raise ConfigError(f"engine state has an invalid config: {exc}") from None
        engine = cls(seed_dna, config, gate, cache, cache_key, limits)
        engine.counters = Counters.model_validate(state["counters"])
        engine._rng.bit_generator.state = state["rng"]
        stored = state.get("programs") or {}
        lookup = dict(programs or {})
        lookup.update({int(k): parse_dna(v) for k, v in stored.items()})
        engine._population = [Member.model_validate(m) for m in state["population"]]
        for raw in state["pending"]:
            pid = int(raw["id"])
            if pid not in lookup:
                raise EngineStateError(f"engine state lacks the program of pending {pid}")
            engine._pending[pid] = Proposal.model_validate({**raw, "dna": lookup[pid]})
        for member in engine._population:
            if member.id not in lookup:
                raise EngineStateError(f"engine state lacks the program of member {member.id}")
        engine._programs = {
            i: lookup[i] for i in [m.id for m in engine._population] + list(engine._pending)
        }
        return engine
