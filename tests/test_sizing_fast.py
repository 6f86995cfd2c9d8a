"""The base unit read off the block's parameter formula (sizing.BlockParameterFormula) against
the recount it replaces (sizing.fit_base_unit_exact): the same Sizing, or the same error, for
the seeds and hundreds of mutated programs under both presets, and the same block count at every
base unit for every op of the registry (issue 4: the static gate sizes every child)."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
from evolution_support import I, program

from primer_search import sizing
from primer_search.config import PRESETS, ModelConfig
from primer_search.dna import DNA
from primer_search.errors import ParameterBudgetError
from primer_search.graph import Graph, block_parameter_count, infer_shapes, lower
from primer_search.mutation import mutate
from primer_search.ops import CALL, PRIMITIVES, REGISTRY, Kind
from primer_search.seeds import load_seed, seed_names
from primer_search.sizing import (
    BlockParameterFormula,
    Sizing,
    UntraceableOp,
    fit_base_unit,
    fit_base_unit_exact,
)

# Every segment boundary of a valid program lies below 2 * 64 (a form is 1 below ceil(2c / m),
# and copies c are at most the branch product limit, 64): all of these, then a sample above.
BASE_UNITS = (*range(1, 140), 160, 199, 256, 333, 512, 777, 1000, 1024)


@functools.cache
def mutated_programs() -> list[DNA]:
    """Each seed, and a walk of sixty mutations from it: 305 programs."""
    found = []
    for k, name in enumerate(seed_names()):
        rng = np.random.default_rng(k)
        child = load_seed(name)
        found.append(child)
        for _ in range(60):
            child, _record = mutate(child, rng)
            found.append(child)
    return found


def outcome(fit, dna: DNA, config: ModelConfig) -> Sizing | str:
    try:
        return fit(dna, config)
    except ParameterBudgetError as exc:
        return str(exc)


def recount(graph: Graph, base_unit: int, model_multiplier: int = 8) -> int:
    return block_parameter_count(
        graph, infer_shapes(graph, base_unit, model_multiplier * base_unit)
    )


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_fit_base_unit_equals_the_recount_on_seeds_and_mutants(preset):
    config = PRESETS[preset]
    for dna in mutated_programs():
        assert outcome(fit_base_unit, dna, config) == outcome(fit_base_unit_exact, dna, config)


def test_the_formula_equals_the_recount_at_every_base_unit_of_mutants():
    rounded = 0
    for dna in mutated_programs()[::4]:
        graph = lower(dna)
        formula = BlockParameterFormula(graph, 8)
        for unit in BASE_UNITS:
            assert formula(unit) == recount(graph, unit), (dna.to_json(), unit)
        # Branches that divide a width unevenly: the formula's floors are exercised.
        rounded += any(c > 1 for s in formula.segments for _, a in s.terms for _, c in a)
    assert rounded >= 3


def op_program(op: str, inputs: str, branches: tuple[int, ...]) -> DNA:
    """`op` on inputs of the given kinds and widths, inside calls of `branches`, its output read
    by a dense projection (so the op's output width counts too). In the innermost subprogram:

        state 0: x            d_model         ("D")
        state 2: CONV_1X1(x)  dims[0] = 1 unit, divided by the branches ("W")
        state 3: RED_MEAN(x)  width 1         ("1")
        state 4: T_MAT_MUL    a matrix        ("M")
    """
    states = {"D": 0, "W": 2, "1": 3, "M": 4}
    a, b = (states[k] for k in inputs) if len(inputs) == 2 else (states[inputs], 0)
    body = [
        I("CONV_1X1", 0, dim=0),
        I("RED_MEAN", 0),
        I("T_MAT_MUL", 0, 2),
        I(op, a, b, dim=1),
        I("CONV_1X1", 5, dim=0),
    ]
    calls = [[I(CALL, 0, 0, callee=k + 1, branch=branch)] for k, branch in enumerate(branches)]
    return DNA(subprograms=program(*calls, body).subprograms, dims=(1, 12))


@pytest.mark.parametrize("op", PRIMITIVES)
def test_the_formula_follows_every_op_of_the_registry(op):
    """Every input kind and width (d_model, a divided width, width 1, a matrix), unbranched and
    under branches of 4 and of 16 x 4 (widths divided by 64: several segments)."""
    kinds = ("D", "W", "1", "M")
    cases = [x + y for x in kinds for y in kinds] if REGISTRY[op].arity == 2 else kinds
    for inputs in cases:
        for branches in ((), (4,), (16, 4)):
            graph = lower(op_program(op, inputs, branches))
            formula = BlockParameterFormula(graph, 8)
            for unit in BASE_UNITS:
                assert formula(unit) == recount(graph, unit), (op, inputs, branches, unit)
            if branches == (16, 4) and inputs[0] == "W":
                assert len(formula.segments) > 1  # the width is 1 below u = 128, then not


def test_an_uneven_branch_is_sized_as_the_recount_sizes_it():
    """A projection from 1 unit to 12 units, split 16 ways (u // 16 to 12u // 16): rounding, and
    a width of 1 below u = 32, around the tiny preset's base unit."""
    dna = op_program("CONV_1X1", "W", (16,))
    for config in PRESETS.values():
        assert fit_base_unit(dna, config) == fit_base_unit_exact(dna, config)


def halving(kinds, widths, d):
    return Kind.FEATURE, max(1, d // 2)


def wider(kinds, widths, d):
    return Kind.FEATURE, max(int(w or 1) for w in widths)


@pytest.mark.parametrize(
    ("op", "infer", "body"),
    [
        # One form only (8 units in, 8 units out, then scaled): nothing to tell the rule from a
        # constant but the value it computes.
        ("CONV_1X1", halving, [I("CONV_1X1", 0, dim=0), I("SCALE", 2)]),
        ("ADD", wider, [I("CONV_1X1", 0, dim=1), I("ADD", 2, 0), I("CONV_1X1", 3, dim=0)]),
    ],
)
def test_a_rule_the_formula_cannot_follow_falls_back_to_the_recount(monkeypatch, op, infer, body):
    """A shape rule that computes a width, or orders two, is caught: sizing recounts."""
    monkeypatch.setitem(REGISTRY, op, dataclasses.replace(REGISTRY[op], infer=infer))
    monkeypatch.setattr(sizing, "_TRACED", {})  # forget what the real rules gave
    dna = program(body)
    with pytest.raises(UntraceableOp):
        BlockParameterFormula(lower(dna), 8)(20)
    config = PRESETS["tiny"]
    assert fit_base_unit(dna, config) == fit_base_unit_exact(dna, config)
