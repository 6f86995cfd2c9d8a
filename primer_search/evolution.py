"""Regularized (aging) evolution as an ask/tell engine (PRIMER.md section 4; issue 4).

    proposal = engine.propose()        # a child to train (or None: wait for a report)
    engine.report(proposal.id, outcome)

The engine never trains and never does I/O: the caller (the service's driver, or a test with a toy
fitness) evaluates proposals, possibly many at once and reported in any order. Every random draw
comes from one seeded numpy Generator, and `state_dict` / `from_state` capture the whole engine
(population with ages, pending proposals, RNG state, counters, and the fitness cache when the
engine made its own), so a search restored after k reports continues exactly as one that never
stopped. The state is strict JSON (no NaN or Infinity, no integer beyond 2^53 outside a string),
so any JSON store keeps it. One owner drives an engine: it is not thread-safe.

Initial population: `population_size` candidates made from the seed DNA, either exact copies
(always trained, never taken from the cache: the paper's initial population measures the seed's
fitness noise, which a cache would hide) or mutated copies. A candidate the static gate rejects
does not use up an initial slot.

Selection: the parent is the fittest (lowest validation log-perplexity) of a tournament drawn
uniformly without replacement from the population members that have a finite fitness; the
evaluated child joins the population and the oldest member leaves (aging, Real et al. 2019: the
oldest, not the worst). Failed candidates follow `failure_policy`: "worst" keeps them as members
of infinite fitness, which take up room until they age out but are never parents while any member
has a finite fitness; "drop" forgets them. When no member is left and nothing is pending (every
candidate so far failed under "drop"), the engine makes initial candidates again, so a search
never stalls.

Hurdles: the threshold handed to a new candidate for hurdle k is the median fitness at hurdle k
over the current population members that reached hurdle k, so half of those that get to a hurdle
pass it (the paper's "top 50%"; it does not say over which set: we use the current population,
like the Evolved Transformer's progressive dynamic hurdles). With fewer than
`min_hurdle_members` such members there is no threshold (None: the candidate trains on).

Proposals come in three kinds: TRAIN (the caller trains it and reports), CACHED (the program was
already evaluated under the same training configuration: it joins the population with the earlier
fitness, no training) and REJECTED (the static gate refused it; it is only counted). The caller
persists every proposal, whatever its kind, together with the engine state.
"""

from __future__ import annotations

import enum
import json
import math
import operator
import statistics
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from primer_search.canonical import canonical_hash
from primer_search.dna import DEFAULT_LIMITS, DNA, Limits, check_dna, parse_dna, validate_dna
from primer_search.errors import ConfigError, PrimerSearchError
from primer_search.fitness_cache import CachedFitness, FitnessCache, MemoryFitnessCache
from primer_search.gate import Gate, accept_all
from primer_search.mutation import MutationConfig, MutationRecord, mutate_with_hash

# 2: strict JSON (the RNG state as a JSON string, non-finite floats as strings), the seed's hash,
# the cache key and the engine's own cache. Format 1 states were never released.
STATE_FORMAT = 2
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
    seed: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _sizes_fit(self) -> EvolutionConfig:
        if self.tournament_size > self.population_size:
            raise ValueError(
                f"tournament_size ({self.tournament_size}) must not exceed population_size "
                f"({self.population_size})"
            )
        if self.num_hurdles and self.min_hurdle_members > self.population_size:
            raise ValueError(
                f"min_hurdle_members ({self.min_hurdle_members}) must not exceed "
                f"population_size ({self.population_size}), or no hurdle would ever have a "
                "threshold"
            )
        return self


class ProposalKind(str, enum.Enum):
    TRAIN = "train"
    CACHED = "cached"
    REJECTED = "rejected"


