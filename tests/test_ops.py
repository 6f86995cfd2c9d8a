"""Every primitive of the registry, compiled into a tiny block: shape, finiteness, parameter
count, causality, and its numbers against an independent NumPy oracle (tensor2tensor's NAS layer
tests, STYLE.md). Cases enumerate `ops.PRIMITIVES`, so a new op is tested the day it is added.

Each case is a small MAIN: a prefix that makes the input states, then the op under test (or a
CALL that runs it inside one or two branch scopes). The prefix, on the block input x (B, T, D):

    state 0: x                   FEATURE, width D   ("F")
    state 2: SIN(x)              FEATURE, width D
    state 3: T_MAT_MUL(x, sin x) MATRIX  (B, T, T) ("M")
    state 4: T_MAT_MUL(sin x, x) MATRIX

Unused prefix states are dead code, dropped by the lowering.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from primer_search.compiler import ProgramBlock
from primer_search.dna import DNA, Instruction, Subprogram, check_dna
from primer_search.graph import block_parameter_count
from primer_search.ops import CALL, PRIMITIVES, REGISTRY, Kind

B, T, D_MODEL, UNIT = 2, 8, 16, 2
CONSTANT = 0.25  # the constants bank: C_MUL, MAX and MIN read it
DIM = 12  # the dims bank: weighted ops project to 12 units = 24 > d_model (the block truncates)
LEAK_POSITIONS = (0, 3, T - 2)

F1, F2, M1, M2 = 0, 2, 3, 4  # the prefix's states (module docstring)
PREFIX = (
    Instruction(op="SIN", input1=0),
    Instruction(op="T_MAT_MUL", input1=0, input2=2),
    Instruction(op="T_MAT_MUL", input1=2, input2=0),
)
INPUT_STATES = {"F": (F1, F2), "M": (M1, M2)}

# Ops whose output can be non-finite on the finite probe below, and why. Finiteness of the others
# is promised only for bounded inputs: in float32 EXP overflows above ~88.7, and CUM_PROD,
# RED_PROD, SQUARE, MULTIPLY and the matrix products overflow once their factors are large
# enough; the probe keeps |x| <= 1, the scale a normalized residual stream has.
NOT_FINITE_ON_PROBE = {
    "LOG": "log|0| = -inf, and the probe has exact zeros (as a softmax's masked scores do)",
}


def probe_input(seed: int = 0) -> np.ndarray:
    """(B, T, D) in [-1, 1] with exact zeros: one whole position and one whole channel."""
    x = np.random.default_rng(seed).uniform(-1.0, 1.0, (B, T, D_MODEL)).astype("float32")
    x[:, 2, :] = 0.0
    x[..., 3] = 0.0
    return x


# ---------------------------------------------------------------------------------------------
# Cases.


@dataclass(frozen=True)
class Case:
    op: str
    kinds: str  # input kinds, "F", "M", or for binary ops "FF", "FM", "MF", "MM"
    scope: tuple[int, ...] = ()  # branch factors of the enclosing calls, outermost first

    @property
    def id(self) -> str:
        scope = "-branch" + "x".join(map(str, self.scope)) if self.scope else ""
        return f"{self.op}-{self.kinds}{scope}"

    def inputs(self) -> tuple[int, int]:
        first = INPUT_STATES[self.kinds[0]][0]
        if len(self.kinds) == 1:
            return first, first
        return first, INPUT_STATES[self.kinds[1]][1]

    def dna(self) -> DNA:
        a, b = self.inputs()
        subs: list[tuple[Instruction, ...]] = [PREFIX]
        for branch in self.scope:  # each scope is a call to the next subprogram
            call = Instruction(op=CALL, input1=a, input2=b, callee=len(subs), branch=branch)
            subs[-1] += (call,)
            subs.append(())
            a, b = 0, 1  # the callee's inputs
        subs[-1] += (Instruction(op=self.op, input1=a, input2=b),)
        return check_dna(
            DNA(
                subprograms=tuple(Subprogram(instructions=s) for s in subs),
                constants=(CONSTANT,),
                dims=(DIM,),
            )
        )


def kind_combos(op: str) -> list[str]:
    if REGISTRY[op].arity == 2:
        return ["".join(p) for p in itertools.product("FM", repeat=2)]
    return ["F", "M"]


UNSCOPED = [Case(op, kinds) for op in PRIMITIVES for kinds in kind_combos(op)]
# Inside a branched call (PRIMER.md section 1): 8 copies, and a call with 4 copies nested in a
# call with 2 (the branch-equivalence test below also runs weighted ops in 2 copies alone).
SCOPED = [
    Case(op, kinds, scope)
    for op in PRIMITIVES
    for kinds in kind_combos(op)
    for scope in ((8,), (2, 4))
]
ALL_CASES = UNSCOPED + SCOPED


def ids(cases: list[Case]) -> list[str]:
    return [c.id for c in cases]


class ProbedBlock(ProgramBlock):
    """A ProgramBlock that also keeps the program's own output, before it is fitted to d_model."""

    def _fit_output(self, y: Any) -> Any:
        self.raw = y
        return super()._fit_output(y)


