"""Analytic training FLOPs per token of a program's LM, read from its lowered graph.

Counted: the multiply-adds of the ops that contract (CONV_kX1, DCONV_kX1, MAT_MUL and T_MAT_MUL
when they are matrix products), over every branch copy, in every block, plus the tied softmax
projection d_model x vocab. Not counted: elementwise ops, reductions, normalization, the embedding
lookup (a gather): the usual approximation, where matmuls dominate. Attention products are counted
dense (T keys per query, as computed; the causal mask does not skip work). A training step costs
3x the forward pass (forward, then the gradients for inputs and for weights), and a multiply-add
is 2 FLOPs, so training FLOPs per token = 6 x forward multiply-adds per token.
"""

from __future__ import annotations

import math

from primer_search.config import ModelConfig
from primer_search.dna import DNA
from primer_search.graph import Graph, Shapes, infer_shapes, lower
from primer_search.ops import Kind, feature_width
from primer_search.sizing import Sizing

FLOPS_PER_MAC = 2
TRAINING_PASSES = 3  # forward + backward (two matmuls per forward matmul)


def node_macs_per_token(graph: Graph, shapes: Shapes, index: int, seq_len: int) -> int:
    """Multiply-adds node `index` spends per token (per query position), all branch copies."""
    node = graph.nodes[index]
    kinds = [shapes.kinds[p] for p in node.inputs]
    widths = [shapes.widths[p] for p in node.inputs]
    copies = math.prod(node.scope)
    if node.op.startswith("CONV_"):
        kernel = int(node.op[len("CONV_") : -len("X1")])
        return copies * kernel * feature_width(kinds[0], widths[0]) * shapes.dim_widths[index]
    if node.op.startswith("DCONV_"):
        kernel = int(node.op[len("DCONV_") : -len("X1")])
        return copies * kernel * feature_width(kinds[0], widths[0])
    if node.op == "MAT_MUL" and kinds[0] is Kind.MATRIX:
        # row t of the scores times a (T, W) feature or a (T, T) matrix
        inner = seq_len if kinds[1] is Kind.MATRIX else int(widths[1] or 1)
        return copies * seq_len * inner
    if node.op == "T_MAT_MUL" and kinds[0] is kinds[1]:
        # features: T scores of width W per query; matrices: T x T per row
        inner = int(widths[0] or 1) if kinds[0] is Kind.FEATURE else seq_len
        return copies * seq_len * inner
    return 0


def block_macs_per_token(graph: Graph, shapes: Shapes, seq_len: int) -> int:
    return sum(node_macs_per_token(graph, shapes, i, seq_len) for i in range(len(graph.nodes)))


def forward_macs_per_token(dna: DNA, config: ModelConfig, sizing: Sizing) -> int:
    """Forward multiply-adds per token of the whole LM: N blocks and the softmax projection."""
    graph = lower(dna)
    shapes = infer_shapes(graph, sizing.base_unit, sizing.d_model)
    blocks = config.num_layers * block_macs_per_token(graph, shapes, config.seq_len)
    return blocks + sizing.d_model * config.vocab_size


def training_flops_per_token(dna: DNA, config: ModelConfig, sizing: Sizing) -> int:
    return TRAINING_PASSES * FLOPS_PER_MAC * forward_macs_per_token(dna, config, sizing)
