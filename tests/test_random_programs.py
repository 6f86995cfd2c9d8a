"""The property test of issue 2 over random programs made by random edits of every seed.

Each program is a chain of 1..MAX_CHAIN mutations (primer_search.mutation) of a seed. For each:
it validates; it compiles to a ProgramBlock and runs without any exception (an invalid program
must be rejected by validation, never by TensorFlow); and it has no temporal leak: with the block
input perturbed at positions > t, the outputs at positions <= t are unchanged. Non-finite outputs
are compared too (same NaN / inf pattern): a non-finite value appearing in the past only when
the future changes is a leak through 0 * inf (see ops.mask_keys and ops._mat_mul).

Speed: one eager forward per program. Rows of one batch are independent sequences (no op mixes
the batch axis), so row 0 holds the base input and each further row the base input with the
positions after one cut t replaced by noise of one scale; the large scale makes EXP and friends
overflow, which is what exposes 0 * inf leaks. Each perturbed row is compared with the same row
of a second batch holding the base input in every row, not with row 0: a CPU kernel may round a
row differently by its place in the batch (seen on an AMD EPYC with AVX2/FMA: CONV_1X1 gave
identical rows results 1 ulp apart, which EXP then grew past any fixed tolerance), and a
genuine leak shows up whatever the row. The base row also runs alone, as a batch of one, and the
analytic parameter count must equal the built one.

A crash that kills the process (TensorFlow heap corruption) leaves the program it was running in
LAST_PROGRAM.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from primer_search.canonical import canonical_hash
from primer_search.compiler import ProgramBlock
from primer_search.dna import DNA, NUM_INPUTS, Instruction, Subprogram, validate_dna
from primer_search.mutation import mutate
from primer_search.ops import REGISTRY, Applied
from primer_search.seeds import load_seed, seed_names

TOTAL_PROGRAMS = 2000
MAX_CHAIN = 30  # mutations in one chain from a seed
T, D_MODEL, BASE_UNIT = 10, 16, 2  # d_model = 8 base units, as in the presets
SCALES = (1.0, 30.0, 1e4)  # noise scales of the perturbed future
SEEDS = seed_names()
PER_SEED = -(-TOTAL_PROGRAMS // len(SEEDS))
LAST_PROGRAM = Path(tempfile.gettempdir()) / "primer_search_last_random_program.json"


@dataclass(frozen=True)
class Case:
    seed: str
    chain: int  # how many mutations away from the seed
    dna: DNA

    def describe(self) -> str:
        return f"{self.seed} after {self.chain} mutation(s):\n{self.dna.to_json()}"


def random_programs(seed: str, count: int, rng: np.random.Generator) -> list[Case]:
    """`count` programs from random walks out of `seed`; every step of a walk is one program,
    and each walk has a random length in 1..MAX_CHAIN."""
    cases: list[Case] = []
    while len(cases) < count:
        dna = load_seed(seed)
        for step in range(1, int(rng.integers(1, MAX_CHAIN + 1)) + 1):
            dna, _record = mutate(dna, rng)
            cases.append(Case(seed, step, dna))
            if len(cases) == count:
                break
    return cases


def perturbed_batch(rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """(1 + (T-1) * len(SCALES), T, D) inputs: row 0 the base, then for each cut t and scale the
    base with positions > t replaced by noise; and the cut of each row after the first."""
    base = rng.normal(size=(T, D_MODEL)).astype("float32")
    rows, cuts = [base], []
    for t in range(T - 1):
        for scale in SCALES:
            row = base.copy()
            row[t + 1 :] = scale * rng.normal(size=(T - t - 1, D_MODEL))
            rows.append(row)
            cuts.append(t)
    return np.stack(rows), cuts


def leaks(y: np.ndarray, reference: np.ndarray, cuts: list[int]) -> list[str]:
    """Where the past of a perturbed row of `y` differs from the same row of `reference` (the
    outputs for the base input in every row)."""
    found = []
    for row, t in enumerate(cuts, start=1):
        base, other = reference[row, : t + 1], y[row, : t + 1]
        finite = np.isfinite(base)
        if not np.array_equal(finite, np.isfinite(other)) or not np.array_equal(
            base[~finite], other[~finite], equal_nan=True
        ):
            found.append(f"row {row} (cut t={t}): the non-finite outputs at positions <= t differ")
        elif not np.allclose(base[finite], other[finite], rtol=1e-5, atol=1e-6):
            worst = float(np.max(np.abs(base[finite] - other[finite])))
            found.append(f"row {row} (cut t={t}): outputs at positions <= t differ by {worst:g}")
    return found


def check(case: Case, index: int) -> tuple[str | None, float]:
    """A failure message or None, and the fraction of finite base outputs."""
    issues = validate_dna(case.dna)
    if issues:
        return f"the mutator made an invalid DNA: {issues}", 0.0
    rng = np.random.default_rng(index)
    keras.utils.set_random_seed(index)
    x, cuts = perturbed_batch(rng)
    # A crash inside TensorFlow can kill the process (heap corruption): leave the program behind.
    LAST_PROGRAM.write_text(case.describe())
    try:
        block = ProgramBlock(case.dna, base_unit=BASE_UNIT, d_model=D_MODEL)
        y = block(tf.constant(x)).numpy()
        reference = block(tf.constant(np.repeat(x[:1], len(x), axis=0))).numpy()
        alone = block(tf.constant(x[:1])).numpy()  # a batch of one (inference, generation)
        built = sum(int(np.prod(v.shape)) for v in block.trainable_variables)
    except Exception as exc:  # any exception at all is the failure being tested for
        return f"compile or run raised {type(exc).__name__}: {exc}", 0.0
    if y.shape != x.shape or alone.shape != x[:1].shape:
        return f"output shapes {y.shape}, {alone.shape} for inputs {x.shape}", 0.0
    if built != block.analytic_parameter_count():
        return (
            f"{built} trainable parameters, analytic count {block.analytic_parameter_count()}",
            0.0,
        )
    found = leaks(y, reference, cuts)
    if found:
        return "temporal leak: " + "; ".join(found[:3]), 0.0
    return None, float(np.isfinite(y[0]).mean())


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_random_edits_compile_and_stay_causal(seed: str):
    rng = np.random.default_rng(SEEDS.index(seed))
    start = time.perf_counter()
    cases = random_programs(seed, PER_SEED, rng)
    made = time.perf_counter()
    failures: list[str] = []
    finite: list[float] = []
    for index, case in enumerate(cases):
        message, finite_fraction = check(case, 10_000 * SEEDS.index(seed) + index)
        if message:
            failures.append(f"program {index}, {message}\n{case.describe()}")
        else:
            finite.append(finite_fraction)
    done = time.perf_counter()
    print(
        f"\n{seed}: {len(cases)} programs (chains up to {MAX_CHAIN}), mutate {made - start:.1f}s, "
        f"compile+run+check {done - made:.1f}s; base outputs all finite in "
        f"{np.mean(np.array(finite) == 1.0):.0%} of programs; failures {len(failures)}"
    )
    assert not failures, f"{len(failures)} of {len(cases)} programs failed; first:\n" + (
        "\n\n".join(failures[:2])
    )
    # The leak check compares finite values; it must not be vacuous.
    assert np.mean(np.array(finite) == 1.0) > 0.5


def test_leak_check_catches_an_unmasked_attention(monkeypatch: pytest.MonkeyPatch):
    """The check above is not vacuous: the Transformer with MASK made a no-op reads the future."""
    monkeypatch.setitem(REGISTRY, "MASK", dataclasses.replace(REGISTRY["MASK"], apply=_first))
    message, _ = check(Case("transformer", 0, load_seed("transformer")), 0)
    assert message is not None and message.startswith("temporal leak"), message


def _first(inputs: list[tf.Tensor], args: Applied) -> tf.Tensor:
    return inputs[0]


# ---------------------------------------------------------------------------------------------
# Canonical hash: stable under any reordering of independent instructions.


def reads(inst: Instruction) -> set[int]:
    """States an instruction names, in both fields (an unused input2 still has to stay valid)."""
    return {inst.input1, inst.input2}


def reorder(insts: tuple[Instruction, ...], rng: np.random.Generator) -> list[Instruction]:
    """A random topological order of the instructions (each after the states it names, the last
    one kept last so the output does not change), with every state index renumbered."""
    n = len(insts)
    placed: list[int] = []
    new_state = {state: state for state in range(NUM_INPUTS)}
    while len(placed) < n - 1:
        ready = [
            i
            for i in range(n - 1)
            if i not in placed and all(r in new_state for r in reads(insts[i]))
        ]
        i = ready[int(rng.integers(len(ready)))]
        new_state[i + NUM_INPUTS] = len(placed) + NUM_INPUTS
        placed.append(i)
    placed.append(n - 1)
    return [
        insts[i].model_copy(
            update={f: new_state[getattr(insts[i], f)] for f in ("input1", "input2")}
        )
        for i in placed
    ]


def test_canonical_hash_ignores_the_order_of_independent_instructions():
    rng = np.random.default_rng(7)
    moved = 0
    for seed in SEEDS:
        for case in random_programs(seed, 40, rng):
            dna = case.dna
            shuffled = dna.model_copy(
                update={
                    "subprograms": tuple(
                        Subprogram(instructions=tuple(reorder(sub.instructions, rng)))
                        for sub in dna.subprograms
                    )
                }
            )
            assert validate_dna(shuffled) == []
            assert canonical_hash(shuffled) == canonical_hash(dna), case.describe()
            moved += shuffled != dna
    assert moved > 100  # the reorderings did move instructions
