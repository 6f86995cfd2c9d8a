"""End to end on the real built-in corpus: the tiny preset trains and its loss goes down."""

from __future__ import annotations

import pytest

from primer_search.config import get_preset
from primer_search.data import DataSpec, open_corpus
from primer_search.seeds import load_seed
from primer_search.training import Status, get_train_preset, train_candidate


@pytest.fixture(scope="module")
def builtin_corpus(tmp_path_factory):
    spec = DataSpec("builtin", max_train_sentences=10_000, validation_tokens=8192)
    return open_corpus(spec, tmp_path_factory.mktemp("cache"))


def test_tiny_preset_learns_on_the_builtin_corpus(builtin_corpus):
    # The tiny preset with a short warmup and 8 sequences a batch, so that a few steps are quick
    # and move the weights visibly.
    config = get_train_preset("tiny").with_changes(warmup_steps=5, batch_tokens=512)
    losses: list[float] = []

    def record(event):
        if event.phase == "train":
            losses.append(event.loss)

    result = train_candidate(
        load_seed("transformer"),
        get_preset("tiny"),
        config,
        builtin_corpus,
        "20steps",
        1,
        progress=record,
    )
    assert result.status is Status.OK, result.failure_reason
    assert result.vocab_size == builtin_corpus.vocab_size
    assert result.steps == len(losses) == 20
    assert result.validation_tokens == 8192
    assert result.fitness < result.hurdles[0].fitness
    assert sum(losses[-5:]) < sum(losses[:5])
