"""The input pipeline: a flat token stream packed into rows, rows grouped into fixed-size batches.

Packing (PRIMER.md section 4: sequence length 64, 4096 tokens per batch). Sentences, each ended
by EOS, are concatenated into one stream and cut into rows of seq_len + 1 tokens that overlap by
one: row r = stream[r * seq_len : (r + 1) * seq_len + 1]. The model reads row[:-1] and predicts
row[1:], so every token after the first is a target exactly once and no token is padding. A row
may start mid-sentence; the context a sentence gets from the one before it is what LM packing
(Tensor2Tensor's included) gives too.

A batch is batch_tokens // seq_len rows: shape (rows, seq_len + 1), int32.

Training: infinite. The stream of rows is epoch after epoch of a permutation of all rows, the
permutation of epoch e drawn from PCG64([seed, e]); batches are consecutive slices of that
stream, so no row is dropped at an epoch's end, the same seed gives the same batches, and batch
b can be produced without producing the b before it (`skip_batches`, for resumes).

Validation: the first validation_tokens targets of the validation split, in order, no shuffle,
cut into whole batches; the partial batch at the end is dropped. Choose validation_tokens as a
multiple of batch_tokens (the default 65,536 = 16 x 4,096) and nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from primer_search.errors import ConfigError, DataError

if TYPE_CHECKING:
    import tensorflow as tf


def rows_per_batch(seq_len: int, batch_tokens: int) -> int:
    if seq_len < 1:
        raise ConfigError(f"seq_len must be >= 1, got {seq_len}")
    if batch_tokens < seq_len:
        raise ConfigError(
            f"batch_tokens must be >= seq_len ({seq_len}) to fill one row, got {batch_tokens}"
        )
    return batch_tokens // seq_len


def row_count(num_tokens: int, seq_len: int) -> int:
    """How many whole rows of seq_len + 1 tokens (overlapping by one) a stream holds."""
    return max(0, (num_tokens - 1) // seq_len)


def gather_rows(tokens: np.ndarray, rows: np.ndarray, seq_len: int) -> np.ndarray:
    """Rows with the given indexes: (len(rows), seq_len + 1) int32."""
    offsets = rows.astype(np.int64)[:, None] * seq_len + np.arange(seq_len + 1)  # (R, L + 1)
    return np.asarray(tokens[offsets], dtype=np.int32)


class TrainBatches:
    """The training batches of one seed, as numpy arrays; iterate for an endless stream."""

    def __init__(
        self, tokens: np.ndarray, seq_len: int, batch_tokens: int, seed: int, skip_batches: int = 0
    ):
        if seed < 0 or skip_batches < 0:
            raise ConfigError(f"seed and skip_batches must be >= 0, got {seed} and {skip_batches}")
        self.tokens = tokens
        self.seq_len = seq_len
        self.batch_rows = rows_per_batch(seq_len, batch_tokens)
        self.num_rows = row_count(len(tokens), seq_len)
        if self.num_rows < 1:
            raise DataError(
                f"the training split has {len(tokens)} tokens, fewer than one row of "
                f"seq_len + 1 = {seq_len + 1}"
            )
        self.seed = seed
        self.skip_batches = skip_batches
        # (epoch, its row order), replaced as one value: iterators in two threads may share it.
        self._cached: tuple[int, np.ndarray] = (-1, np.empty(0, dtype=np.int64))

    def _epoch_order(self, epoch: int) -> np.ndarray:
        cached_epoch, order = self._cached
        if cached_epoch != epoch:
            order = np.random.Generator(np.random.PCG64([self.seed, epoch])).permutation(
                self.num_rows
            )
            self._cached = (epoch, order)
        return order

    def batch(self, index: int) -> np.ndarray:
        """Batch number `index` (0-based) of this seed: (batch_rows, seq_len + 1) int32."""
        start = index * self.batch_rows
        rows: list[int] = []
        while len(rows) < self.batch_rows:
            position = start + len(rows)
            epoch, offset = divmod(position, self.num_rows)
            take = min(self.batch_rows - len(rows), self.num_rows - offset)
            rows.extend(self._epoch_order(epoch)[offset : offset + take].tolist())
        return gather_rows(self.tokens, np.asarray(rows), self.seq_len)

    def __iter__(self) -> Iterator[np.ndarray]:
        index = self.skip_batches
        while True:
            yield self.batch(index)
            index += 1


def validation_batches(tokens: np.ndarray, seq_len: int, batch_tokens: int) -> np.ndarray:
    """The fixed validation set: (batches, batch_rows, seq_len + 1) int32, always the same."""
    batch_rows = rows_per_batch(seq_len, batch_tokens)
    batches = row_count(len(tokens), seq_len) // batch_rows
    if batches < 1:
        raise DataError(
            f"the validation set has {max(0, len(tokens) - 1)} target tokens, fewer than one "
            f"batch of {batch_rows * seq_len}; raise validation_tokens or lower batch_tokens"
        )
    rows = gather_rows(tokens, np.arange(batches * batch_rows), seq_len)
    return rows.reshape(batches, batch_rows, seq_len + 1)


def train_dataset(
    tokens: np.ndarray, seq_len: int, batch_tokens: int, seed: int, skip_batches: int = 0
) -> tf.data.Dataset:
    """Endless tf.data of training batches (batch_rows, seq_len + 1) int32, prefetched."""
    import tensorflow as tf

    batches = TrainBatches(tokens, seq_len, batch_tokens, seed, skip_batches)
    spec = tf.TensorSpec((batches.batch_rows, seq_len + 1), tf.int32)
    dataset = tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=spec)
    # tf.data autotuning off: with it on (the default, even without AUTOTUNE buffers), deleting
    # an iterator could block for about as long as the iterator had sat idle; a worker dropping
    # a candidate's iterator after its evaluation lost 2-8 s per candidate (TF 2.21, CPU;
    # benchmarks/worker_efficiency.py). A batch is a ~1 ms numpy gather: 2 in flight suffice.
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(2).with_options(options)


def validation_dataset(tokens: np.ndarray, seq_len: int, batch_tokens: int) -> tf.data.Dataset:
    """Finite tf.data of the fixed validation batches, in order."""
    import tensorflow as tf

    return tf.data.Dataset.from_tensor_slices(validation_batches(tokens, seq_len, batch_tokens))
