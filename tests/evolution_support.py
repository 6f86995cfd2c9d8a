"""Helpers shared by the engine tests (tests/test_evolution*.py): a small seed that mutates fast,
toy fitness functions, and a deterministic asynchronous driver."""

from __future__ import annotations

from collections import Counter
from typing import Any

from primer_search.dna import DNA, Instruction, Subprogram, check_dna
from primer_search.evolution import Outcome, Proposal, RegularizedEvolution
from primer_search.graph import lower
from primer_search.ops import CALL


def I(op: str, a: int = 0, b: int = 0, **fields: int) -> Instruction:  # noqa: E743
    return Instruction(op=op, input1=a, input2=b, **fields)


def program(*subprograms: list[Instruction]) -> DNA:
    return check_dna(DNA(subprograms=tuple(Subprogram(instructions=tuple(s)) for s in subprograms)))


def small_seed() -> DNA:
    """A residual block with a feed-forward subprogram: every mutation type applies, and a
    mutation costs a fraction of one of the Transformer seed."""
    return program(
        [I(CALL, 0, 0, callee=1), I("ADD", 0, 2), I("SCALE", 3)],
        [I("CONV_1X1", 0, dim=1), I("MAX", 2, constant=0), I("CONV_1X1", 3, dim=0)],
    )


def hash_fitness(program_hash: str) -> float:
    """A pseudo-random fitness in [0, 1) that is a function of the program."""
    return int(program_hash[:12], 16) / 16**12


def op_profile(dna: DNA) -> Counter[tuple[str, int]]:
    """What the structural toy fitness compares: (op, width multiplier) of every live node."""
    return Counter((node.op, node.mult) for node in lower(dna).nodes)


def profile_distance(dna: DNA, target: Counter[tuple[str, int]]) -> float:
    profile = op_profile(dna)
    return float(sum(abs(profile[k] - target[k]) for k in profile.keys() | target.keys()))


def outcome_for(proposal: Proposal, num_hurdles: int) -> Outcome:
    """A deterministic outcome: about 8% of programs fail; a program reaches hurdle k while its
    fitness at hurdle k is low enough (a stand-in for the halving hurdles)."""
    h = proposal.program_hash
    if int(h[12:14], 16) < 20:
        return Outcome(failed=True, reason="toy failure")
    value = hash_fitness(h)
    hurdles = []
    for k in range(num_hurdles):
        hurdles.append(value + 0.5 / (k + 1))
        threshold = proposal.hurdle_thresholds[k] if proposal.hurdle_thresholds else None
        if threshold is not None and hurdles[-1] > threshold:
            break
    return Outcome(fitness=value, hurdle_fitness=tuple(hurdles))


def summary(proposal: Proposal) -> dict[str, Any]:
    """What a run is compared on: everything about a proposal, its DNA included."""
    return proposal.model_dump(mode="json")


def drive(
    engine: RegularizedEvolution, reports: int, width: int = 5, log: list[Proposal] | None = None
) -> list[Proposal]:
    """Run an asynchronous search until `reports` TRAIN proposals have been reported in all:
    keep up to `width` proposals out, report one chosen by the number of reports so far (not in
    proposal order). Everything it decides follows from the engine's state, so a restored engine
    driven on continues exactly as the original."""
    log = [] if log is None else log
    counters = engine.counters
    while counters.trained + counters.failed < reports:
        while len(engine.pending) < width:
            proposal = engine.propose()
            if proposal is None:
                break
            log.append(proposal)
        pending = sorted(engine.pending, key=lambda p: p.id)
        done = counters.trained + counters.failed
        chosen = pending[(done * 7 + 3) % len(pending)]
        engine.report(chosen.id, outcome_for(chosen, engine.config.num_hurdles))
        counters = engine.counters
    return log
