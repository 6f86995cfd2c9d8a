"""The fixed validation set and the fitness measured on it.

Fitness is the validation log-perplexity: the mean cross-entropy per target token over the whole
FIXED validation set, in nats (perplexity = exp of it). The batches are read from the corpus once
per candidate and kept in memory, so every evaluation of a run reads exactly the same tokens in
the same order; the per-batch sums are added in float64 on the host, in order, so the same
weights always give the same number.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import tensorflow as tf

from primer_search.errors import DataError


class HasValidation(Protocol):
    def validation_dataset(self, seq_len: int, batch_tokens: int) -> tf.data.Dataset: ...


class ValidationSet:
    """Int32 batches (rows, seq_len + 1); every position after the first is a target."""

    def __init__(self, batches: list[Any], seq_len: int):
        if not batches:
            raise DataError("the validation set is empty: no fitness can be measured")
        self.batches = batches
        self.tokens = sum(int(batch.shape[0]) * seq_len for batch in batches)

    @classmethod
    def from_corpus(cls, corpus: HasValidation, seq_len: int, batch_tokens: int) -> ValidationSet:
        return cls(list(corpus.validation_dataset(seq_len, batch_tokens)), seq_len)

    def log_perplexity(self, eval_step: Callable[[Any], Any]) -> float:
        """Mean cross-entropy per target token, in nats; `eval_step` returns a batch's sum."""
        total = 0.0
        for batch in self.batches:
            total += float(eval_step(batch))
        return total / self.tokens
