"""Throughput of the evolution engine alone (issue 4): how many candidates per second
`RegularizedEvolution` proposes and takes reports for, at the paper's scale (population 100,
tournament 10, 25,000 evaluations), with the static gate off and on, and on again with the gate
sizing each child by recounting (`fit_base_unit_exact`, the reference the formula replaced); the
fitness cache is on. The same seed drives the three searches, so both gated ones must make the
same search (the two sizings agree), which the benchmark checks. They take turns, --block
evaluations at a time, so that a changing load on a shared machine weighs on each alike.

Nothing is trained. The fitness is a TOY, computed outside the timed calls: the L1 distance
between the (op, width multiplier) counts of the child's lowered graph and those of Primer-EZ,
starting from the Transformer seed. It gives the search a direction, as a real fitness does.
`--fitness random` draws it from the program's canonical hash instead (no direction, as
controller_overhead.py's default landscape): the population then drifts to programs that are
mostly dead code (a few live nodes; subprograms no live call reaches), where the mutator's
light check retries far more often (see `attempts_per_child`) and most children are cache hits.

Timed per candidate: `propose()`, plus `report()` for a TRAIN proposal, by the wall clock and by
the thread's CPU time (the same on an idle machine; on a shared one the CPU time is the engine's
own cost); the static gate's calls are also timed on their own (`gate_cpu`). Prints one JSON
object:

    .venv/bin/python benchmarks/engine_throughput.py              # 25,000 evaluations per run
    .venv/bin/python benchmarks/engine_throughput.py --evaluations 2000    # a quick look
        [--fitness toy|random] [--gate-preset tiny|paper] [--block 2500] [--out FILE]

Pure Python: no TensorFlow is imported.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402

from primer_search import gate as gate_module  # noqa: E402
from primer_search.config import PRESETS  # noqa: E402
from primer_search.dna import DNA  # noqa: E402
from primer_search.evolution import (  # noqa: E402
    EvolutionConfig,
    Outcome,
    Proposal,
    ProposalKind,
    RegularizedEvolution,
)
from primer_search.gate import Gate, accept_all, static_gate  # noqa: E402
from primer_search.graph import lower  # noqa: E402
from primer_search.seeds import load_seed  # noqa: E402
from primer_search.sizing import fit_base_unit_exact  # noqa: E402

# How each run sizes the children its static gate checks (None: no gate): by the block's
# parameter formula, as the library does, or by recounting, the reference it replaced.
SIZINGS = (None, "formula", "recount")


def op_profile(dna: DNA) -> Counter[tuple[str, int]]:
    return Counter((node.op, node.mult) for node in lower(dna).nodes)


def toy_fitness(target: Counter[tuple[str, int]]) -> Callable[[Proposal], float]:
    def fitness(proposal: Proposal) -> float:
        profile = op_profile(proposal.dna)
        return float(sum(abs(profile[k] - target[k]) for k in profile.keys() | target.keys()))

    return fitness


def random_fitness(proposal: Proposal) -> float:
    """In [3.4, 4.6), drawn from the program's canonical hash: the same program, the same value."""
    return 3.4 + 1.2 * int(proposal.program_hash[:8], 16) / 16**8


FITNESS = {
    "toy": "toy: L1 distance of (op, width) counts of the lowered graph to Primer-EZ's",
    "random": "random: drawn from the program's canonical hash (no direction)",
}


