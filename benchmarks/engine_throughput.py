"""Throughput of the evolution engine alone (issue 4): how many candidates per second
`RegularizedEvolution` proposes and takes reports for, at the paper's scale (population 100,
tournament 10, 25,000 evaluations), with the static gate on and off and the fitness cache on.

Nothing is trained. The fitness is a TOY, computed outside the timed calls: the L1 distance
between the (op, width multiplier) counts of the child's lowered graph and those of Primer-EZ,
starting from the Transformer seed. It gives the search a direction, as a real fitness does; with
no direction at all (a random fitness) the population drifts to programs that are mostly dead
code, where the mutator's light check retries far more often (see `attempts_per_child`).

Timed per candidate: `propose()`, plus `report()` for a TRAIN proposal, by the wall clock and by
the thread's CPU time (the same on an idle machine; on a shared one the CPU time is the engine's
own cost). Prints one JSON object:

    .venv/bin/python benchmarks/engine_throughput.py              # 25,000 evaluations per run
    .venv/bin/python benchmarks/engine_throughput.py --evaluations 2000    # a quick look

Pure Python: no TensorFlow is imported.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from collections import Counter
from typing import Any

from primer_search.config import PRESETS
from primer_search.dna import DNA
from primer_search.evolution import (
    EvolutionConfig,
    Outcome,
    ProposalKind,
    RegularizedEvolution,
)
from primer_search.gate import accept_all, static_gate
from primer_search.graph import lower
from primer_search.seeds import load_seed


def op_profile(dna: DNA) -> Counter[tuple[str, int]]:
    return Counter((node.op, node.mult) for node in lower(dna).nodes)


def toy_fitness(target: Counter[tuple[str, int]]):
    def fitness(dna: DNA) -> float:
        profile = op_profile(dna)
        return float(sum(abs(profile[k] - target[k]) for k in profile.keys() | target.keys()))

    return fitness


def run(evaluations: int, population: int, tournament: int, gate_on: bool, seed: int) -> dict:
    """One search of `evaluations` reports; the engine's time per candidate."""
    gate = static_gate(PRESETS["tiny"]) if gate_on else accept_all
    config = EvolutionConfig(population_size=population, tournament_size=tournament, seed=seed)
    engine = RegularizedEvolution(load_seed("transformer"), config, gate=gate, cache_key="toy")
    fitness = toy_fitness(op_profile(load_seed("primer_ez")))
    wall: list[int] = []  # ns per candidate, wall clock
    cpu: list[int] = []  # ns per candidate, CPU time of this thread (robust to a busy machine)
    attempts: list[int] = []  # mutation attempts per mutated child (the light check's retries + 1)
    while engine.counters.trained < evaluations:
        wall_start, cpu_start = time.perf_counter_ns(), time.thread_time_ns()
        proposal = engine.propose()
        wall_taken = time.perf_counter_ns() - wall_start
        cpu_taken = time.thread_time_ns() - cpu_start
        assert proposal is not None  # sequential: nothing is pending when proposing
        if proposal.mutation is not None:
            attempts.append(proposal.mutation.retries + 1)
        if proposal.kind is ProposalKind.TRAIN:
            outcome = Outcome(fitness=fitness(proposal.dna))
            wall_start, cpu_start = time.perf_counter_ns(), time.thread_time_ns()
            engine.report(proposal.id, outcome)
            wall_taken += time.perf_counter_ns() - wall_start
            cpu_taken += time.thread_time_ns() - cpu_start
        wall.append(wall_taken)
        cpu.append(cpu_taken)
    counters = engine.counters
    best = engine.best()
    return {
        "static_gate": gate_on,
        "cache": True,
        "evaluations": counters.trained,
        "candidates": counters.proposed,
        "cache_hits": counters.cache_hits,
        "rejected": counters.rejected,
        "attempts_per_child": round(statistics.fmean(attempts), 2),
        "wall": summary(wall),
        "cpu": summary(cpu),
        "best_toy_fitness": best.fitness if best else None,
        "_engine": engine,
    }


def summary(nanoseconds: list[int]) -> dict[str, float]:
    micros = sorted(n / 1000 for n in nanoseconds)
    return {
        "candidates_per_second": round(len(micros) / (sum(micros) / 1e6), 1),
        "mean_us_per_candidate": round(statistics.fmean(micros), 1),
        "p95_us_per_candidate": round(micros[math.ceil(0.95 * len(micros)) - 1], 1),
        "max_us_per_candidate": round(micros[-1], 1),
    }


def persistence(engine: RegularizedEvolution) -> dict[str, Any]:
    """Size of the saved state and the time to save and restore it."""
    out: dict[str, Any] = {"pending": len(engine.pending), "members": len(engine.population)}
    for include in (True, False):
        start = time.perf_counter()
        state = engine.state_dict(include_programs=include)
        saved = time.perf_counter() - start
        text = json.dumps(state, allow_nan=False)
        loaded = json.loads(text)
        programs = None if include else {m.id: engine.program(m.id) for m in engine.population}
        start = time.perf_counter()
        RegularizedEvolution.from_state(loaded, engine.seed_dna, programs=programs)
        restored = time.perf_counter() - start
        label = "with_programs" if include else "without_programs"
        out[label] = {
            "json_bytes": len(text.encode()),
            "cache_entries": len(state.get("cache", [])),
            "state_dict_ms": round(saved * 1000, 2),
            "from_state_ms": round(restored * 1000, 2),
        }
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=25_000)
    parser.add_argument("--population", type=int, default=100)
    parser.add_argument("--tournament", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    runs = []
    engine = None
    for gate_on in (False, True):
        result = run(args.evaluations, args.population, args.tournament, gate_on, args.seed)
        engine = result.pop("_engine")
        runs.append(result)
    assert engine is not None
    report = {
        "benchmark": "engine_throughput",
        "what": "RegularizedEvolution.propose + report only; toy fitness, computed untimed",
        "fitness": "toy: L1 distance of (op, width) counts of the lowered graph to Primer-EZ's",
        "seed_dna": "transformer",
        "population": args.population,
        "tournament": args.tournament,
        "gate_preset": "tiny",
        "runs": runs,
        "state": persistence(engine),
        "python": platform.python_version(),
        "tensorflow_imported": "tensorflow" in sys.modules,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