@dataclass
class Built:
    block: ProbedBlock
    x: np.ndarray
    out: np.ndarray  # (B, T, d_model)
    raw: np.ndarray  # the op's output: (B, T, W) or (B, T, T)

    def run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = self.block(tf.constant(x)).numpy()
        return out, self.block.raw.numpy()


@functools.cache
def build(case: Case, unit: int = UNIT) -> Built:
    block = ProbedBlock(case.dna(), unit, D_MODEL)
    x = probe_input()
    out = block(tf.constant(x)).numpy()
    # Random weights, so that no init (ones, zeros, equal dconv taps) hides a bug.
    rng = np.random.default_rng(1)
    for v in block.trainable_variables:
        v.assign(rng.uniform(-1.0, 1.0, v.shape).astype("float32"))
    out = block(tf.constant(x)).numpy()
    return Built(block, x, out, block.raw.numpy())


def output_node_kind(block: ProgramBlock) -> tuple[Kind, int | None]:
    out = block.graph.output
    return block.shapes.kinds[out], block.shapes.widths[out]


# ---------------------------------------------------------------------------------------------
# The contract of every case: shape, finiteness, parameter count, causality. One test per case
# checks all four and reports every broken one (one item per property would quadruple the
# collection for CI's two cores without telling more).


def shape_problems(built: Built) -> list[str]:
    problems = []
    if built.out.shape != (B, T, D_MODEL):
        problems.append(f"block output {built.out.shape}, expected {(B, T, D_MODEL)}")
    # The op's own output has the kind and width the shape inference promised: the block fits
    # outputs to d_model from the inferred width, so a wrong inference would be silent.
    kind, width = output_node_kind(built.block)
    expected = (B, T, T) if kind is Kind.MATRIX else (B, T, width)
    if built.raw.shape != expected:
        problems.append(f"op output {built.raw.shape}, inferred {kind.value} {expected}")
    return problems


def finiteness_problems(case: Case, built: Built) -> list[str]:
    finite = bool(np.isfinite(built.out).all() and np.isfinite(built.raw).all())
    if case.op in NOT_FINITE_ON_PROBE:
        # The mark must stay true: if this starts failing, the op (or the probe) changed.
        return [] if not finite else [f"finite, but marked: {NOT_FINITE_ON_PROBE[case.op]}"]
    return [] if finite else ["non-finite output on the finite probe"]


def expected_parameters(case: Case) -> int:
    """Independent of the registry's weight specs: the op's textbook weight count."""
    copies = math.prod(case.scope)
    width_in = D_MODEL if case.kinds[0] == "F" else 1  # a matrix enters as its key-mean
    width_out = DIM * UNIT // copies  # widths inside branches are divided by the branch count
    conv = re.fullmatch(r"(D?)CONV_(\d+)X1", case.op)
    if conv:
        taps = int(conv.group(2))
        per_copy = taps * width_in if conv.group(1) else taps * width_in * width_out
    elif case.op in ("SCALE", "SHIFT"):
        per_copy = width_in  # per channel on a feature, one scalar on a matrix
    else:
        per_copy = 0
    return copies * per_copy


