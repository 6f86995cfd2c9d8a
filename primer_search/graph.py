"""Lowering a DNA to a flat graph of primitive nodes: calls inlined, dead code dropped.

The compiler, the analytic parameter count and the canonical hash all read this graph, so they
agree by construction on what a program computes.

Branched calls (PRIMER.md section 1): a CALL with branch b runs the callee b times with
independent weights, widths divided by b, outputs concatenated. We vectorize the copies instead
of building b subgraphs: ENTER adds a leading axis of size b to the callee's inputs, every node
inside carries that axis in its `scope` (weights get a leading b axis too), and EXIT folds it back
(features concatenated on the last axis, branch-major like multi-head attention; matrices
averaged). Nested branches stack their axes, innermost first. Branching a primitive would be the
same function as not branching it (b independent projections of width d/b concatenated are one
projection of width d), so `branch` is read on CALL only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from primer_search.dna import DNA, MAIN, NUM_INPUTS, Subprogram, live_instructions
from primer_search.identity_cache import IdentityCache
from primer_search.ops import CALL, REGISTRY, Kind, WeightSpec, feature_width

INPUT, ENTER, EXIT = "INPUT", "ENTER", "EXIT"


class Node(NamedTuple):
    """One node of a lowered graph. A named tuple, not a frozen dataclass: a lowering builds
    tens of nodes and the engine lowers every child, and a tuple is the cheapest to build."""

    op: str  # a primitive, or INPUT / ENTER / EXIT
    inputs: tuple[int, ...]
    scope: tuple[int, ...] = ()  # leading branch axes of this node's tensor, innermost first
    constant: float = 0.0  # the bank value, for ops that read `constant`
    mult: int = 0  # the relative width from the dims bank, for ops that read `dim`
    branch: int = 1  # for ENTER / EXIT
    origin: tuple[int, int] | None = None  # (subprogram, instruction) it came from


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]  # topologically ordered; node 0 is the block input
    output: int


@dataclass(frozen=True)
class Shapes:
    kinds: tuple[Kind, ...]
    widths: tuple[int | None, ...]  # None for matrices (their width is the sequence length)
    dim_widths: tuple[int, ...]  # the real width each node's `dim` resolves to (0 if unused)


def lower(dna: DNA) -> Graph:
    """Inline every live call of a valid DNA into one graph.

    A DNA and a Graph are immutable, so the last few lowerings are remembered by identity: the
    engine hashes a child (canonical.py) and then sizes it (the static gate), and the second
    lowering of the same object is free."""
    return _LOWERED.get(dna, _lower)


def _lower(dna: DNA) -> Graph:
    lowering = _Lowering(dna)
    output = lowering.expand(MAIN, (0, 0), ())
    return _prune(lowering.nodes, output)


class _Lowering:
    """One lowering in progress. A class, not a recursive closure: a closure that calls itself
    is a reference cycle, which kept each lowering's nodes alive until the garbage collector ran
    (a quarter of the engine's time went to collecting them)."""

    def __init__(self, dna: DNA):
        # Nodes are built as plain tuples (the fields of Node, in order) and made Nodes once, in
        # _prune: constructing a frozen dataclass is the costliest step of a lowering.
        self.nodes: list[_RawNode] = [(INPUT, (), (), 0.0, 0, 1, None)]
        self.dna = dna
        self.steps: dict[int, tuple[_LiveStep, ...]] = {}

    def expand(self, s: int, inputs: tuple[int, int], scope: tuple[int, ...]) -> int:
        nodes, dna = self.nodes, self.dna
        constants, dims = dna.constants, dna.dims
        steps = self.steps.get(s)
        if steps is None:
            steps = self.steps[s] = _steps_of(dna.subprograms[s], s)
        # State k of the subprogram is the node states[k] (-1: a dead instruction's).
        states = [*inputs, *[-1] * (steps[-1][0] + 1 - len(inputs))]
        for state, origin, op, input1, input2, kind, constant, dim, callee, branch in steps:
            a = states[input1]
            if kind == _CALL_STEP:
                b = states[input2]
                if branch == 1:
                    states[state] = self.expand(callee, (a, b), scope)
                    continue
                inner = (branch, *scope)
                nodes.append((ENTER, (a,), inner, 0.0, 0, branch, origin))
                ea = eb = len(nodes) - 1
                if b != a:
                    nodes.append((ENTER, (b,), inner, 0.0, 0, branch, None))
                    eb = ea + 1
                result = self.expand(callee, (ea, eb), inner)
                nodes.append((EXIT, (result,), scope, 0.0, 0, branch, origin))
            else:
                nodes.append(
                    (
                        op,
                        (a, states[input2]) if kind == _BINARY_STEP else (a,),
                        scope,
                        constants[constant] if constant >= 0 else 0.0,
                        dims[dim] if dim >= 0 else 0,
                        1,
                        origin,
                    )
                )
            states[state] = len(nodes) - 1
        return states[-1]


# What the lowering reads of one live instruction: (the state it makes, its origin (subprogram,
# position), op, input1, input2, kind, the constants-bank index it reads or -1, the dims-bank
# index it reads or -1, callee, branch).
_LiveStep = tuple[int, tuple[int, int], str, int, int, int, int, int, int, int]
_CALL_STEP, _UNARY_STEP, _BINARY_STEP = 0, 1, 2


def _steps_of(sub: Subprogram, s: int) -> tuple[_LiveStep, ...]:
    """The live instructions of `sub`, subprogram s of its DNA, as the lowering reads them,
    remembered per subprogram: a child shares every subprogram its mutation left alone with its
    parent, so the fields of its instructions and the needs of their ops are read once, and the
    nodes share one origin tuple per instruction (fewer objects for the garbage collector)."""
    known = _STEPS.peek(sub)
    if known is None or known[0] != s:  # new, or the same object at another index
        known = (s, _read_steps(sub, s))
        _STEPS.put(sub, known)
    return known[1]


def _read_steps(sub: Subprogram, s: int) -> tuple[_LiveStep, ...]:
    steps: list[_LiveStep] = []
    for i, (inst, live) in enumerate(zip(sub.instructions, live_of(sub), strict=True)):
        if not live:
            continue
        op = inst.op
        if op == CALL:
            kind, constant, dim, callee, branch = _CALL_STEP, -1, -1, inst.callee, inst.branch
        else:
            binary, uses_constant, uses_dim, _weighted = op_reads(op)
            kind = _BINARY_STEP if binary else _UNARY_STEP
            constant = inst.constant if uses_constant else -1
            dim = inst.dim if uses_dim else -1
            callee, branch = 0, 1
        steps.append(
            (
                i + NUM_INPUTS,
                (s, i),
                op,
                inst.input1,
                inst.input2,
                kind,
                constant,
                dim,
                callee,
                branch,
            )
        )
    return tuple(steps)


class OpReads(NamedTuple):
    """What a primitive reads of its instruction, and whether it owns weights."""

    binary: bool  # reads input2
    constant: bool
    dim: bool
    weighted: bool


def op_reads(op: str) -> OpReads:
    """OpReads of a primitive, from the registry, remembered (the lowering, the canonical hash
    and the mutator ask for every instruction they read)."""
    reads = _READS.get(op)
    if reads is None:
        spec = REGISTRY[op]
        uses = spec.uses
        reads = _READS[op] = OpReads(
            spec.arity == 2, "constant" in uses, "dim" in uses, spec.weighted
        )
    return reads


_READS: dict[str, OpReads] = {}

# (op, inputs, scope, constant, mult, branch, origin): a Node's fields while a graph is built.
_RawNode = tuple[str, tuple[int, ...], tuple[int, ...], float, int, int, "tuple[int, int] | None"]


def _prune(nodes: list[_RawNode], output: int) -> Graph:
    """Drop nodes the output does not read (an ENTER of an input the callee ignores)."""
    needed = [False] * len(nodes)
    needed[0] = needed[output] = True
    for index in range(output, -1, -1):
        if needed[index]:
            for parent in nodes[index][1]:
                needed[parent] = True
    make = tuple.__new__
    if all(needed) and output == len(nodes) - 1:  # the common case: nothing to renumber
        return Graph(tuple([make(Node, raw) for raw in nodes]), output)
    new_index: dict[int, int] = {}
    kept: list[Node] = []
    for index, (op, inputs, scope, constant, mult, branch, origin) in enumerate(nodes):
        if needed[index]:
            new_index[index] = len(kept)
            inputs = tuple(new_index[p] for p in inputs)
            kept.append(make(Node, (op, inputs, scope, constant, mult, branch, origin)))
    return Graph(tuple(kept), new_index[output])


def infer_shapes(graph: Graph, base_unit: int, d_model: int) -> Shapes:
    """Kind and width of every node for a block of width `d_model` and a base unit."""
    plan = _plan(graph)
    shapes = plan.shapes.get((base_unit, d_model))
    if shapes is None:
        shapes = _infer_shapes(plan, base_unit, d_model)
        if len(plan.shapes) < _MEMO_PER_GRAPH:
            plan.shapes[(base_unit, d_model)] = shapes
    return shapes


def _infer_shapes(plan: _Plan, base_unit: int, d_model: int) -> Shapes:
    # sizing.BlockParameterFormula follows these rules for every base unit at once; change them
    # together (tests/test_sizing_fast.py compares the two).
    kinds: list[Kind] = []
    widths: list[int | None] = []
    dim_widths: list[int] = []
    for code, p0, p1, inputs, infer, mult, copies, branch in plan.steps:
        dim_width = 0
        width: int | None
        if code <= _BINARY:  # a primitive
            if mult is not None:  # the op reads `dim`
                dim_width = max(1, mult * base_unit // copies)
            if code == _UNARY:
                kind, width = infer((kinds[p0],), (widths[p0],), dim_width)
            else:
                kind, width = infer((kinds[p0], kinds[p1]), (widths[p0], widths[p1]), dim_width)
        elif code == _INPUT:
            kind, width = Kind.FEATURE, d_model
        elif code == _ENTER:
            kind, width = kinds[p0], widths[p0]
        elif code == _EXIT:
            kind, inner = kinds[p0], widths[p0]
            width = None if kind is Kind.MATRIX else int(inner or 1) * branch
        else:  # a primitive of another arity (none in the registry today)
            if mult is not None:
                dim_width = max(1, mult * base_unit // copies)
            kind, width = infer(
                tuple(kinds[p] for p in inputs), tuple(widths[p] for p in inputs), dim_width
            )
        kinds.append(kind)
        widths.append(width)
        dim_widths.append(dim_width)
    return Shapes(tuple(kinds), tuple(widths), tuple(dim_widths))


def node_weights(graph: Graph, shapes: Shapes, index: int) -> tuple[WeightSpec, ...]:
    """The weights node `index` owns, without its scope axes."""
    node = graph.nodes[index]
    spec = REGISTRY.get(node.op)
    if spec is None or not spec.weighted:
        return ()
    return spec.weights(
        tuple(shapes.kinds[p] for p in node.inputs),
        tuple(shapes.widths[p] for p in node.inputs),
        shapes.dim_widths[index],
    )


def block_parameter_count(graph: Graph, shapes: Shapes) -> int:
    """Analytic trainable-parameter count of one compiled block."""
    plan = _plan(graph)
    known = plan.counts.get(id(shapes))
    if known is not None and known[0] is shapes:
        return known[1]
    kinds, widths, dim_widths = shapes.kinds, shapes.widths, shapes.dim_widths
    total = 0
    for index, op, inputs, copies in plan.weighted:
        if len(inputs) == 1:  # every weighted op of the registry
            p = inputs[0]
            node_kinds: tuple[Kind, ...] = (kinds[p],)
            node_widths: tuple[int | None, ...] = (widths[p],)
            # Kind members are singletons: ids key the memo (hashing a str Enum runs Python).
            key: tuple[Any, ...] = (op, id(kinds[p]), widths[p], dim_widths[index])
        else:
            node_kinds = tuple(kinds[p] for p in inputs)
            node_widths = tuple(widths[p] for p in inputs)
            key = (op, tuple(map(id, node_kinds)), node_widths, dim_widths[index])
        count = _WEIGHT_COUNTS.get(key)
        if count is None:
            weights = REGISTRY[op].weights(node_kinds, node_widths, dim_widths[index])
            count = sum(math.prod(w.shape) for w in weights)
            if len(_WEIGHT_COUNTS) >= 1 << 16:
                _WEIGHT_COUNTS.clear()
            _WEIGHT_COUNTS[key] = count
        total += copies * count
    if len(plan.counts) < _MEMO_PER_GRAPH:
        plan.counts[id(shapes)] = (shapes, total)
    return total


# Parameters of one copy of a weighted node, a pure function of its op and what it reads,
# remembered because the base-unit search asks for the same few again and again.
_WEIGHT_COUNTS: dict[tuple[Any, ...], int] = {}


# ---------------------------------------------------------------------------------------------
# What the shape and parameter passes need of a graph, computed once per graph:
# fit_base_unit_exact (sizing.py) runs both passes for about fifteen base units of the same graph.

# Step codes: primitives of arity 1 and 2 first (the shape pass tests `code <= _BINARY`).
_UNARY, _BINARY, _INPUT, _ENTER, _EXIT, _OTHER_ARITY = 0, 1, 2, 3, 4, 5
_CODES = {INPUT: _INPUT, ENTER: _ENTER, EXIT: _EXIT}
_Infer = Callable[[tuple[Kind, ...], tuple[int | None, ...], int], tuple[Kind, int | None]]


def _no_infer(kinds: tuple[Kind, ...], widths: tuple[int | None, ...], d: int) -> Any:
    raise AssertionError("INPUT, ENTER and EXIT have their own shape rules")


@dataclass(frozen=True)
class _Plan:
    # Per node: (code, first input, second input (-1 if none), inputs, the op's infer, the
    # dims-bank multiplier if it reads `dim` else None, copies = prod(scope), branch).
    steps: tuple[_Step, ...]
    # Per weighted node: (index, op, inputs, copies).
    weighted: tuple[tuple[int, str, tuple[int, ...], int], ...]
    # What was computed for this graph: fit_base_unit_exact asks for some base units twice.
    shapes: dict[tuple[int, int], Shapes] = field(default_factory=dict)  # (base_unit, d_model)
    counts: dict[int, tuple[Shapes, int]] = field(default_factory=dict)  # id(shapes)


_Step = tuple[int, int, int, tuple[int, ...], _Infer, "int | None", int, int]
_MEMO_PER_GRAPH = 32


def _plan(graph: Graph) -> _Plan:
    return _PLANS.get(graph, _make_plan)


def _make_plan(graph: Graph) -> _Plan:
    steps: list[_Step] = []
    weighted: list[tuple[int, str, tuple[int, ...], int]] = []
    for index, node in enumerate(graph.nodes):
        copies = math.prod(node.scope)
        inputs = node.inputs
        p0 = inputs[0] if inputs else -1
        p1 = inputs[1] if len(inputs) > 1 else -1
        code = _CODES.get(node.op)
        if code is not None:
            steps.append((code, p0, p1, inputs, _no_infer, None, copies, node.branch))
            continue
        spec = REGISTRY[node.op]
        code = {1: _UNARY, 2: _BINARY}.get(len(inputs), _OTHER_ARITY)
        mult = node.mult if "dim" in spec.uses else None
        steps.append((code, p0, p1, inputs, spec.infer, mult, copies, node.branch))
        if spec.weighted:
            weighted.append((index, node.op, node.inputs, copies))
    return _Plan(tuple(steps), tuple(weighted))


def live_of(sub: Subprogram) -> list[bool]:
    """dna.live_instructions(sub), remembered (do not modify the list)."""
    return _LIVE.get(sub, live_instructions)


# A lowering is asked for again within a few calls (the engine hashes a child, then its gate
# sizes it; a caller may then compile it), never a population later: few graphs are kept, so
# that each dies young. A graph is some hundred objects the garbage collector tracks (its Nodes
# are named tuples, which it never untracks); kept for hundreds of children, they were most of
# what each collection walked.
_LOWERED: IdentityCache[DNA, Graph] = IdentityCache(4)
_LIVE: IdentityCache[Subprogram, list[bool]] = IdentityCache(1024)
_STEPS: IdentityCache[Subprogram, tuple[int, tuple[_LiveStep, ...]]] = IdentityCache(1024)
_PLANS: IdentityCache[Graph, _Plan] = IdentityCache(4)


def output_width(shapes: Shapes, graph: Graph) -> int:
    """Width of the program's own output before it is fitted to d_model."""
    return feature_width(shapes.kinds[graph.output], shapes.widths[graph.output])
