"""DNA -> a Keras layer for one decoder block (TF backend).

`ProgramBlock` interprets the lowered graph (graph.py) with the registry's implementations
(ops.py). Everything static (kinds, widths, weight shapes) is decided at construction, so `call`
is a straight sequence of TF ops that `tf.function` / XLA trace once.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from primer_search.dna import DNA
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
from primer_search.ops import REGISTRY, Applied, Kind, WeightSpec, causal_key_mean, fit_width


class ProgramBlock(keras.layers.Layer):
    """One decoder block computed by a DNA: (B, T, d_model) -> (B, T, d_model), causal."""

    def __init__(self, dna: DNA, base_unit: int, d_model: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.dna = dna
        self.base_unit = base_unit
        self.d_model = d_model
        self.graph: Graph = lower(dna)
        self.shapes: Shapes = infer_shapes(self.graph, base_unit, d_model)
        self._keys_masked = keys_already_masked(self.graph, self.shapes)
        self._static = [self._static_args(i) for i in range(len(self.graph.nodes))]
        self._weights: dict[int, dict[str, Any]] = {}

    def _static_args(self, index: int) -> Applied | None:
        node = self.graph.nodes[index]
        if node.op in (INPUT, ENTER, EXIT):
            return None
        return Applied(
            kinds=tuple(self.shapes.kinds[p] for p in node.inputs),
            widths=tuple(self.shapes.widths[p] for p in node.inputs),
            out_width=self.shapes.widths[index],
            constant=node.constant,
            scope=node.scope,
            keys_masked=tuple(self._keys_masked[p] for p in node.inputs),
        )

    def build(self, input_shape: Any) -> None:
        for index, node in enumerate(self.graph.nodes):
            specs = node_weights(self.graph, self.shapes, index)
            if specs:
                self._weights[index] = {
                    w.name: self.add_weight(
                        name=f"n{index}_{node.op.lower()}_{w.name}",
                        shape=tuple(node.scope) + w.shape,
                        initializer=_initializer(w, node.scope),
                        trainable=True,
                    )
                    for w in specs
                }
        super().build(input_shape)

    def call(self, x: Any) -> Any:
        values: list[Any] = [None] * len(self.graph.nodes)
        for index, node in enumerate(self.graph.nodes):
            if node.op == INPUT:
                value = x
            elif node.op == ENTER:
                value = tf.expand_dims(values[node.inputs[0]], 0)  # a new branch axis of size 1
            elif node.op == EXIT:
                value = _fold_branches(
                    values[node.inputs[0]], node.branch, self.shapes.kinds[node.inputs[0]]
                )
            else:
                static = self._static[index]
                assert static is not None
                args = Applied(
                    static.kinds,
                    static.widths,
                    static.out_width,
                    static.constant,
                    static.scope,
                    self._weights.get(index, {}),
                    static.keys_masked,
                )
                apply = REGISTRY[node.op].apply
                assert apply is not None
                value = apply([values[p] for p in node.inputs], args)
            values[index] = value
        return self._fit_output(values[self.graph.output])

    def _fit_output(self, y: Any) -> Any:
        """The block must return d_model features: a matrix becomes its causal key-mean, and the
        width is fitted with the binary-op rule (truncate, tile, broadcast a width of 1)."""
        out = self.graph.output
        if self.shapes.kinds[out] is Kind.MATRIX:
            return fit_width(causal_key_mean(y), 1, self.d_model, broadcast=False)
        return fit_width(y, int(self.shapes.widths[out] or 1), self.d_model, broadcast=False)

    def analytic_parameter_count(self) -> int:
        return block_parameter_count(self.graph, self.shapes)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


def keys_already_masked(graph: Graph, shapes: Shapes) -> tuple[bool, ...]:
    """Which nodes are matrices already masked: in each row t, the future keys s > t hold +-0,
    or the whole row is NaN. Masking such a matrix again before a sum or a contraction changes
    no value (a NaN row stays NaN), so those ops skip the select (ops.past_keys); in the seeds
    this drops two of the three selects of every attention head.

    Only three ops are trusted to make one. MASK: band_part writes zeros. C_MUL of a masked
    matrix: 0 * C = 0 for a finite C (validation keeps constants finite), NaN * C = NaN. DIVIDE of
    a masked matrix by a feature, which gives one divisor y_t per row: 0 / y_t = 0, a y_t of 0
    zeroes the whole row (divide_no_nan), a NaN y_t makes the whole row NaN. (MULTIPLY by a
    feature is not: 0 * inf = NaN in the future keys while the row's past holds +-inf.)
    """
    masked = [False] * len(graph.nodes)
    for index, node in enumerate(graph.nodes):
        if shapes.kinds[index] is not Kind.MATRIX:
            continue
        if node.op == "MASK":
            masked[index] = True
        elif node.op == "C_MUL":
            masked[index] = masked[node.inputs[0]]
        elif node.op == "DIVIDE":
            numerator, divisor = node.inputs
            masked[index] = masked[numerator] and shapes.kinds[divisor] is Kind.FEATURE
    return tuple(masked)


def _fold_branches(value: Any, branch: int, kind: Kind) -> Any:
    """(b, *outer, B, T, w) -> (*outer, B, T, b * w) for features, branch-major like the head
    concatenation of multi-head attention; matrices are averaged over the b copies."""
    if value.shape[0] == 1 and branch > 1:
        if kind is Kind.MATRIX:
            return value[0]
        value = tf.repeat(value, branch, axis=0)  # the callee ignored its branch weights
    if kind is Kind.MATRIX:
        return tf.reduce_mean(value, axis=0)
    rank = len(value.shape)
    width = int(value.shape[-1])
    value = tf.transpose(value, list(range(1, rank - 1)) + [0, rank - 1])
    shape = tf.shape(value)
    return tf.reshape(value, tf.concat([shape[:-2], [branch * width]], axis=0))


def _initializer(weight: WeightSpec, scope: tuple[int, ...]) -> Any:
    if weight.init == "ones":
        return keras.initializers.Ones()
    if weight.init == "zeros":
        return keras.initializers.Zeros()
    if weight.init == "dconv":
        # Primer-EZ's released init: 0.5 on the current position, 0.5 / k on the others.
        k, width = weight.shape
        taps = np.full((k, width), 0.5 / k, dtype="float32")
        taps[-1, :] = 0.5  # the last tap reads position t (see ops._dconv)
        full = np.broadcast_to(taps, tuple(scope) + weight.shape).copy()
        return keras.initializers.Constant(full)
    # Glorot uniform over (k, fan_in, fan_out), as Keras's Conv1D / Dense would.
    k, fan_in, fan_out = weight.shape
    limit = math.sqrt(6.0 / (k * fan_in + k * fan_out))
    return keras.initializers.RandomUniform(-limit, limit)
