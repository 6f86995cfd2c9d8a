"""open_corpus: caching of the tokenizer and the shards, cache keys, the fixed validation set,
text files, the builtin corpus at full size, and parsing of the CLI's --data."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from primer_search.data import corpus as corpus_module
from primer_search.data import default_cache_dir
from primer_search.data.builtin import generate_sentences
from primer_search.data.corpus import DataSpec, open_corpus, parse_data_arg
from primer_search.data.text import TextSource
from primer_search.errors import ConfigError, DataError

SEQ_LEN, BATCH_TOKENS = 16, 256


@pytest.fixture(scope="module")
def text_files(tmp_path_factory):
    """A small corpus in two files: 3,000 generated training and 300 validation sentences."""
    folder = tmp_path_factory.mktemp("text")
    train, valid = folder / "train.txt", folder / "valid.txt"
    train.write_text("\n".join(s.text for s in generate_sentences(3000, seed=11)) + "\n")
    valid.write_text("\n".join(s.text for s in generate_sentences(300, seed=12)) + "\n")
    return train, valid


def spec_for(text_files, vocab_size: int = 400) -> DataSpec:
    train, valid = text_files
    return DataSpec(
        "text",
        train_paths=(str(train),),
        validation_paths=(str(valid),),
        vocab_size=vocab_size,
        validation_tokens=2048,
    )


def test_second_open_reuses_tokenizer_and_shards(text_files, cache_dir, monkeypatch):
    first = open_corpus(spec_for(text_files), cache_dir)
    assert first.stats.tokenizer_trained and first.stats.shards_built
    folder = Path(first.stats.folder)
    mtimes = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    def no_training(*args, **kwargs):
        raise AssertionError("the tokenizer was trained again")

    monkeypatch.setattr(corpus_module, "train_tokenizer", no_training)
    second = open_corpus(spec_for(text_files), cache_dir)
    assert not second.stats.tokenizer_trained and not second.stats.shards_built
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == mtimes
    assert second.stats.open_seconds < 1.0
    assert second.identity == first.identity and second.vocab_size == first.vocab_size == 400
    assert np.array_equal(second.train_tokens, first.train_tokens)


def test_each_vocabulary_size_and_each_file_version_has_its_own_entry(text_files, cache_dir):
    small = open_corpus(spec_for(text_files, vocab_size=320), cache_dir)
    large = open_corpus(spec_for(text_files, vocab_size=500), cache_dir)
    assert (small.vocab_size, large.vocab_size) == (320, 500)
    assert small.stats.folder != large.stats.folder and small.identity != large.identity
    assert large.stats.tokenizer_trained

    train, valid = text_files
    copy = cache_dir.parent / "train_copy.txt"
    copy.write_text(train.read_text())
    spec = DataSpec("text", (str(copy),), (str(valid),), vocab_size=320, validation_tokens=2048)
    before = open_corpus(spec, cache_dir)
    assert before.identity == small.identity  # same content elsewhere: same identity
    copy.write_text(train.read_text() + "one more line for the corpus .\n")
    after = open_corpus(spec, cache_dir)
    assert after.stats.folder != before.stats.folder and after.identity != before.identity


def test_shards_hold_every_sentence_then_eos_in_order(text_files, cache_dir):
    corpus = open_corpus(spec_for(text_files), cache_dir)
    train, _ = text_files
    sentences = train.read_text().splitlines()
    tokens = np.asarray(corpus.train_tokens)
    ends = np.flatnonzero(tokens == corpus.eos_id)
    assert len(ends) == len(sentences) == corpus.stats.train_sentences
    assert ends[-1] == len(tokens) - 1
    starts = np.concatenate([[0], ends[:-1] + 1])
    for index in (0, 1, 1234, len(sentences) - 1):
        assert corpus.decode(tokens[starts[index] : ends[index]]) == sentences[index]


def test_validation_set_is_fixed_across_opens_and_processes(text_files, cache_dir, tmp_path):
    spec = spec_for(text_files)
    first = open_corpus(spec, cache_dir).validation_batches(SEQ_LEN, BATCH_TOKENS)
    assert first.shape == (2048 // BATCH_TOKENS, BATCH_TOKENS // SEQ_LEN, SEQ_LEN + 1)
    # A fresh cache rebuilds everything from scratch and must land on the same ids.
    rebuilt = open_corpus(spec, tmp_path / "other-cache")
    assert np.array_equal(rebuilt.validation_batches(SEQ_LEN, BATCH_TOKENS), first)
    reopened = open_corpus(spec, cache_dir)
    assert np.array_equal(reopened.validation_batches(SEQ_LEN, BATCH_TOKENS), first)
    via_tf = np.stack([b.numpy() for b in reopened.validation_dataset(SEQ_LEN, BATCH_TOKENS)])
    assert np.array_equal(via_tf, first)


def test_train_dataset_is_seeded(text_files, cache_dir):
    corpus = open_corpus(spec_for(text_files), cache_dir)

    def first(seed: int) -> np.ndarray:
        return np.stack([b.numpy() for b in corpus.train_dataset(SEQ_LEN, 256, seed).take(3)])

    batch = first(1)
    assert batch.shape == (3, 256 // SEQ_LEN, SEQ_LEN + 1) and batch.dtype == np.int32
    assert np.array_equal(batch, first(1)) and not np.array_equal(batch, first(2))


def test_two_processes_opening_one_corpus_at_once_agree(text_files, cache_dir):
    train, valid = text_files
    script = textwrap.dedent(
        f"""
        from primer_search.data.corpus import DataSpec, open_corpus
        spec = DataSpec("text", ({str(train)!r},), ({str(valid)!r},), vocab_size=350,
                        validation_tokens=2048)
        corpus = open_corpus(spec, {str(cache_dir)!r})
        print(corpus.identity, corpus.stats.tokenizer_trained)
        """
    )
    workers = [
        subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=120)[0].split() for worker in workers]
    assert all(worker.returncode == 0 for worker in workers)
    assert outputs[0][0] == outputs[1][0]
    assert sorted(trained for _, trained in outputs) == ["False", "True"]  # the lock: one built


def test_one_text_file_holds_out_its_tail(tmp_path):
    path = tmp_path / "all.txt"
    lines = [f"line number {i} ." for i in range(200)]
    path.write_text("\n\n".join(lines) + "\n")  # blank lines are not sentences
    source = TextSource((path,))
    train, validation = list(source.sentences("train")), list(source.sentences("validation"))
    assert train == lines[:190] and validation == lines[190:]


def test_text_without_enough_lines_is_a_clear_error(tmp_path, cache_dir):
    path = tmp_path / "one.txt"
    path.write_text("a single line .\n")
    with pytest.raises(DataError, match="at least 2"):
        open_corpus(DataSpec("text", train_paths=(str(path),), vocab_size=300), cache_dir)


def test_parse_data_arg(tmp_path):
    train, valid = tmp_path / "train.txt", tmp_path / "valid.txt"
    train.write_text("x\n")
    valid.write_text("y\n")
    assert parse_data_arg("builtin") == DataSpec("builtin")
    assert parse_data_arg("lm1b", vocab_size=32_000) == DataSpec("lm1b", vocab_size=32_000)
    assert parse_data_arg("lm1b:/data/lm1b").data_dir == "/data/lm1b"
    assert parse_data_arg(str(train)) == DataSpec("text", train_paths=(str(train),))
    both = parse_data_arg(f"{train},{valid}")
    assert both.train_paths == (str(train),) and both.validation_paths == (str(valid),)
    for bad, message in (
        ("", "empty"),
        (str(tmp_path / "missing.txt"), "missing.txt' is not a file"),
        (f"{train},{valid},{train}", "TRAIN,VALID"),
        (f"{train},", "TRAIN,VALID"),
    ):
        with pytest.raises(DataError, match=message):
            parse_data_arg(bad)


def test_bad_specs_name_the_value_and_what_is_valid():
    with pytest.raises(ConfigError, match="builtin.*got 'wiki'"):
        DataSpec("wiki")
    with pytest.raises(ConfigError, match="vocab_size must be >= 262.*got 100"):
        DataSpec("builtin", vocab_size=100)
    with pytest.raises(ConfigError, match="train_paths"):
        DataSpec("text")
    with pytest.raises(ConfigError, match="max_train_sentences"):
        replace(DataSpec("builtin"), max_train_sentences=0)


@pytest.mark.slow
def test_builtin_corpus_at_the_tiny_preset_size(cache_dir):
    corpus = open_corpus(DataSpec("builtin"), cache_dir)
    assert corpus.vocab_size == 2048
    assert corpus.stats.train_tokens > 1_000_000
    assert corpus.validation_batches(64, 4096).shape == (16, 64, 65)  # 65,536 targets
    sentence = "these trees that a bird sees grow ."
    assert corpus.decode(corpus.encode(sentence)) == sentence
    capped = open_corpus(DataSpec("builtin", max_train_sentences=1000), cache_dir)
    assert capped.stats.train_sentences == 1000 and capped.identity != corpus.identity


def test_default_cache_dir_follows_xdg():
    assert default_cache_dir("/var/cache/me") == Path("/var/cache/me/primer-search")
    assert default_cache_dir("") == Path.home() / ".cache" / "primer-search"
