"""The evolution engine (issue 4; PRIMER.md section 4), driven with toy fitness: tournament
selection, aging, the initial population, asynchronous reports, the failure policies, hurdle
thresholds, the fitness cache, the static gate, and the errors a caller can make.

Persistence is tested in test_evolution_state.py, the search's progress on a toy problem in
test_evolution_toy.py, the engine's fast paths in test_evolution_speed.py."""

from __future__ import annotations

import math
import subprocess
import sys
from collections import Counter, deque
from math import comb

import numpy as np
import pytest
from evolution_support import I, drive, program, small_seed
from pydantic import ValidationError

from primer_search.canonical import canonical_hash
from primer_search.config import PRESETS
from primer_search.dna import DNA, Limits, validate_dna
from primer_search.errors import ConfigError, DNAValidationError
from primer_search.evolution import (
    EngineStateError,
    EvolutionConfig,
    Outcome,
    ProposalKind,
    RegularizedEvolution,
)
from primer_search.fitness_cache import CachedFitness, MemoryFitnessCache
from primer_search.gate import Gate, accept_all, static_gate
from primer_search.ops import CALL
from primer_search.seeds import load_seed

SEED = small_seed()
SEED_HASH = canonical_hash(SEED)
# Chi-square critical values at p = 0.001 by degrees of freedom: the draws are seeded, so a
# failure is a real change, not bad luck.
CHI2_999 = {7: 24.32, 9: 27.88}


def make(
    gate: Gate = accept_all,
    cache: MemoryFitnessCache | None = None,
    cache_key: str = "",
    seed_dna: DNA = SEED,
    **config,
) -> RegularizedEvolution:
    settings = {"population_size": 10, "tournament_size": 3, **config}
    return RegularizedEvolution(seed_dna, EvolutionConfig(**settings), gate, cache, cache_key)


def fill(engine: RegularizedEvolution, fitness: list[float]) -> list[int]:
    """Propose the initial population and report `fitness[k]` for the k-th proposal."""
    ids = []
    for _value in fitness:
        proposal = engine.propose()
        assert proposal is not None and proposal.parent_id is None
        ids.append(proposal.id)
    for pid, value in zip(ids, fitness, strict=True):
        engine.report(pid, Outcome(fitness=value))
    return ids


def chi_square(observed: Counter, expected: dict[int, float]) -> float:
    n = sum(observed.values())
    return sum((observed[k] - n * p) ** 2 / (n * p) for k, p in expected.items())


# ---------------------------------------------------------------------------------------------
# Selection: the best of a tournament drawn uniformly from the evaluated members.


def test_a_tournament_of_the_whole_population_always_picks_the_best():
    engine = make(population_size=8, tournament_size=8, use_cache=False)
    rng = np.random.default_rng(0)
    fill(engine, list(rng.random(8)))
    for _ in range(150):
        best = min(engine.population, key=lambda m: (m.fitness, m.id))
        proposal = engine.propose()
        assert proposal is not None and proposal.parent_id == best.id
        engine.report(proposal.id, Outcome(fitness=float(rng.random())))


def test_a_tournament_of_one_picks_parents_uniformly():
    # Nothing more is reported and nothing comes from the cache, so the population stays as it
    # is while parents are drawn.
    engine = make(population_size=10, tournament_size=1, use_cache=False)
    ids = fill(engine, [float(k) for k in range(10)])
    parents = Counter(engine.propose().parent_id for _ in range(2000))
    assert set(parents) == set(ids)
    assert chi_square(parents, {i: 0.1 for i in ids}) < CHI2_999[9], parents