def parameter_problems(case: Case, built: Built) -> list[str]:
    block = built.block
    counts = {
        "trainable variables": sum(math.prod(v.shape) for v in block.trainable_variables),
        "ProgramBlock.analytic_parameter_count": block.analytic_parameter_count(),
        "graph.block_parameter_count": block_parameter_count(block.graph, block.shapes),
        "textbook count": expected_parameters(case),
    }
    return [] if len(set(counts.values())) == 1 else [f"parameter counts differ: {counts}"]


def leaks(built: Built, t: int, seed: int) -> list[str]:
    """Where outputs up to position t moved when the inputs after t were redrawn."""
    x2 = built.x.copy()
    x2[:, t + 1 :, :] = np.random.default_rng(seed).uniform(-1, 1, x2[:, t + 1 :, :].shape)
    out2, raw2 = built.run(x2)
    found = []
    if not np.allclose(out2[:, : t + 1], built.out[:, : t + 1], rtol=1e-5, atol=1e-5):
        found.append(f"leak: block output at positions <= {t}")
    # A matrix entry (t', s) may depend on tokens <= max(t', s): check the top-left corner.
    past: tuple[slice, ...] = (slice(None), slice(0, t + 1))
    if output_node_kind(built.block)[0] is Kind.MATRIX:
        past += (slice(0, t + 1),)
    if not np.allclose(raw2[past], built.raw[past], rtol=1e-5, atol=1e-5, equal_nan=True):
        found.append(f"leak: the op's own output at positions <= {t}")
    return found


@pytest.mark.parametrize("case", ALL_CASES, ids=ids(ALL_CASES))
def test_block_contract(case: Case) -> None:
    built = build(case)
    problems = [
        *shape_problems(built),
        *finiteness_problems(case, built),
        *parameter_problems(case, built),
        *(p for t in LEAK_POSITIONS for p in leaks(built, t, seed=100 + t)),
    ]
    assert problems == []


def test_leak_check_catches_a_leak() -> None:
    """The check above can fail: a block that reads the next position is caught."""

    class Peeking(ProbedBlock):
        def call(self, x: Any) -> Any:
            return super().call(tf.roll(x, shift=-1, axis=1))  # position t reads t + 1

    case = Case("TANH", "F")
    block = Peeking(case.dna(), UNIT, D_MODEL)
    x = probe_input()
    out = block(tf.constant(x)).numpy()
    assert leaks(Built(block, x, out, block.raw.numpy()), 3, seed=7)


# ---------------------------------------------------------------------------------------------
# The numbers: a NumPy oracle written from PRIMER.md section 2 and the ops.py docstring, not from
# the implementation. Covers every primitive on every input kind it accepts.


def tril(m: np.ndarray) -> np.ndarray:
    """Keys s > t zeroed (the causal mask)."""
    return m * np.tril(np.ones((T, T), dtype=m.dtype))


def key_reduce(fn: Callable[..., np.ndarray], m: np.ndarray) -> np.ndarray:
    """fn over the keys s <= t of each row t: (B, T, T) -> (B, T, 1)."""
    rows = [fn(m[:, t, : t + 1], axis=-1) for t in range(T)]
    return np.stack(rows, axis=1)[..., None]


def to_feature(v: np.ndarray, kind: str) -> np.ndarray:
    return key_reduce(np.mean, v) if kind == "M" else v


def causal_conv(x: np.ndarray, kernel: np.ndarray, depthwise: bool) -> np.ndarray:
    """out[t] = sum_j x[t - (k - 1) + j] . kernel[j], zeros before the start."""
    k = kernel.shape[0]
    padded = np.concatenate([np.zeros((B, k - 1, x.shape[-1]), x.dtype), x], axis=1)
    out = 0.0
    for j in range(k):
        window = padded[:, j : j + T]
        out = out + (window * kernel[j] if depthwise else window @ kernel[j])
    return out


