"""Canonical form and hash of a DNA: what it computes, not how it is written.

Two DNAs hash equal when their lowered graphs (graph.py: calls inlined, dead code dropped, bank
values substituted for bank indexes, fields an op ignores dropped) are the same up to the order of
independent instructions. Used for the paper's "mutate again if the child equals its parent"
check and for the fitness cache.

Weighted nodes are never merged: two CONV_1X1 of the same input are two projections with their
own weights (Q and K). Each weighted node gets a serial number in a post-order walk from the
output, which depends only on the graph's structure, not on instruction order.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from primer_search.dna import DNA
from primer_search.graph import ENTER, EXIT, INPUT, Graph, lower
from primer_search.ops import REGISTRY


def canonical_form(dna: DNA) -> list[list[Any]]:
    """The graph as a list of nodes in canonical post-order; inputs refer to earlier positions."""
    form: list[list[Any]] = []
    _walk(lower(dna), form)
    return form


def canonical_hash(dna: DNA) -> str:
    """Hex SHA-256 of the canonical form."""
    return _walk(lower(dna), None)


def same_graph(a: Graph, b: Graph) -> bool:
    """Whether two graphs are equal node for node, in the same order (where each node came from
    aside): a quick sufficient condition for equal canonical hashes, since the hash reads
    nothing else. False does not mean the hashes differ (independent nodes may be ordered
    differently). Constants are compared as the hash reads them, by repr: 0.0 is not -0.0."""
    if a.output != b.output or len(a.nodes) != len(b.nodes):
        return False
    for x, y in zip(a.nodes, b.nodes, strict=True):
        if (
            x.op != y.op
            or x.inputs != y.inputs
            or x.scope != y.scope
            or x.mult != y.mult
            or x.branch != y.branch
            or x.constant != y.constant
            or (x.constant == 0.0 and repr(x.constant) != repr(y.constant))
        ):
            return False
    return True


def _walk(graph: Graph, form: list[list[Any]] | None) -> str:
    """The digest of the output node; with `form`, also append every node's canonical entry.

    A node's digest is the SHA-256 of the JSON list [op, input digests, scope, *own fields],
    own fields being the branch (ENTER, EXIT) or the bank value the op reads, its dims-bank
    multiplier and its weight serial. Serial numbers follow an iterative post-order walk from
    the output: inputs in order, then the node."""
    nodes = graph.nodes
    digests: list[str] = [""] * len(nodes)
    position: dict[int, int] = {}
    serial = 0
    memo, own_fields = _DIGESTS, _OWN_FIELDS
    for index in _post_order(graph):
        node = nodes[index]
        op = node.op
        reads = own_fields.get(op)
        if reads is None:
            reads = own_fields[op] = _own_fields(op)
        uses_constant, uses_dim, weighted, branched = reads
        own: list[Any] = []  # the fields after the scope, as the JSON text writes them
        if branched:
            own.append(node.branch)
        if uses_constant:
            own.append(repr(float(node.constant)))
        if uses_dim:
            own.append(node.mult)
        if weighted:
            own.append(serial)  # written "w<serial>"
            serial += 1
        inputs = [digests[p] for p in node.inputs]
        # A child shares most nodes with its parent, inputs and serial included: their digests
        # are remembered by what they hash (the op fixes which fields follow its inputs), so
        # only the work is skipped, never the value changed.
        key = (op, node.scope, *inputs, *own)
        digest = memo.get(key)
        if digest is None or form is not None:
            if weighted:
                own[-1] = f"w{own[-1]}"
            rest = [list(node.scope), *own]
            if digest is None:
                digest = hashlib.sha256(_node_json(op, inputs, rest).encode()).hexdigest()
                if len(memo) >= _MAX_DIGESTS:
                    memo.clear()
                memo[key] = digest
            if form is not None:
                position[index] = len(form)
                form.append([op, [position[p] for p in node.inputs], *rest])
        digests[index] = digest
    return digests[graph.output]


def _post_order(graph: Graph) -> list[int]:
    """The nodes the output reads, in post-order from the output: inputs in order, then the
    node (the graph is a DAG, so a node is never met again while its inputs are walked)."""
    nodes = graph.nodes
    seen = [False] * len(nodes)
    order: list[int] = []
    stack: list[int] = [graph.output]  # an index, or ~index once its inputs are on the stack
    while stack:
        index = stack.pop()
        if index < 0:
            order.append(~index)
        elif not seen[index]:
            seen[index] = True
            stack.append(~index)
            inputs = nodes[index].inputs
            if len(inputs) == 1:
                if not seen[inputs[0]]:
                    stack.append(inputs[0])
            else:
                stack.extend(p for p in reversed(inputs) if not seen[p])
    return order


def _own_fields(op: str) -> tuple[bool, bool, bool, bool]:
    """What an op's digest reads besides its inputs and scope: (constant, dim, weight serial,
    branch)."""
    if op in (ENTER, EXIT):
        return False, False, False, True
    if op == INPUT:
        return False, False, False, False
    spec = REGISTRY[op]
    return "constant" in spec.uses, "dim" in spec.uses, spec.weighted, False


_OWN_FIELDS: dict[str, tuple[bool, bool, bool, bool]] = {}


def _node_json(op: str, inputs: list[str], rest: list[Any]) -> str:
    """`json.dumps([op, inputs, *rest], separators=(",", ":"))`, the text a node's digest hashes.

    Written out by hand because json.dumps was most of the cost of a hash (the engine hashes
    every child). The text is the same for the values a node holds: strings that need no JSON
    escape (op names, float reprs, "w3", hex digests), ints and lists of ints; any other value
    goes through json.dumps. tests/test_evolution_speed.py checks the two agree over many
    programs, and tests/test_canonical.py pins a golden hash."""
    text = "[" + _json(op) + (',["' + '","'.join(inputs) + '"]' if inputs else ",[]")
    for value in rest:
        text += "," + _json(value)
    return text + "]"


# Strings that json.dumps writes unchanged between quotes.
_PLAIN = re.compile(r"[A-Za-z0-9_.+\-]*")


def _json(value: Any) -> str:
    kind = type(value)
    if kind is str:
        if value in _PLAIN_SEEN or _PLAIN.fullmatch(value):
            if len(_PLAIN_SEEN) < 4096:
                _PLAIN_SEEN.add(value)
            return '"' + value + '"'
    elif kind is int:
        return repr(value)
    elif kind is list:
        if not value:
            return "[]"
        if all(type(v) is int for v in value):
            return "[" + ",".join(map(repr, value)) + "]"
    return json.dumps(value, separators=(",", ":"))


# Node digests by the node's op, scope, input digests and own fields (a tuple, cheap to hash:
# strings cache their hash), cleared when full.
_DIGESTS: dict[tuple[Any, ...], str] = {}
_MAX_DIGESTS = 1 << 16

_PLAIN_SEEN: set[str] = set()  # op names and serials: skips the regex for the common strings