def test_tournament_contestants_are_drawn_without_replacement():
    """With a tournament of 3 out of 10, the member of rank r (1 = best) is the parent with
    probability C(10 - r, 2) / C(10, 3): that of being drawn with no better member."""
    engine = make(population_size=10, tournament_size=3, use_cache=False)
    ids = fill(engine, [float(k) for k in range(10)])  # ids[r - 1] has rank r
    parents = Counter(engine.propose().parent_id for _ in range(3000))
    expected = {ids[r - 1]: comb(10 - r, 2) / comb(10, 3) for r in range(1, 9)}
    assert set(parents) <= set(expected), "the two worst can never win a tournament of three"
    assert chi_square(parents, expected) < CHI2_999[7], parents


# ---------------------------------------------------------------------------------------------
# Aging: the child replaces the oldest member, not the worst.


def test_the_oldest_member_leaves_even_when_it_is_the_best():
    engine = make(population_size=4, tournament_size=2)
    first = [engine.propose().id for _ in range(4)]
    for pid, value in [(first[2], 0.0), (first[0], 5.0), (first[3], 6.0), (first[1], 7.0)]:
        engine.report(pid, Outcome(fitness=value))  # age follows the order of the reports
    assert [m.id for m in engine.population] == [first[2], first[0], first[3], first[1]]
    child = engine.propose()
    engine.report(child.id, Outcome(fitness=100.0))  # the worst yet
    assert [m.id for m in engine.population] == [first[0], first[3], first[1], child.id]
    assert engine.best().fitness == 5.0  # the best (0.0) aged out


def test_population_is_the_last_members_reported_under_asynchronous_reports():
    engine = make(population_size=5, tournament_size=2)
    rng = np.random.default_rng(3)
    model: deque[int] = deque(maxlen=5)
    outstanding: list[int] = []
    for _ in range(300):
        if len(outstanding) < 4 and (proposal := engine.propose()) is not None:
            if proposal.kind is ProposalKind.TRAIN:
                outstanding.append(proposal.id)
            elif proposal.kind is ProposalKind.CACHED:
                model.append(proposal.id)  # a cache hit joins the population at once
            continue
        pid = outstanding.pop(int(rng.integers(len(outstanding))))
        engine.report(pid, Outcome(fitness=float(rng.random())))
        model.append(pid)
        assert [m.id for m in engine.population] == list(model)


# ---------------------------------------------------------------------------------------------
# The initial population.


def test_initial_copies_are_the_exact_seed_and_always_trained():
    cache = MemoryFitnessCache()
    cache.put(SEED_HASH, "k", CachedFitness(fitness=0.1, source_id=-1))
    engine = make(initial_population="copies", population_size=5, cache=cache, cache_key="k")
    initial = [engine.propose() for _ in range(5)]
    for proposal in initial:
        assert proposal.kind is ProposalKind.TRAIN, "a copy of the seed never hits the cache"
        assert proposal.dna == SEED and proposal.program_hash == SEED_HASH
        assert proposal.parent_id is None and proposal.mutation is None
    assert engine.propose() is None  # nothing evaluated yet, every initial slot used
    engine.report(initial[0].id, Outcome(fitness=1.0))
    child = engine.propose()
    assert child.parent_id == initial[0].id and child.mutation is not None


def test_initial_mutated_copies_are_children_of_the_seed():
    engine = make(population_size=6)
    initial = [engine.propose() for _ in range(6)]
    for proposal in initial:
        assert proposal.parent_id is None and proposal.mutation is not None
        assert proposal.program_hash != SEED_HASH, "the light check applies to them too"
        assert proposal.program_hash == canonical_hash(proposal.dna)
        assert validate_dna(proposal.dna) == []
    assert len({p.program_hash for p in initial}) > 1
    assert engine.propose() is None
    assert engine.counters.initial_issued == 6


def test_an_invalid_seed_is_refused_at_construction():
    bad = DNA(subprograms=program([I("ADD", 0, 0)]).subprograms, dims=(7,))
    with pytest.raises(DNAValidationError, match="dim multiplier 7"):
        make(seed_dna=bad)


# ---------------------------------------------------------------------------------------------
# Asynchronous use.


