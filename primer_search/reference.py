"""A hand-written Keras decoder of the same shape as the compiled `transformer` seed.

It exists to check the compiler (issue 2): with the compiled block's weights copied in, it must
compute the same function, and it is the baseline of benchmarks/compiled_vs_keras.py.

The block is the seed's (PRIMER.md section 3): pre-norm, causal multi-head attention without
biases (keras.layers.MultiHeadAttention, 8 heads), its output projection, residual; pre-norm ReLU
FFN with biases, residual. Two caveats, both irrelevant to cost:

* MultiHeadAttention scales Q by 1/sqrt(head width); the seed multiplies by its constant 0.125.
  They agree for a head width of 64 (base unit 64, the paper preset), which the equality test uses.
* The seed's z-score has no epsilon; LayerNormalization gets a negligible one (NORM_EPSILON).

`ReferenceLM` is DecoderLM (primer_search.model) with `ReferenceBlock`s in place of the compiled
blocks, so the two share every line of the scaffold; tests/test_seeds.py pins that they give the
same logits.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from primer_search.compiler import ProgramBlock
from primer_search.config import ModelConfig
from primer_search.dna import DNA
from primer_search.errors import PrimerSearchError
from primer_search.model import DecoderLM
from primer_search.seeds import load_seed
from primer_search.sizing import Sizing

NUM_HEADS = 8
NORM_EPSILON = 1e-12  # the seed's z-score has none; this one is far below float32 resolution
FFN_MULTIPLIER = 32  # the seed's d_ff in base units (dims bank [8, 32])

# The weight-bearing nodes of the compiled `transformer` seed, in graph order (graph.lower
# inlines calls in instruction order): norm 1, Q, K, V, output projection, norm 2, FFN.
_SEED_WEIGHT_OPS = (
    "SCALE",
    "SHIFT",
    "CONV_1X1",
    "CONV_1X1",
    "CONV_1X1",
    "CONV_1X1",
    "SCALE",
    "SHIFT",
    "CONV_1X1",
    "SHIFT",
    "CONV_1X1",
    "SHIFT",
)


class ReferenceBlock(keras.layers.Layer):
    """(B, T, d_model) -> (B, T, d_model): the Transformer seed's block in Keras layers."""

    def __init__(self, d_model: int, d_ff: int, num_heads: int = NUM_HEADS, **kwargs: Any):
        super().__init__(**kwargs)
        if d_model % num_heads:
            raise PrimerSearchError(f"d_model {d_model} is not a multiple of {num_heads} heads")
        self.d_model = d_model
        self.attention_norm = keras.layers.LayerNormalization(epsilon=NORM_EPSILON)
        self.attention = keras.layers.MultiHeadAttention(
            num_heads=num_heads, key_dim=d_model // num_heads, use_bias=False
        )
        self.ffn_norm = keras.layers.LayerNormalization(epsilon=NORM_EPSILON)
        self.ffn_in = keras.layers.Dense(d_ff, activation="relu")
        self.ffn_out = keras.layers.Dense(d_model)

    def call(self, x: Any) -> Any:
        h = self.attention_norm(x)  # (B, T, D)
        x = x + self.attention(h, h, use_causal_mask=True)  # (B, T, D)
        h = self.ffn_norm(x)
        return x + self.ffn_out(self.ffn_in(h))  # (B, T, D)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


class ReferenceLM(DecoderLM):
    """tokens (B, T) int -> logits (B, T, vocab): DecoderLM's own scaffold (embeddings, final
    norm, tied softmax) around ReferenceBlocks of the `transformer` seed's shape."""

    def __init__(self, config: ModelConfig, sizing: Sizing, **kwargs: Any):
        super().__init__(load_seed("transformer"), config, sizing, **kwargs)

    def make_block(self, dna: DNA, index: int) -> keras.layers.Layer:
        d_ff = FFN_MULTIPLIER * self.sizing.base_unit
        return ReferenceBlock(self.d_model, d_ff, name=f"block_{index}")