class Search:
    """One search, advanced a block of evaluations at a time; the engine's time per candidate."""

    def __init__(self, population: int, tournament: int, gate: Gate, seed: int, fitness: str):
        config = EvolutionConfig(population_size=population, tournament_size=tournament, seed=seed)
        self.gate = TimedGate(gate)
        self.engine = RegularizedEvolution(
            load_seed("transformer"), config, gate=self.gate, cache_key="toy"
        )
        self.fitness = (
            toy_fitness(op_profile(load_seed("primer_ez"))) if fitness == "toy" else random_fitness
        )
        self.wall: list[int] = []  # ns per candidate, wall clock
        self.cpu: list[int] = []  # ns per candidate, CPU time of this thread (robust to load)
        self.attempts: list[int] = []  # attempts per mutated child (the light check's retries + 1)

    def advance(self, evaluations: int) -> None:
        """Run until `evaluations` reports in all."""
        engine = self.engine
        while engine.counters.trained < evaluations:
            wall_start, cpu_start = time.perf_counter_ns(), time.thread_time_ns()
            proposal = engine.propose()
            wall_taken = time.perf_counter_ns() - wall_start
            cpu_taken = time.thread_time_ns() - cpu_start
            assert proposal is not None  # sequential: nothing is pending when proposing
            if proposal.mutation is not None:
                self.attempts.append(proposal.mutation.retries + 1)
            if proposal.kind is ProposalKind.TRAIN:
                outcome = Outcome(fitness=self.fitness(proposal))
                wall_start, cpu_start = time.perf_counter_ns(), time.thread_time_ns()
                engine.report(proposal.id, outcome)
                wall_taken += time.perf_counter_ns() - wall_start
                cpu_taken += time.thread_time_ns() - cpu_start
            self.wall.append(wall_taken)
            self.cpu.append(cpu_taken)

    def result(self) -> dict[str, Any]:
        counters = self.engine.counters
        best = self.engine.best()
        return {
            "cache": True,
            "evaluations": counters.trained,
            "candidates": counters.proposed,
            "cache_hits": counters.cache_hits,
            "rejected": counters.rejected,
            "attempts_per_child": round(statistics.fmean(self.attempts), 2),
            "wall": summary(self.wall),
            "cpu": summary(self.cpu),
            # The gate's own calls, inside the times above (none for accept_all).
            "gate_cpu": summary(self.gate.cpu) if self.gate.cpu else None,
            "best_toy_fitness": best.fitness if best else None,
        }


class TimedGate:
    """A gate that records the CPU time of each call (accept_all is not timed)."""

    def __init__(self, gate: Gate):
        self.inner = gate
        self.cpu: list[int] = []

    def __call__(self, dna: DNA) -> str | None:
        if self.inner is accept_all:
            return None
        start = time.thread_time_ns()
        reason = self.inner(dna)
        self.cpu.append(time.thread_time_ns() - start)
        return reason


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
    parser.add_argument("--fitness", default="toy", choices=sorted(FITNESS))
    parser.add_argument("--gate-preset", default="tiny", choices=sorted(PRESETS))
    parser.add_argument(
        "--block", type=int, default=2500, help="evaluations per turn of the interleaved searches"
    )
    parser.add_argument("--out", default=None, help="also write the JSON report to this file")
    args = parser.parse_args(argv)
    command = " ".join(
        ["benchmarks/engine_throughput.py", *(sys.argv[1:] if argv is None else argv)]
    )
    searches = {
        sizing: Search(
            args.population,
            args.tournament,
            accept_all if sizing is None else static_gate(PRESETS[args.gate_preset]),
            args.seed,
            args.fitness,
        )
        for sizing in SIZINGS
    }
    # The recount search runs the same static gate, its sizing swapped for the reference one.
    recounting = mock.patch.object(gate_module, "fit_base_unit", fit_base_unit_exact)
    load_before = _common.load_average()
    # The searches take turns, a block of evaluations each, so a load that changes meanwhile (a
    # shared machine) weighs on each alike.
    for done in range(args.block, args.evaluations + args.block, args.block):
        for sizing, search in searches.items():
            with recounting if sizing == "recount" else nullcontext():
                search.advance(min(done, args.evaluations))
    load_after = _common.load_average()
    runs = [
        {"static_gate": sizing is not None, "sizing": sizing, **search.result()}
        for sizing, search in searches.items()
    ]
    _off, formula, recount = runs
    same = ("candidates", "cache_hits", "rejected", "attempts_per_child", "best_toy_fitness")
    if any(formula[key] != recount[key] for key in same):
        raise AssertionError("the gate made a different search sizing by formula and by recount")
    report = {
        "benchmark": "engine_throughput",
        "command": command,
        "what": "RegularizedEvolution.propose + report only; made-up fitness, computed untimed",
        "fitness": FITNESS[args.fitness],
        "seed_dna": "transformer",
        "population": args.population,
        "tournament": args.tournament,
        "gate_preset": args.gate_preset,
        "block": args.block,
        "runs": runs,
        # The static gate's mean CPU time per candidate, by either sizing (runs[*].gate_cpu).
        "gate_cpu_us_per_candidate": {
            r["sizing"]: r["gate_cpu"]["mean_us_per_candidate"] for r in (formula, recount)
        },
        "load_average_before": load_before,
        "load_average_after": load_after,
        "state": persistence(searches["formula"].engine),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "tensorflow_imported": "tensorflow" in sys.modules,
    }
    _common.emit(report, args.out)


if __name__ == "__main__":
    main()