class Proposal(BaseModel):
    """One candidate. `parent_id` is None for the initial population; `mutation` is None for an
    exact copy of the seed."""

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
    (lower is better); for a candidate stopped at a hurdle, its truncated fitness.
    `hurdle_fitness[k]` is its fitness at hurdle k, for the hurdles it reached."""

    model_config = ConfigDict(frozen=True)

    fitness: float | None = None
    hurdle_fitness: tuple[float, ...] = ()
    failed: bool = False
    reason: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Outcome:
        if not self.failed and (self.fitness is None or not math.isfinite(self.fitness)):
            raise ValueError(
                f"a successful outcome needs a finite fitness, got {self.fitness!r} (report a "
                "diverged candidate with failed=True)"
            )
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
    initial_issued: int = 0  # initial candidates that passed the gate


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
        """`cache_key` names the training configuration (data, preset, budget): fitness cached
        under another key is never used. Without `cache`, the engine keeps its own in memory and
        saves it with its state; a cache handed in is the caller's to keep."""
        self.seed_dna = check_dna(seed_dna, limits)
        self.seed_hash = canonical_hash(seed_dna)
        self.config = config
        self.gate = gate
        self._owns_cache = cache is None
        self.cache: FitnessCache = cache if cache is not None else MemoryFitnessCache()
        self.cache_key = cache_key
        self.limits = limits
        self.counters = Counters()
        self._rng = np.random.default_rng(config.seed)
        self._population: list[Member] = []  # oldest first
        self._failed_members = 0  # members of WORST_FITNESS (failed, kept by the "worst" policy)
        self._thresholds: tuple[float | None, ...] | None = None  # hurdle_thresholds(), remembered
        self._pending: dict[int, Proposal] = {}
        self._programs: dict[int, DNA] = {}  # DNA of every member and pending proposal
        if config.initial_population == "copies" and (reason := gate(seed_dna)) is not None:
            raise ConfigError(
                "initial_population='copies' needs a seed the gate accepts, or no initial "
                f"candidate could ever be trained; the gate rejects it: {reason}"
            )

    # -- ask / tell ----------------------------------------------------------------------------

    def propose(self) -> Proposal | None:
        """The next individual, or None when no member can be a parent yet and the initial
        candidates are all out (wait for a report). CACHED and REJECTED proposals are already
        settled when returned."""
        made = self._make_child()
        if made is None:
            return None
        dna, program_hash, parent_id, mutation, initial = made
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
            raise EngineStateError(self._not_pending(proposal_id))
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

    def _not_pending(self, proposal_id: int) -> str:
        if not 0 <= proposal_id < self.counters.proposed:
            return (
                f"no proposal {proposal_id} was ever made (ids so far: 0.."
                f"{self.counters.proposed - 1})"
            )
        return (
            f"proposal {proposal_id} is not pending: it was already reported, or it was settled "
            "when proposed (CACHED or REJECTED proposals take no report)"
        )

    # -- selection -----------------------------------------------------------------------------

    def _make_child(self) -> tuple[DNA, str, int | None, MutationRecord | None, bool] | None:
        if self.counters.initial_issued < self.config.population_size or (
            not self._population and not self._pending
        ):
            if self.config.initial_population == "copies":
                return self.seed_dna, self.seed_hash, None, None, True
            child, record, child_hash = self._mutate(self.seed_dna, self.seed_hash)
            return child, child_hash, None, record, True
        if not self._population:
            return None
        parent = self._tournament()
        child, record, child_hash = self._mutate(self._programs[parent.id], parent.program_hash)
        return child, child_hash, parent.id, record, False

    def _tournament(self) -> Member:
        eligible = self._population
        if self._failed_members:
            eligible = [m for m in eligible if m.fitness < WORST_FITNESS] or eligible
        size = min(self.config.tournament_size, len(eligible))
        picks = self._rng.choice(len(eligible), size=size, replace=False).tolist()
        return min([eligible[i] for i in picks], key=_RANK)

    def _mutate(self, dna: DNA, program_hash: str) -> tuple[DNA, MutationRecord, str]:
        # Every parent is the checked seed or a child the mutator checked: no need to re-check.
        return mutate_with_hash(
            dna, self._rng, self.limits, self.config.mutation, parent_hash=program_hash
        )

    def hurdle_thresholds(self) -> tuple[float | None, ...]:
        """The median fitness at each hurdle over the population (remembered until the
        population changes: a turn proposes several children between two reports)."""
        if self._thresholds is not None:
            return self._thresholds
        thresholds: list[float | None] = []
        for k in range(self.config.num_hurdles):
            values = [
                m.hurdle_fitness[k]
                for m in self._population
                if len(m.hurdle_fitness) > k and math.isfinite(m.hurdle_fitness[k])
            ]
            enough = len(values) >= self.config.min_hurdle_members
            # statistics.median: numpy's value ((a + b) / 2 of the middle two) at a fraction of
            # its cost on a hundred floats.
            thresholds.append(float(statistics.median(values)) if enough else None)
        self._thresholds = tuple(thresholds)
        return self._thresholds

    def _cache_lookup(self, program_hash: str, exact_seed: bool) -> CachedFitness | None:
        if not self.config.use_cache or exact_seed:
            return None
        return self.cache.get(program_hash, self.cache_key)

    def _admit(self, member: Member) -> None:
        self._thresholds = None
        self._population.append(member)
        self._failed_members += member.fitness == WORST_FITNESS
        while len(self._population) > self.config.population_size:
            oldest = self._population.pop(0)
            self._failed_members -= oldest.fitness == WORST_FITNESS
            self._forget(oldest.id)

    def _forget(self, member_id: int) -> None:
        if member_id not in self._pending:
            self._programs.pop(member_id, None)

    # -- inspection ----------------------------------------------------------------------------

    @property
    def population(self) -> tuple[Member, ...]:
        """The members, oldest first."""
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
        return min(self._population, key=_RANK, default=None)

    # -- persistence ---------------------------------------------------------------------------

    def state_dict(self, include_programs: bool = True) -> dict[str, Any]:
        """Everything needed to continue exactly, as strict JSON. Without programs the state is
        small (ids, hashes, fitness, RNG); `from_state` then needs the DNAs of the members and
        pending proposals. The gate, the limits and a cache handed in are not saved: the caller
        passes the same ones to `from_state`."""
        state: dict[str, Any] = {
            "format": STATE_FORMAT,
            "config": self.config.model_dump(mode="json"),
            "seed_hash": self.seed_hash,
            "cache_key": self.cache_key,
            "counters": self.counters.model_dump(),
            # As a JSON string: PCG64's 128-bit integers would lose digits in a store that reads
            # JSON numbers as doubles.
            "rng": json.dumps(self._rng.bit_generator.state),
            "population": [_member_to_json(m) for m in self._population],
            "pending": [p.model_dump(mode="json", exclude={"dna"}) for p in self._pending.values()],
        }
        if self._owns_cache:
            assert isinstance(self.cache, MemoryFitnessCache)
            state["cache"] = [
                [program_hash, key, fitness, _floats_to_json(hurdle_fitness), source_id]
                for program_hash, key, fitness, hurdle_fitness, source_id in self.cache.rows()
            ]
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
        cache_key: str | None = None,
        limits: Limits = DEFAULT_LIMITS,
        programs: Mapping[int, DNA] | None = None,
    ) -> RegularizedEvolution:
        """The engine that saved `state`. `seed_dna` must be the seed it was made with;
        `cache_key` defaults to the saved one; `programs` supplies the DNAs of a state saved
        without them (each is checked against the hash the state records)."""
        if state.get("format") != STATE_FORMAT:
            raise EngineStateError(
                f"unknown engine state format {state.get('format')!r}; this primer-search "
                f"reads format {STATE_FORMAT}"
            )
        try:
            config = EvolutionConfig.model_validate(state["config"])
        except (KeyError, ValidationError) as exc:  # pydantic's error names the field
            raise ConfigError(f"engine state has an invalid config: {exc}") from None
        key = state.get("cache_key", "") if cache_key is None else cache_key
        engine = cls(seed_dna, config, gate, cache, key, limits)
        if state.get("seed_hash") != engine.seed_hash:
            raise EngineStateError(
                f"this state was saved with a seed of hash {state.get('seed_hash')!r}, not the "
                f"given seed ({engine.seed_hash})"
            )
        try:
            engine._restore(state, programs or {})
        except (KeyError, TypeError, ValueError) as exc:  # pydantic's ValidationError included
            raise EngineStateError(f"corrupt engine state: {exc!r}") from None
        return engine

    def _restore(self, state: Mapping[str, Any], programs: Mapping[int, DNA]) -> None:
        self.counters = Counters.model_validate(state["counters"])
        self._rng.bit_generator.state = json.loads(state["rng"])
        if self._owns_cache:
            assert isinstance(self.cache, MemoryFitnessCache)
            for program_hash, key, fitness, hurdle_fitness, source_id in state.get("cache", []):
                value = CachedFitness(
                    fitness=fitness, hurdle_fitness=hurdle_fitness, source_id=source_id
                )
                self.cache.put(program_hash, key, value)
        lookup = dict(programs)
        lookup.update({int(k): parse_dna(v) for k, v in (state.get("programs") or {}).items()})
        self._population = [Member.model_validate(m) for m in state["population"]]
        self._failed_members = sum(m.fitness == WORST_FITNESS for m in self._population)
        self._thresholds = None
        self._pending = {}
        for raw in state["pending"]:
            pid = int(raw["id"])
            self._pending[pid] = Proposal.model_validate({**raw, "dna": self._known(lookup, pid)})
        hashes = {m.id: m.program_hash for m in self._population}
        hashes.update({p.id: p.program_hash for p in self._pending.values()})
        self._programs = {}
        for individual, program_hash in hashes.items():
            dna = self._known(lookup, individual)
            if issues := validate_dna(dna, self.limits):
                raise EngineStateError(
                    f"the program of individual {individual} is not valid under these limits: "
                    + "; ".join(map(str, issues))
                )
            if canonical_hash(dna) != program_hash:
                raise EngineStateError(
                    f"the program given for individual {individual} does not have the hash the "
                    f"state records ({program_hash})"
                )
            self._programs[individual] = dna

    @staticmethod
    def _known(lookup: Mapping[int, DNA], individual: int) -> DNA:
        if individual not in lookup:
            raise EngineStateError(
                f"engine state lacks the program of individual {individual} (saved without "
                "programs? pass them to from_state)"
            )
        return lookup[individual]


# A member's rank in a tournament: the fittest, then the oldest (fitness, then id).
_RANK = operator.attrgetter("fitness", "id")


def _floats_to_json(values: tuple[float, ...]) -> list[float | str]:
    """Non-finite values as the strings "inf", "-inf", "nan", which pydantic reads back."""
    return [v if math.isfinite(v) else repr(v) for v in values]


def _member_to_json(member: Member) -> dict[str, Any]:
    return {
        "id": member.id,
        "program_hash": member.program_hash,
        "fitness": _floats_to_json((member.fitness,))[0],
        "hurdle_fitness": _floats_to_json(member.hurdle_fitness),
    }