def reference_lm_like(model: DecoderLM) -> ReferenceLM:
    """A built ReferenceLM of the shape the compiled `transformer` seed gets in `model`."""
    reference = ReferenceLM(model.config, model.sizing)
    reference.build_for_config()
    return reference


def copy_weights_from_program(reference_block: ReferenceBlock, program_block: ProgramBlock) -> None:
    """Load the weights of a built ProgramBlock of the `transformer` seed into `reference_block`.

    Kernels of the branched head projections are stored (branch, k, in, out) = (8, 1, D, D/8);
    MultiHeadAttention's are (in, heads, head width). The output projection's input is the heads
    concatenated branch-major (compiler._fold_branches), the layout of MultiHeadAttention's
    (heads, head width, out) kernel. Raises PrimerSearchError for a program of another shape.
    """
    d_model = program_block.d_model
    if not reference_block.built:
        reference_block(tf.zeros((1, 1, d_model)))
    values = _seed_weights(program_block)
    norm1_scale, norm1_shift, q, k, v, out, norm2_scale, norm2_shift = values[:8]
    ffn_in_kernel, ffn_in_bias, ffn_out_kernel, ffn_out_bias = values[8:]
    heads = q.shape[0]
    pairs = [
        (reference_block.attention_norm.gamma, norm1_scale),
        (reference_block.attention_norm.beta, norm1_shift),
        (reference_block.attention.query_dense.kernel, _heads_kernel(q)),
        (reference_block.attention.key_dense.kernel, _heads_kernel(k)),
        (reference_block.attention.value_dense.kernel, _heads_kernel(v)),
        (reference_block.attention.output_dense.kernel, out[0].reshape(heads, -1, d_model)),
        (reference_block.ffn_norm.gamma, norm2_scale),
        (reference_block.ffn_norm.beta, norm2_shift),
        (reference_block.ffn_in.kernel, ffn_in_kernel[0]),
        (reference_block.ffn_in.bias, ffn_in_bias),
        (reference_block.ffn_out.kernel, ffn_out_kernel[0]),
        (reference_block.ffn_out.bias, ffn_out_bias),
    ]
    for variable, value in pairs:
        if tuple(variable.shape) != value.shape:
            raise PrimerSearchError(
                f"cannot copy a {value.shape} weight into {variable.path} of shape "
                f"{tuple(variable.shape)}: the reference block has another size"
            )
        variable.assign(value)


def copy_lm_weights(reference: ReferenceLM, model: DecoderLM) -> None:
    """Load every weight of a built DecoderLM of the `transformer` seed into `reference`."""
    reference.token_embedding.embeddings.assign(model.token_embedding.embeddings)
    reference.position_embedding.embeddings.assign(model.position_embedding.embeddings)
    for ref_block, block in zip(reference.blocks, model.blocks, strict=True):
        copy_weights_from_program(ref_block, block)
    reference.final_norm.gamma.assign(model.final_norm.gamma)
    reference.final_norm.beta.assign(model.final_norm.beta)


def _seed_weights(program_block: ProgramBlock) -> list[np.ndarray]:
    """The block's weights in graph order, checked to be the `transformer` seed's."""
    graph = program_block.graph
    owned = program_block._weights  # node index -> {weight name: variable}, set by build()
    indexes = sorted(owned)
    ops = tuple(graph.nodes[i].op for i in indexes)
    if ops != _SEED_WEIGHT_OPS:
        raise PrimerSearchError(
            f"not the transformer seed's block: its weighted ops are {list(ops)}, "
            f"expected {list(_SEED_WEIGHT_OPS)}"
        )
    values = []
    for i in indexes:
        (variable,) = owned[i].values()
        values.append(np.asarray(variable.numpy()))
    return values


def _heads_kernel(kernel: np.ndarray) -> np.ndarray:
    """(heads, 1, in, head width) -> MultiHeadAttention's (in, heads, head width)."""
    return np.transpose(kernel[:, 0], (1, 0, 2))