def elementwise(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]):
    def apply(x: np.ndarray, y: np.ndarray, kinds: str, w: dict) -> np.ndarray:
        if "M" in kinds:  # a feature meets a matrix as its mean over the width
            x = x if kinds[0] == "M" else x.mean(-1, keepdims=True)
            y = y if kinds[1] == "M" else y.mean(-1, keepdims=True)
        return fn(x, y)

    return apply


def unary(fn: Callable[[np.ndarray], np.ndarray]):
    return lambda x, y, kinds, w: fn(x)


def reduction(fn: Callable[..., np.ndarray]):
    def apply(x, y, kinds, w):
        return key_reduce(fn, x) if kinds[0] == "M" else fn(x, axis=-1, keepdims=True)

    return apply


def mat_mul(x, y, kinds, w):
    if kinds[0] == "M":
        return tril(x) @ y
    return elementwise(np.multiply)(x, y, kinds, w)


def t_mat_mul(x, y, kinds, w):
    if kinds == "FF":
        return x @ np.swapaxes(y, -1, -2)
    if kinds == "MM":
        return tril(x) @ np.swapaxes(tril(y), -1, -2)
    return elementwise(np.multiply)(x, y, kinds, w)


def learned(fn: Callable[[np.ndarray, np.ndarray], np.ndarray]):
    return lambda x, y, kinds, w: fn(x, w["w"])  # w: (W,) on a feature, () on a matrix


def conv(depthwise: bool):
    return lambda x, y, kinds, w: causal_conv(to_feature(x, kinds[0]), w["kernel"], depthwise)


def cumulative(fn):
    return unary(lambda x: fn(x, axis=-2))  # along time (features) or query positions (matrices)


ORACLE: dict[str, Callable[..., np.ndarray]] = {
    "ADD": elementwise(np.add),
    "DIFFERENCE": elementwise(np.subtract),
    "DIVIDE": elementwise(lambda x, y: np.divide(x, np.where(y == 0, 1, y)) * (y != 0)),
    "MULTIPLY": elementwise(np.multiply),
    "ABS_ROOT": unary(lambda x: np.sqrt(np.abs(x))),
    "SQUARE": unary(np.square),
    "EXP": unary(np.exp),
    "LOG": unary(lambda x: np.log(np.abs(x))),
    "ABS": unary(np.abs),
    "RECIP": unary(lambda x: np.divide(1, np.where(x == 0, 1, x)) * (x != 0)),
    "SIGN": unary(np.sign),
    "COS": unary(np.cos),
    "SIN": unary(np.sin),
    "TANH": unary(np.tanh),
    "SIGMOID": unary(lambda x: 1 / (1 + np.exp(-x))),
    "C_MUL": unary(lambda x: x * CONSTANT),
    "MAX": unary(lambda x: np.maximum(x, CONSTANT)),
    "MIN": unary(lambda x: np.minimum(x, CONSTANT)),
    "SCALE": learned(lambda x, w: x * w),  # PRIMER.md: x * w (the paper's table swaps the names)
    "SHIFT": learned(lambda x, w: x + w),
    # band_part(x, -1, 0) on the last two axes: keys s > t on a matrix; channels c > t on a
    # feature (odd, but causal: position t keeps only its own values)
    "MASK": unary(lambda x: x * np.tril(np.ones(x.shape[-2:], dtype=x.dtype))),
    "CUM_PROD": cumulative(np.cumprod),
    "CUM_SUM": cumulative(np.cumsum),
    "RED_MEAN": reduction(np.mean),
    "RED_SUM": reduction(np.sum),
    "RED_MIN": reduction(np.min),
    "RED_MAX": reduction(np.max),
    "RED_PROD": reduction(np.prod),
    "MAT_MUL": mat_mul,
    "T_MAT_MUL": t_mat_mul,
    **{f"CONV_{k}X1": conv(depthwise=False) for k in (1, 3, 7, 15, 31)},
    **{f"DCONV_{k}X1": conv(depthwise=True) for k in (3, 7, 15, 31)},
}


