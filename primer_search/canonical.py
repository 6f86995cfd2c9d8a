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
import re
from typing import Any

from primer_search.dna import DNA
from primer_search.graph import ENTER, EXIT, INPUT, Graph, lower, op_reads


def canonical_form(dna: DNA) -> list[list[Any]]:
    """The graph as a list of nodes in canonical post-order; inputs refer to earlier positions."""
    form: list[list[Any]] = []
    _walk(lower(dna), form)
    return form


def canonical_hash(dna: DNA) -> str:
    """Hex SHA-256 of the canonical form."""
    return _walk(lower(dna), None)


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
        if digest is None:
            text = _node_text(op, inputs, node.scope, own, weighted)
            digest = hashlib.sha256(text.encode()).hexdigest()
            if len(memo) >= _MAX_DIGESTS:
                memo.clear()
            memo[key] = digest
        if form is not None:
            if weighted:
                own[-1] = f"w{own[-1]}"
            position[index] = len(form)
            form.append([op, [position[p] for p in node.inputs], list(node.scope), *own])
        digests[index] = digest
    return digests[graph.output]


def _post_order(graph: Graph) -> list[int]:
    """The nodes the output reads, in post-order from the output: inputs in order, then the
    node (the graph is a DAG, so a node is never met again while its inputs are walked)."""
    nodes = graph.nodes
    seen = [False] * len(nodes)
    order: list[int] = []
    stack: list[int] = [graph.output]  # an index, or ~index once its inputs are on the stack
    push, pop, emit = stack.append, stack.pop, order.append
    while stack:
        index = pop()
        if index < 0:
            emit(~index)
            continue
        if seen[index]:
            continue
        seen[index] = True
        push(~index)
        inputs = nodes[index][1]
        if len(inputs) == 1:
            if not seen[inputs[0]]:
                push(inputs[0])
        else:  # the first input on top, so walked first
            for p in reversed(inputs):
                if not seen[p]:
                    push(p)
    return order


def _own_fields(op: str) -> tuple[bool, bool, bool, bool]:
    """What an op's digest reads besides its inputs and scope: (constant, dim, weight serial,
    branch)."""
    if not _PLAIN.fullmatch(op):  # never: registry names are plain (_node_text relies on it)
        raise ValueError(f"op name {op!r} needs a JSON escape")
    if op in (ENTER, EXIT):
        return False, False, False, True
    if op == INPUT:
        return False, False, False, False
    reads = op_reads(op)
    return reads.constant, reads.dim, reads.weighted, False


_OWN_FIELDS: dict[str, tuple[bool, bool, bool, bool]] = {}
# Strings that json.dumps writes unchanged between quotes.
_PLAIN = re.compile(r"[A-Za-z0-9_.+\-]*")


def _node_text(
    op: str, inputs: list[str], scope: tuple[int, ...], own: list[Any], weighted: bool
) -> str:
    """`json.dumps([op, inputs, list(scope), *own], separators=(",", ":"))`, own's last value
    written "w<n>" when the node is weighted, by hand (json.dumps was most of the cost of a
    hash), for the values a lowered graph holds: an op name (checked plain once per op by
    _own_fields), hex digests, ints, and float reprs (digits, ".", "e", "+", "-", "inf", "nan":
    no JSON escape either). tests/test_evolution_speed.py checks the hash against its
    json.dumps definition."""
    text = '["' + op + ('",["' + '","'.join(inputs) + '"],[' if inputs else '",[],[')
    text += ",".join(map(str, scope)) + "]"
    last = len(own) - 1
    for i, value in enumerate(own):
        if type(value) is str:
            text += ',"' + value + '"'
        elif weighted and i == last:
            text += ',"w' + str(value) + '"'
        else:
            text += "," + str(value)
    return text + "]"


# Node digests by the node's op, scope, input digests and own fields (a tuple, cheap to hash:
# strings cache their hash), cleared when full.
_DIGESTS: dict[tuple[Any, ...], str] = {}
_MAX_DIGESTS = 1 << 16
