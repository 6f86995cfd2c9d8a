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
from typing import Any

from primer_search.dna import DNA
from primer_search.graph import ENTER, EXIT, INPUT, Graph, lower
from primer_search.ops import REGISTRY


def canonical_form(dna: DNA) -> list[list[Any]]:
    """The graph as a list of nodes in canonical post-order; inputs refer to earlier positions."""
    return _canonical(lower(dna))[0]


def canonical_hash(dna: DNA) -> str:
    """Hex SHA-256 of the canonical form."""
    return _canonical(lower(dna))[1]


def _canonical(graph: Graph) -> tuple[list[list[Any]], str]:
    position: dict[int, int] = {}
    digests: dict[int, str] = {}
    form: list[list[Any]] = []
    serial = 0
    stack: list[tuple[int, bool]] = [(graph.output, False)]
    while stack:  # iterative post-order walk: inputs in order, then the node
        index, expanded = stack.pop()
        if index in position:
            continue
        node = graph.nodes[index]
        if not expanded:
            stack.append((index, True))
            stack.extend((p, False) for p in reversed(node.inputs) if p not in position)
            continue
        entry: list[Any] = [node.op, [position[p] for p in node.inputs], list(node.scope)]
        if node.op in (ENTER, EXIT):
            entry.append(node.branch)
        elif node.op != INPUT:
            spec = REGISTRY[node.op]
            if "constant" in spec.uses:
                entry.append(repr(float(node.constant)))
            if "dim" in spec.uses:
                entry.append(node.mult)
            if spec.weighted:
                entry.append(f"w{serial}")
                serial += 1
        keyed = [entry[0], [digests[p] for p in node.inputs], *entry[2:]]
        digests[index] = _sha(keyed)
        position[index] = len(form)
        form.append(entry)
    return form, digests[graph.output]


def _sha(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, separators=(",", ":")).encode()).hexdigest()