def prefix_states(x: np.ndarray) -> dict[int, np.ndarray]:
    s = np.sin(x)
    return {F1: x, F2: s, M1: x @ np.swapaxes(s, -1, -2), M2: s @ np.swapaxes(x, -1, -2)}


def oracle_weights(block: ProgramBlock) -> dict[str, np.ndarray]:
    """The op's weights by name ("kernel", "w"), read back from the block (unscoped: one op)."""
    return {v.name.rsplit("_", 1)[-1]: v.numpy() for v in block.trainable_variables}


@pytest.mark.parametrize("case", UNSCOPED, ids=ids(UNSCOPED))
def test_matches_numpy_oracle(case: Case) -> None:
    assert case.op in ORACLE, f"add {case.op} to ORACLE: every primitive has an oracle"
    built = build(case)
    states = prefix_states(built.x.astype("float64"))
    a, b = case.inputs()
    kinds = case.kinds if len(case.kinds) == 2 else case.kinds * 2
    w = {k: v.astype("float64") for k, v in oracle_weights(built.block).items()}
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        expected = ORACLE[case.op](states[a], states[b], kinds, w)
    assert expected.shape == built.raw.shape
    np.testing.assert_allclose(built.raw, expected, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize(
    "op", [op for op in PRIMITIVES if REGISTRY[op].weighted], ids=lambda op: op
)
@pytest.mark.parametrize("branch", [2, 8])
def test_branched_call_is_independent_copies_concatenated(op: str, branch: int) -> None:
    """CALL with branch b == b unbranched copies with their own weights, each of width dim / b,
    concatenated branch-major on the last axis (PRIMER.md section 1; graph.py's vectorization)."""
    branched = build(Case(op, "F", (branch,)), unit=UNIT * branch)
    (weight,) = branched.block.trainable_variables  # (b, *op's weight shape)
    copy = ProbedBlock(Case(op, "F").dna(), UNIT, D_MODEL)  # same widths as one copy
    copy(tf.constant(branched.x))
    (copy_weight,) = copy.trainable_variables
    parts = []
    for j in range(branch):
        copy_weight.assign(weight[j])
        copy(tf.constant(branched.x))
        parts.append(copy.raw.numpy())
    np.testing.assert_allclose(branched.raw, np.concatenate(parts, -1), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# The width-mismatch rule of binary ops (ops.py docstring): input1 sets the width; a width-1
# input broadcasts; input2 is truncated or tiled to input1's width.


def width_program(*body: Instruction, dims: tuple[int, ...] = (2, 12)) -> DNA:
    return check_dna(DNA(subprograms=(Subprogram(instructions=body),), dims=dims))


def run_raw(dna: DNA, x: np.ndarray) -> tuple[ProbedBlock, np.ndarray, np.ndarray]:
    block = ProbedBlock(dna, UNIT, D_MODEL)
    out = block(tf.constant(x)).numpy()
    return block, out, block.raw.numpy()


def projection(block: ProgramBlock, x: np.ndarray) -> np.ndarray:
    """x @ the block's one CONV_1X1 kernel."""
    (kernel,) = block.trainable_variables
    return x @ kernel.numpy()[0]


# Dims bank (2, 12): dim 0 -> width 4 (narrower than d_model 16), dim 1 -> width 24 (wider).
NARROW = Instruction(op="CONV_1X1", input1=0, dim=0)
WIDE = Instruction(op="CONV_1X1", input1=0, dim=1)


def test_narrow_input2_is_tiled_to_input1() -> None:
    x = probe_input()
    block, _, raw = run_raw(width_program(NARROW, Instruction(op="ADD", input1=0, input2=2)), x)
    y = projection(block, x)  # (B, T, 4)
    np.testing.assert_allclose(raw, x + np.tile(y, 4), rtol=1e-5, atol=1e-6)


def test_wide_input2_is_truncated_to_input1() -> None:
    x = probe_input()
    block, _, raw = run_raw(width_program(WIDE, Instruction(op="ADD", input1=0, input2=2)), x)
    y = projection(block, x)  # (B, T, 24)
    np.testing.assert_allclose(raw, x + y[..., :16], rtol=1e-5, atol=1e-6)


def test_input1_sets_the_width() -> None:
    x = probe_input()
    narrow, out, raw = run_raw(width_program(NARROW, Instruction(op="ADD", input1=2, input2=0)), x)
    y = projection(narrow, x)
    np.testing.assert_allclose(raw, y + x[..., :4], rtol=1e-5, atol=1e-6)  # x truncated to 4
    # The block's output is fitted to d_model by the same rule: tiled.
    np.testing.assert_allclose(out, np.tile(raw, 4), rtol=1e-6)

    wide, _, raw = run_raw(width_program(WIDE, Instruction(op="ADD", input1=2, input2=0)), x)
    y = projection(wide, x)
    tiled = np.concatenate([x, x[..., :8]], axis=-1)  # x tiled to 24
    np.testing.assert_allclose(raw, y + tiled, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("order", ["feature-first", "width1-first"])
def test_width_one_broadcasts_either_way(order: str) -> None:
    x = probe_input()
    mean = Instruction(op="RED_MEAN", input1=0)
    sub = (
        Instruction(op="DIFFERENCE", input1=0, input2=2)
        if order == "feature-first"
        else Instruction(op="DIFFERENCE", input1=2, input2=0)
    )
    _, _, raw = run_raw(width_program(mean, sub), x)
    m = x.mean(-1, keepdims=True)
    expected = x - m if order == "feature-first" else m - x
    assert raw.shape == (B, T, D_MODEL)
    np.testing.assert_allclose(raw, expected, rtol=1e-5, atol=1e-6)


def test_matrix_output_becomes_its_causal_key_mean() -> None:
    x = probe_input()
    dna = width_program(Instruction(op="T_MAT_MUL", input1=0, input2=0))
    _, out, raw = run_raw(dna, x)
    scores = x @ np.swapaxes(x, -1, -2)
    np.testing.assert_allclose(raw, scores, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out, np.tile(key_reduce(np.mean, scores), D_MODEL), rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# The vocabulary itself.

# PRIMER.md section 2, row by row: the specification the registry must match.
PAPER_VOCABULARY: dict[str, list[str]] = {
    "binary": ["ADD", "DIFFERENCE", "DIVIDE", "MULTIPLY"],
    "unary": [
        *("ABS_ROOT", "SQUARE", "EXP", "LOG", "ABS", "RECIP"),
        *("SIGN", "COS", "SIN", "TANH", "SIGMOID"),
    ],
    "constant": ["C_MUL", "MAX", "MIN"],
    "learned": ["SCALE", "SHIFT"],
    "sequence": ["MASK", "CUM_PROD", "CUM_SUM"],
    "reduction": ["RED_MEAN", "RED_SUM", "RED_MIN", "RED_MAX", "RED_PROD"],
    "matrix": ["MAT_MUL", "T_MAT_MUL"],
    "weighted": [
        *("CONV_1X1", "CONV_3X1", "CONV_7X1", "CONV_15X1", "CONV_31X1"),
        *("DCONV_3X1", "DCONV_7X1", "DCONV_15X1", "DCONV_31X1"),
    ],
}


def test_registry_is_the_papers_39_primitives() -> None:
    """CALL is registered too, but it is not a primitive."""
    assert len(PRIMITIVES) == 39
    by_group = {group: sorted(ops) for group, ops in PAPER_VOCABULARY.items()}
    assert {
        group: sorted(op for op in PRIMITIVES if REGISTRY[op].group == group) for group in by_group
    } == by_group
    assert CALL in REGISTRY and CALL not in PRIMITIVES


@pytest.mark.parametrize("op", PRIMITIVES)
def test_registry_entry_is_consistent(op: str) -> None:
    spec = REGISTRY[op]
    assert spec.name == op
    assert spec.arity in (1, 2)
    assert ("input2" in spec.uses) == (spec.arity == 2)
    assert "input1" in spec.uses
    assert spec.apply is not None
    assert spec.meaning and spec.on_matrix
