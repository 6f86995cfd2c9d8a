"""Packing and batching on a synthetic token stream (ids = positions), so every row can be
traced back to where it came from."""

from __future__ import annotations

import numpy as np
import pytest

from primer_search.data.pipeline import (
    TrainBatches,
    train_dataset,
    validation_batches,
    validation_dataset,
)
from primer_search.errors import ConfigError, DataError

SEQ_LEN = 8
BATCH_TOKENS = 32  # 4 rows of 9 tokens
STREAM = np.arange(1000, dtype=np.int32)  # 124 rows


def _row_start(row: np.ndarray) -> int:
    """Where a row starts in STREAM, after checking it is one contiguous window."""
    assert np.array_equal(row, np.arange(row[0], row[0] + SEQ_LEN + 1))
    assert row[0] % SEQ_LEN == 0
    return int(row[0])


def test_validation_rows_are_the_stream_in_order_overlapping_by_one():
    batches = validation_batches(STREAM[:101], SEQ_LEN, BATCH_TOKENS)  # 12 rows -> 3 batches
    assert batches.shape == (3, 4, SEQ_LEN + 1) and batches.dtype == np.int32
    rows = batches.reshape(-1, SEQ_LEN + 1)
    targets = rows[:, 1:].reshape(-1)
    assert np.array_equal(targets, STREAM[1:97])  # every target once, in order
    assert np.array_equal(rows[:, :-1].reshape(-1), STREAM[:96])


def test_validation_drops_only_the_final_partial_batch():
    batches = validation_batches(STREAM[:120], SEQ_LEN, BATCH_TOKENS)  # 14 rows -> 3 batches
    assert batches.shape[0] == 3
    assert np.array_equal(batches[0, 0], STREAM[: SEQ_LEN + 1])


def test_too_short_validation_and_bad_sizes_are_clear_errors():
    with pytest.raises(DataError, match="fewer than one batch"):
        validation_batches(STREAM[:20], SEQ_LEN, BATCH_TOKENS)
    with pytest.raises(ConfigError, match="batch_tokens"):
        validation_batches(STREAM, SEQ_LEN, SEQ_LEN - 1)
    with pytest.raises(ConfigError, match="seed"):
        TrainBatches(STREAM, SEQ_LEN, BATCH_TOKENS, seed=-1)


def test_train_batches_are_windows_of_the_stream():
    batches = iter(TrainBatches(STREAM, SEQ_LEN, BATCH_TOKENS, seed=0))
    for _ in range(5):
        batch = next(batches)
        assert batch.shape == (BATCH_TOKENS // SEQ_LEN, SEQ_LEN + 1) and batch.dtype == np.int32
        for row in batch:
            _row_start(row)


def test_same_seed_same_batches_other_seed_other_batches():
    def first(seed: int) -> list[np.ndarray]:
        batches = iter(TrainBatches(STREAM, SEQ_LEN, BATCH_TOKENS, seed=seed))
        return [next(batches) for _ in range(10)]

    assert all(np.array_equal(a, b) for a, b in zip(first(3), first(3), strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first(3), first(4), strict=True))


def test_each_epoch_visits_every_row_once_and_epochs_differ():
    train = TrainBatches(STREAM, SEQ_LEN, BATCH_TOKENS, seed=0)
    rows = train.num_rows  # 124, not a multiple of 4: epochs straddle batches
    batches = iter(train)
    starts = [_row_start(row) for _ in range(2 * rows // 4) for row in next(batches)]
    assert sorted(starts[:rows]) == [r * SEQ_LEN for r in range(rows)]
    assert sorted(starts[rows:]) == [r * SEQ_LEN for r in range(rows)]
    assert starts[:rows] != starts[rows:]


def test_skip_batches_resumes_the_same_sequence():
    batches = iter(TrainBatches(STREAM, SEQ_LEN, BATCH_TOKENS, seed=5))
    expected = [next(batches) for _ in range(40)][37:]
    resumed = iter(TrainBatches(STREAM, SEQ_LEN, BATCH_TOKENS, seed=5, skip_batches=37))
    assert all(np.array_equal(next(resumed), batch) for batch in expected)


def test_tf_datasets_yield_the_numpy_batches():
    dataset = train_dataset(STREAM, SEQ_LEN, BATCH_TOKENS, seed=2)
    assert dataset.element_spec.shape.as_list() == [4, SEQ_LEN + 1]
    reference = iter(TrainBatches(STREAM, SEQ_LEN, BATCH_TOKENS, seed=2))
    for batch in dataset.take(3):
        assert batch.dtype.name == "int32"
        assert np.array_equal(batch.numpy(), next(reference))
    fixed = [b.numpy() for b in validation_dataset(STREAM[:101], SEQ_LEN, BATCH_TOKENS)]
    assert np.array_equal(np.stack(fixed), validation_batches(STREAM[:101], SEQ_LEN, BATCH_TOKENS))