@pytest.mark.parametrize("policy", ["worst", "drop"])
def test_many_outstanding_proposals_reported_in_random_order(policy):
    engine = make(population_size=6, tournament_size=2, failure_policy=policy)
    rng = np.random.default_rng(7)
    outstanding: dict[int, int | None] = {}  # id -> parent id
    reported: set[int] = set()
    while (proposal := engine.propose()) is not None:  # the initial population, all out at once
        outstanding[proposal.id] = None
    assert len(outstanding) == 6  # and no parent to select from: wait for a report
    for _ in range(600):
        if rng.random() < 0.55 and len(outstanding) < 12:
            members = {m.id for m in engine.population}
            proposal = engine.propose()
            if proposal is None:
                assert not members and engine.counters.initial_issued >= 6
                continue
            assert proposal.parent_id is None or proposal.parent_id in members
            if proposal.kind is ProposalKind.TRAIN:
                outstanding[proposal.id] = proposal.parent_id
            continue
        if not outstanding:
            continue
        pid = list(outstanding)[int(rng.integers(len(outstanding)))]
        del outstanding[pid]
        failed = rng.random() < 0.2
        engine.report(pid, Outcome(failed=True) if failed else Outcome(fitness=rng.random()))
        reported.add(pid)
        assert {p.id for p in engine.pending} == set(outstanding)
        assert len(engine.population) <= 6
    assert engine.counters.trained + engine.counters.failed == len(reported)


def test_no_deadlock_when_every_initial_candidate_fails_under_drop():
    engine = make(population_size=4, tournament_size=2, failure_policy="drop")
    first = [engine.propose() for _ in range(4)]
    assert engine.propose() is None
    for proposal in first:
        engine.report(proposal.id, Outcome(failed=True, reason="out of memory"))
    assert engine.population == () and engine.pending == ()
    for _ in range(3):  # nothing to select from and nothing pending: start over from the seed
        again = engine.propose()
        assert again is not None and again.parent_id is None
        assert engine.propose() is None  # one at a time until something succeeds
        engine.report(again.id, Outcome(failed=True))
    survivor = engine.propose()
    engine.report(survivor.id, Outcome(fitness=0.5))
    child = engine.propose()
    assert child.parent_id == survivor.id


# ---------------------------------------------------------------------------------------------
# Failure policies.


def test_worst_policy_keeps_failed_members_that_are_never_parents():
    engine = make(population_size=10, tournament_size=1, failure_policy="worst", use_cache=False)
    initial = [engine.propose() for _ in range(10)]
    for k, proposal in enumerate(initial):
        engine.report(proposal.id, Outcome(failed=True) if k % 2 else Outcome(fitness=float(k)))
    failed = {p.id for k, p in enumerate(initial) if k % 2}
    assert {m.id for m in engine.population if m.fitness == math.inf} == failed
    assert engine.counters.failed == 5
    parents = Counter(engine.propose().parent_id for _ in range(500))
    assert not set(parents) & failed, "a failed member is a parent while others have a fitness"
    assert len(parents) == 5


def test_worst_policy_still_searches_when_every_member_failed():
    engine = make(population_size=3, tournament_size=2, failure_policy="worst")
    initial = [engine.propose() for _ in range(3)]
    for proposal in initial:
        engine.report(proposal.id, Outcome(failed=True))
    child = engine.propose()
    assert child.parent_id in {p.id for p in initial}


def test_drop_policy_forgets_failed_candidates():
    engine = make(population_size=4, tournament_size=2, failure_policy="drop")
    initial = [engine.propose() for _ in range(4)]
    engine.report(initial[0].id, Outcome(failed=True))
    engine.report(initial[1].id, Outcome(fitness=1.0))
    assert [m.id for m in engine.population] == [initial[1].id]
    with pytest.raises(EngineStateError, match=f"individual {initial[0].id} is neither"):
        engine.program(initial[0].id)
    assert engine.program(initial[1].id) == initial[1].dna


