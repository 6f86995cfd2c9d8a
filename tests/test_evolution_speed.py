"""The engine's fast paths compute exactly what the plain definitions compute (issue 4: the
engine costs well under 1 ms per candidate; benchmarks/engine_throughput.py measures it).

Checked over many programs (every seed and mutated copies of it): the hand-written JSON of the
canonical hash and its remembered node digests, the memoized shape and parameter passes of the
base-unit search, `mutate_with_hash`, the per-subprogram validation cache, and the identity
caches themselves."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter

import numpy as np
import pytest
from evolution_support import I, program

from primer_search.canonical import canonical_form, canonical_hash
from primer_search.dna import DEFAULT_LIMITS, DNA, Subprogram, validate_dna
from primer_search.evolution import EvolutionConfig, Outcome, ProposalKind, RegularizedEvolution
from primer_search.graph import (
    ENTER,
    EXIT,
    INPUT,
    Graph,
    Shapes,
    block_parameter_count,
    infer_shapes,
    lower,
    node_weights,
)
from primer_search.identity_cache import IdentityCache
from primer_search.mutation import MutationType, mutate, mutate_with_hash
from primer_search.ops import CALL, REGISTRY, Kind
from primer_search.seeds import load_seed, seed_names


@pytest.fixture(scope="module")
def programs() -> list[DNA]:
    rng = np.random.default_rng(0)
    found = []
    for name in seed_names():
        dna = load_seed(name)
        found.append(dna)
        for _ in range(60):
            dna, _record = mutate(dna, rng)
            found.append(dna)
    return found


def reference_hash(dna: DNA) -> str:
    """The canonical hash as defined: node digests are SHA-256 of json.dumps([op, input digests,
    *fields]) over the canonical form."""
    digests: list[str] = []
    for op, inputs, *fields in canonical_form(dna):
        text = json.dumps([op, [digests[p] for p in inputs], *fields], separators=(",", ":"))
        digests.append(hashlib.sha256(text.encode()).hexdigest())
    return digests[-1]


def reference_shapes(graph: Graph, base_unit: int, d_model: int) -> Shapes:
    """graph.infer_shapes as first written: no plan, no memo."""
    kinds: list[Kind] = []
    widths: list[int | None] = []
    dim_widths: list[int] = []
    for node in graph.nodes:
        dim_width = 0
        if node.op == INPUT:
            kind, width = Kind.FEATURE, d_model
        elif node.op == ENTER:
            kind, width = kinds[node.inputs[0]], widths[node.inputs[0]]
        elif node.op == EXIT:
            kind, inner = kinds[node.inputs[0]], widths[node.inputs[0]]
            width = None if kind is Kind.MATRIX else int(inner or 1) * node.branch
        else:
            spec = REGISTRY[node.op]
            if "dim" in spec.uses:
                dim_width = max(1, node.mult * base_unit // math.prod(node.scope))
            kind, width = spec.infer(
                tuple(kinds[p] for p in node.inputs),
                tuple(widths[p] for p in node.inputs),
                dim_width,
            )
        kinds.append(kind)
        widths.append(width)
        dim_widths.append(dim_width)
    return Shapes(tuple(kinds), tuple(widths), tuple(dim_widths))


def reference_count(graph: Graph, shapes: Shapes) -> int:
    return sum(
        math.prod(node.scope) * sum(math.prod(w.shape) for w in node_weights(graph, shapes, i))
        for i, node in enumerate(graph.nodes)
    )


def test_canonical_hash_is_the_json_definition(programs):
    for dna in programs:
        assert canonical_hash(dna) == reference_hash(dna)


def test_hash_text_is_compact_json():
    from primer_search.canonical import _node_text

    cases = [
        ("ADD", ["ab", "cd"], (2, 4), [8, 0], True),
        ("C_MUL", ["ab"], (), ["-1e-05"], False),
        ("C_MUL", ["ab"], (16,), ["inf"], False),
        ("EXIT", ["ab"], (), [4], False),
        ("INPUT", [], (), [], False),
    ]
    for op, inputs, scope, own, weighted in cases:
        values = [*own[:-1], f"w{own[-1]}"] if weighted else own
        expected = json.dumps([op, inputs, list(scope), *values], separators=(",", ":"))
        assert _node_text(op, inputs, scope, own, weighted) == expected


def test_mutate_with_hash_returns_the_childs_hash(programs):
    from primer_search import canonical

    rng = np.random.default_rng(1)
    for parent in programs[::3]:
        for _ in range(4):
            child, record, child_hash = mutate_with_hash(parent, rng)
            canonical._DIGESTS.clear()  # computed from nothing remembered
            assert child_hash == canonical_hash(child)
            assert record.same_graph == (child_hash == canonical_hash(parent))


def test_a_change_confined_to_dead_code_keeps_the_hash(programs):
    """_neutral (the light check's shortcut) never calls a change neutral that changes the hash,
    and each of its rules is taken: on the seeds' mutants and on the programs a search with a
    random fitness drifts to (a few live nodes; whole subprograms that no live call reaches)."""
    from primer_search.mutation import DRAWS, _neutral, _reached

    rng = np.random.default_rng(3)
    drifted = drift_to_dead_code(rng)
    assert any(not all(_reached(dna)) for dna in drifted)
    neutral: Counter[MutationType] = Counter()
    for parent in programs + drifted:
        parent_hash = canonical_hash(parent)
        for _ in range(3):
            for kind, draw in DRAWS.items():
                draft = draw(parent, rng, DEFAULT_LIMITS)
                if draft is not None and _neutral(parent, draft):
                    neutral[kind] += 1
                    child, record = draft.build()
                    assert canonical_hash(child) == parent_hash, record
    assert all(neutral[kind] > 20 for kind in MutationType), neutral


def drift_to_dead_code(rng: np.random.Generator) -> list[DNA]:
    """Programs of a search whose fitness is random (hash-drawn, as in
    benchmarks/controller_overhead.py): they keep few live nodes among much dead code."""
    engine = RegularizedEvolution(
        load_seed("transformer"), EvolutionConfig(population_size=20, tournament_size=5, seed=5)
    )
    for _ in range(1500):
        proposal = engine.propose()
        assert proposal is not None
        if proposal.kind is ProposalKind.TRAIN:
            u = int(proposal.program_hash[:8], 16) / 16**8
            engine.report(proposal.id, Outcome(fitness=3.4 + 1.2 * u))
    return [engine.program(member.id) for member in engine.population]


def test_remembered_digests_tell_signed_zeros_apart():
    plus = program([I("C_MUL", 0, constant=0)])
    minus = plus.model_copy(update={"constants": (-0.0, 0.125)})
    first = canonical_hash(plus)  # remembered, then the same node with -0.0
    assert canonical_hash(minus) != first
    assert canonical_hash(plus.model_copy()) == first
    nan = plus.model_copy(update={"constants": (math.nan, 0.125)})
    assert canonical_hash(nan) == canonical_hash(nan.model_copy())  # read as its repr


def test_shapes_and_parameter_counts_match_the_plain_passes(programs):
    for dna in programs[::2]:
        graph = lower(dna)
        for unit in (1, 3, 7, 64, 1024):
            shapes = infer_shapes(graph, unit, 8 * unit)
            assert shapes == reference_shapes(graph, unit, 8 * unit)
            count = block_parameter_count(graph, shapes)
            assert count == reference_count(graph, shapes)
            # Asked again (as the base-unit search does), the same answer.
            assert infer_shapes(graph, unit, 8 * unit) == shapes
            assert block_parameter_count(graph, shapes) == count


def test_mutate_with_hash_is_mutate_and_the_childs_hash(programs):
    for k, dna in enumerate(programs[::7]):
        parent_hash = canonical_hash(dna)
        a = mutate(dna, np.random.default_rng(k))
        b = mutate_with_hash(dna, np.random.default_rng(k))
        c = mutate_with_hash(dna, np.random.default_rng(k), parent_hash=parent_hash)
        assert a == b[:2] == c[:2]
        assert b[2] == c[2] == canonical_hash(a[0])


def test_lowering_is_remembered_by_identity_only():
    dna = load_seed("primer")
    assert lower(dna) is lower(dna)
    twin = DNA.model_validate(dna.to_dict())
    assert twin == dna and lower(twin) == lower(dna)


def test_validation_cache_still_checks_a_subprogram_in_a_new_context():
    """A subprogram found valid is remembered with its context (index, bank sizes, number of
    subprograms); the same object somewhere it is not valid must still be reported."""
    caller = Subprogram(instructions=(I(CALL, 0, 0, callee=1), I("CONV_1X1", 2, dim=1)))
    callee = Subprogram(instructions=(I("ADD", 0, 1),))
    dna = DNA(subprograms=(caller, callee))
    assert validate_dna(dna) == []
    fewer_dims = dna.model_copy(update={"dims": (8,)})
    assert [i.field for i in validate_dna(fewer_dims)] == ["dim"]
    no_callee = DNA(subprograms=(caller,))
    assert [i.field for i in validate_dna(no_callee)] == ["callee"]
    moved = DNA(subprograms=(callee, caller, callee))  # caller at index 1 calls subprogram 1
    assert [i.field for i in validate_dna(moved)] == ["callee"]
    assert validate_dna(dna) == []


def test_identity_cache_keeps_the_newest_entries_by_identity():
    cache: IdentityCache[object, int] = IdentityCache(2)
    calls = []

    def compute(key: object) -> int:
        calls.append(key)
        return len(calls)

    a, b, c = [1], [1], [1]  # equal, not identical
    assert cache.get(a, compute) == 1 and cache.get(a, compute) == 1
    assert cache.get(b, compute) == 2, "an equal key is another key"
    assert cache.get(c, compute) == 3 and len(cache) == 2
    assert cache.peek(a) is None, "the oldest entry left"
    assert cache.peek(b) == 2 and cache.peek(c) == 3
