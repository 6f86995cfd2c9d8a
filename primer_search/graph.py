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
from dataclasses import dataclass

from primer_search.dna import DNA, MAIN, live_instructions
from primer_search.ops import CALL, REGISTRY, Kind, WeightSpec, feature_width

INPUT, ENTER, EXIT = "INPUT", "ENTER", "EXIT"


@dataclass(frozen=True)
class Node:
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
    """Inline every live call of a valid DNA into one graph."""
    nodes: list[Node] = [Node(INPUT, ())]

    def add(node: Node) -> int:
        nodes.append(node)
        return len(nodes) - 1

    def expand(s: int, inputs: tuple[int, int], scope: tuple[int, ...]) -> int:
        sub = dna.subprograms[s]
        live = live_instructions(sub)
        states: list[int] = list(inputs)
        for i, inst in enumerate(sub.instructions):
            if not live[i]:
                states.append(-1)
                continue
            a, b = states[inst.input1], states[inst.input2]
            if inst.op == CALL and inst.branch == 1:
                out = expand(inst.callee, (a, b), scope)
            elif inst.op == CALL:
                inner = (inst.branch, *scope)
                ea = add(Node(ENTER, (a,), inner, branch=inst.branch, origin=(s, i)))
                eb = ea if b == a else add(Node(ENTER, (b,), inner, branch=inst.branch))
                result = expand(inst.callee, (ea, eb), inner)
                out = add(Node(EXIT, (result,), scope, branch=inst.branch, origin=(s, i)))
            else:
                spec = REGISTRY[inst.op]
                out = add(
                    Node(
                        inst.op,
                        (a, b) if spec.arity == 2 else (a,),
                        scope,
                        constant=dna.constants[inst.constant] if "constant" in spec.uses else 0.0,
                        mult=dna.dims[inst.dim] if "dim" in spec.uses else 0,
                        origin=(s, i),
                    )
                )
            states.append(out)
        return states[-1]

    output = expand(MAIN, (0, 0), ())
    return _prune(nodes, output)


def _prune(nodes: list[Node], output: int) -> Graph:
    """Drop nodes the output does not read (an ENTER of an input the callee ignores)."""
    needed = [False] * len(nodes)
    needed[0] = needed[output] = True
    for index in range(output, -1, -1):
        if needed[index]:
            for parent in nodes[index].inputs:
                needed[parent] = True
    new_index: dict[int, int] = {}
    kept: list[Node] = []
    for index, node in enumerate(nodes):
        if needed[index]:
            new_index[index] = len(kept)
            kept.append(
                Node(
                    node.op,
                    tuple(new_index[p] for p in node.inputs),
                    node.scope,
                    node.constant,
                    node.mult,
                    node.branch,
                    node.origin,
                )
            )
    return Graph(tuple(kept), new_index[output])


def infer_shapes(graph: Graph, base_unit: int, d_model: int) -> Shapes:
    """Kind and width of every node for a block of width `d_model` and a base unit."""
    kinds: list[Kind] = []
    widths: list[int | None] = []
    dim_widths: list[int] = []
    for node in graph.nodes:
        dim_width = 0
        width: int | None
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
    total = 0
    for index, node in enumerate(graph.nodes):
        copies = math.prod(node.scope)
        total += copies * sum(math.prod(w.shape) for w in node_weights(graph, shapes, index))
    return total


def output_width(shapes: Shapes, graph: Graph) -> int:
    """Width of the program's own output before it is fitted to d_model."""
    return feature_width(shapes.kinds[graph.output], shapes.widths[graph.output])
