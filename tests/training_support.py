"""Helpers for the training tests: a tiny duck-typed corpus and a micro model preset.

`PatternCorpus` has the two methods training needs of primer_search.data.TokenizedCorpus. Each
row counts up from a random start with a random stride (mod the vocabulary), so the next token is
predictable from the two before it: a model that learns anything gets a lower loss quickly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from primer_search.config import ModelConfig
from primer_search.dna import DNA, check_dna, parse_dna

# One layer and about 30K parameters: steps of a few milliseconds, for tests that are about
# the harness rather than the model.
MICRO = ModelConfig(
    name="micro",
    vocab_size=64,
    seq_len=16,
    num_layers=1,
    min_params=10_000,
    max_params=60_000,
    target_params=30_000,
)


class PatternCorpus:
    def __init__(self, vocab_size: int = 64, rows: int = 512, seed: int = 0):
        self.vocab_size = vocab_size
        self.identity = f"pattern-{vocab_size}-{rows}-{seed}"
        self._rows = rows
        self._seed = seed

    def _table(self, seq_len: int, rows: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        start = rng.integers(0, self.vocab_size, size=(rows, 1))
        stride = rng.integers(1, 4, size=(rows, 1))
        steps = np.arange(seq_len + 1)[None, :]
        return ((start + stride * steps) % self.vocab_size).astype(np.int32)

    def train_dataset(self, seq_len: int, batch_tokens: int, seed: int) -> tf.data.Dataset:
        table = self._table(seq_len, self._rows, self._seed)
        data = tf.data.Dataset.from_tensor_slices(table)
        data = data.shuffle(len(table), seed=seed, reshuffle_each_iteration=True).repeat()
        return data.batch(batch_tokens // seq_len, drop_remainder=True)

    def validation_dataset(self, seq_len: int, batch_tokens: int) -> tf.data.Dataset:
        table = self._table(seq_len, 4 * (batch_tokens // seq_len), self._seed + 1)
        return tf.data.Dataset.from_tensor_slices(table).batch(batch_tokens // seq_len)


def program(*instructions: dict[str, Any], constants=(0.0, 0.125), dims=(8, 32)) -> DNA:
    """A valid one-subprogram DNA (MAIN only) from instruction dicts."""
    main = {"instructions": list(instructions)}
    return check_dna(
        parse_dna({"subprograms": [main], "constants": list(constants), "dims": list(dims)})
    )


# A small block that can learn the pattern corpus and traces in about a second: a causal
# depthwise conv mixes the last 3 positions, then a ReLU MLP and a residual.
MINI = program(
    {"op": "DCONV_3X1", "input1": 0},  # x2
    {"op": "CONV_1X1", "input1": 2, "dim": 0},  # x3
    {"op": "MAX", "input1": 3, "constant": 0},  # x4 = relu
    {"op": "CONV_1X1", "input1": 4, "dim": 0},  # x5
    {"op": "ADD", "input1": 5, "input2": 0},  # x6 = x0 + x5
)