# ---------------------------------------------------------------------------------------------
# Hurdle thresholds: the median at hurdle k over current members that reached hurdle k.


def test_hurdle_thresholds_by_hand():
    engine = make(population_size=6, tournament_size=2, num_hurdles=3, min_hurdle_members=3)
    hurdles = [(1.0, 10.0), (2.0,), (3.0, 30.0), (), (4.0, 40.0, 7.0), (math.inf,)]
    initial = [engine.propose() for _ in range(6)]
    assert all(p.hurdle_thresholds == (None, None, None) for p in initial)
    for proposal, reached in zip(initial, hurdles, strict=True):
        engine.report(proposal.id, Outcome(fitness=9.0, hurdle_fitness=reached))
    # Hurdle 0: 1, 2, 3, 4 (the infinite value does not count); hurdle 1: 10, 30, 40; hurdle 2:
    # one member only, fewer than min_hurdle_members.
    child = engine.propose()
    assert child.hurdle_thresholds == (2.5, 30.0, None) == engine.hurdle_thresholds()
    engine.report(child.id, Outcome(fitness=0.5, hurdle_fitness=(0.5, 0.5, 0.5)))
    # The oldest member, (1.0, 10.0), left: hurdle 0 is now 2, 3, 4, 0.5; hurdle 1 is 30, 40, 0.5.
    assert engine.hurdle_thresholds() == (2.5, 30.0, None)
    child = engine.propose()
    engine.report(child.id, Outcome(fitness=0.1, hurdle_fitness=(0.1, 0.2, 0.3)))
    # (2.0,) left: hurdle 0 is 3, 4, 0.5, 0.1 -> 1.75; hurdle 1: 30, 40, 0.5, 0.2 -> 15.25;
    # hurdle 2: 7, 0.5, 0.3 -> 0.5.
    assert engine.hurdle_thresholds() == (1.75, 15.25, 0.5)


def test_hurdle_thresholds_follow_the_current_population():
    engine = make(population_size=8, tournament_size=2, num_hurdles=2, min_hurdle_members=4)
    rng = np.random.default_rng(11)
    for _ in range(150):
        members = engine.population
        proposal = engine.propose()
        if proposal is None or proposal.kind is not ProposalKind.TRAIN:
            continue
        for k in range(2):
            values = [m.hurdle_fitness[k] for m in members if len(m.hurdle_fitness) > k]
            expected = float(np.median(values)) if len(values) >= 4 else None
            assert proposal.hurdle_thresholds[k] == expected
        reached = tuple(rng.random(int(rng.integers(0, 3))))
        engine.report(proposal.id, Outcome(fitness=float(rng.random()), hurdle_fitness=reached))
    assert all(t is not None for t in engine.hurdle_thresholds())


# ---------------------------------------------------------------------------------------------
# The fitness cache.


def first_proposal(**config):
    return make(**config).propose()


def test_a_program_already_evaluated_is_a_cache_hit():
    expected = first_proposal()
    cache = MemoryFitnessCache()
    cache.put(
        expected.program_hash, "k", CachedFitness(fitness=0.3, hurdle_fitness=(0.2,), source_id=77)
    )
    engine = make(cache=cache, cache_key="k")
    proposal = engine.propose()
    assert proposal.kind is ProposalKind.CACHED and proposal.dna == expected.dna
    assert proposal.cached == CachedFitness(fitness=0.3, hurdle_fitness=(0.2,), source_id=77)
    assert engine.pending == () and engine.counters.cache_hits == 1
    assert engine.population[0].id == proposal.id and engine.population[0].fitness == 0.3
    assert engine.population[0].hurdle_fitness == (0.2,)
    with pytest.raises(EngineStateError, match="CACHED or REJECTED"):
        engine.report(proposal.id, Outcome(fitness=1.0))


@pytest.mark.parametrize("key, use_cache", [("other", True), ("k", False)])
def test_no_cache_hit_under_another_key_or_with_the_cache_off(key, use_cache):
    expected = first_proposal()
    cache = MemoryFitnessCache()
    cache.put(expected.program_hash, "k", CachedFitness(fitness=0.3, source_id=77))
    engine = make(cache=cache, cache_key=key, use_cache=use_cache)
    proposal = engine.propose()
    assert proposal.kind is ProposalKind.TRAIN and proposal.program_hash == expected.program_hash
    assert engine.counters.cache_hits == 0


def test_cache_hits_during_a_search_reuse_the_first_evaluation():
    engine = make(population_size=8, tournament_size=4)
    first_fitness: dict[str, tuple[int, float]] = {}  # hash -> (id, fitness) of its first report
    rng = np.random.default_rng(5)
    hits = 0
    for _ in range(400):
        proposal = engine.propose()
        if proposal.kind is ProposalKind.CACHED:
            hits += 1
            source, value = first_fitness[proposal.program_hash]
            assert proposal.cached.source_id == source and proposal.cached.fitness == value
            assert engine.population[-1].id == proposal.id
            continue
        value = float(rng.random())  # noisy: a second training would differ
        engine.report(proposal.id, Outcome(fitness=value))
        first_fitness.setdefault(proposal.program_hash, (proposal.id, value))
    assert hits >= 5
    assert engine.counters.cache_hits == hits


def test_with_the_cache_off_repeated_programs_are_trained_again():
    engine = make(population_size=8, tournament_size=4, use_cache=False)
    trained = Counter()
    for _ in range(400):
        proposal = engine.propose()
        assert proposal.kind is ProposalKind.TRAIN
        trained[proposal.program_hash] += 1
        engine.report(proposal.id, Outcome(fitness=0.5))
    assert max(trained.values()) > 1


# ---------------------------------------------------------------------------------------------
# The static gate.


def reject_a_quarter(dna: DNA) -> str | None:
    """A gate that refuses about one program in four, and says which."""
    program_hash = canonical_hash(dna)
    return f"hash {program_hash[:8]} starts with 0-3" if program_hash[0] in "0123" else None


def test_rejected_children_carry_the_reason_and_take_no_training_slot():
    engine = make(population_size=5, tournament_size=2, gate=reject_a_quarter, use_cache=False)
    rejected = []
    accepted = []
    while len(accepted) < 40:
        proposal = engine.propose()
        if proposal.kind is ProposalKind.REJECTED:
            rejected.append(proposal)
            assert proposal.rejection == reject_a_quarter(proposal.dna) is not None
            assert proposal.id not in {p.id for p in engine.pending}
            with pytest.raises(EngineStateError, match="not pending"):
                engine.report(proposal.id, Outcome(fitness=0.0))
            continue
        assert reject_a_quarter(proposal.dna) is None
        accepted.append(proposal)
        engine.report(proposal.id, Outcome(fitness=0.5))
    assert len(rejected) >= 5 and engine.counters.rejected == len(rejected)
    assert engine.counters.proposed == len(rejected) + len(accepted)
    # Rejected initial candidates do not use up initial slots: exactly five accepted ones did.
    assert [p.parent_id is None for p in accepted[:6]] == [True] * 5 + [False]
    assert engine.counters.initial_issued == 5
    assert any(p.parent_id is None for p in rejected), "an initial candidate was rejected too"


def huge_program() -> DNA:
    """Eight calls of a chain of sixty 64-unit projections: at base unit 1 already far above
    the tiny preset's three million parameters."""
    chain = [I("CONV_1X1", k + 1, dim=0) for k in range(60)]
    main = [I(CALL, k + 1, k + 1, callee=1) for k in range(8)]
    return DNA(
        subprograms=program(main, chain).subprograms,
        dims=(64,),
    )


def test_static_gate_rejects_a_program_no_base_unit_fits():
    gate = static_gate(PRESETS["tiny"])
    reason = gate(huge_program())
    assert reason is not None and "no base unit puts this program in the 'tiny' range" in reason
    assert gate(load_seed("transformer")) is None
    assert gate(SEED) is None


def test_static_gate_checks_the_size_limits():
    gate = static_gate(PRESETS["tiny"], Limits(max_resolved_instructions=20))
    reason = gate(load_seed("transformer"))
    assert reason is not None and "once calls are expanded; the limit is 20" in reason


def test_copies_of_a_seed_the_gate_rejects_are_refused():
    with pytest.raises(ConfigError, match="no base unit"):
        make(
            seed_dna=huge_program(),
            initial_population="copies",
            gate=static_gate(PRESETS["tiny"]),
        )


def test_the_engine_and_the_gate_never_import_tensorflow():
    code = (
        "import sys\n"
        "from primer_search.config import PRESETS\n"
        "from primer_search.evolution import EvolutionConfig, Outcome, RegularizedEvolution\n"
        "from primer_search.gate import static_gate\n"
        "from primer_search.seeds import load_seed\n"
        "engine = RegularizedEvolution(load_seed('transformer'), EvolutionConfig(\n"
        "    population_size=4, tournament_size=2), gate=static_gate(PRESETS['tiny']))\n"
        "for _ in range(8):\n"
        "    p = engine.propose()\n"
        "    if p.kind.value == 'train':\n"
        "        engine.report(p.id, Outcome(fitness=0.5))\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# ---------------------------------------------------------------------------------------------
# Errors a caller can make.


def test_reporting_an_unknown_id_names_it():
    engine = make()
    engine.propose()
    with pytest.raises(
        EngineStateError, match=r"no proposal 99 was ever made \(ids so far: 0..0\)"
    ):
        engine.report(99, Outcome(fitness=1.0))
    with pytest.raises(EngineStateError, match="no proposal -1"):
        engine.report(-1, Outcome(fitness=1.0))


def test_reporting_twice_is_refused():
    engine = make()
    proposal = engine.propose()
    engine.report(proposal.id, Outcome(fitness=1.0))
    with pytest.raises(EngineStateError, match=f"proposal {proposal.id} is not pending"):
        engine.report(proposal.id, Outcome(fitness=2.0))
    assert engine.counters.trained == 1 and len(engine.population) == 1


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"population_size": 10, "tournament_size": 11}, r"tournament_size \(11\) must not exceed"),
        ({"population_size": 1, "tournament_size": 1}, "population_size"),
        ({"tournament_size": 0}, "tournament_size"),
        ({"seed": -1}, "seed"),
        ({"num_hurdles": 9}, "num_hurdles"),
        ({"num_hurdles": 2, "population_size": 5, "tournament_size": 2}, "min_hurdle_members"),
        ({"failure_policy": "retry"}, "failure_policy"),
        ({"initial_population": "random"}, "initial_population"),
        ({"tournament": 3}, "tournament"),
    ],
)
def test_config_rejects_bad_values_naming_the_argument(settings, message):
    with pytest.raises(ValidationError, match=message):
        EvolutionConfig(**settings)


def test_outcomes_need_a_finite_fitness_unless_failed():
    with pytest.raises(ValidationError, match="finite fitness"):
        Outcome(fitness=math.nan)
    with pytest.raises(ValidationError, match="finite fitness"):
        Outcome()
    assert Outcome(failed=True).fitness is None


def test_drive_helper_reports_everything_it_proposes():
    engine = make(population_size=6, tournament_size=2, num_hurdles=2, min_hurdle_members=3)
    log = drive(engine, 60, width=4)
    trained = [p for p in log if p.kind is ProposalKind.TRAIN]
    assert len(trained) == 60 + len(engine.pending)
    assert engine.counters.trained + engine.counters.failed == 60
