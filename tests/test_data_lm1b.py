"""LM1B from the raw release layout and from a TFDS-prepared folder, both written by the tests;
and the error (never a hang, never a download) when LM1B is absent."""

from __future__ import annotations

import contextlib
import signal
import socket
from pathlib import Path

import pytest

from primer_search.data import lm1b
from primer_search.data.corpus import DataSpec, open_corpus
from primer_search.data.lm1b import (
    RELEASE_DIR,
    RELEASE_URL,
    Lm1bReleaseSource,
    Lm1bTfdsSource,
    locate_lm1b,
)
from primer_search.errors import DataNotFoundError

TRAIN_DIR = "training-monolingual.tokenized.shuffled"
HELDOUT_DIR = "heldout-monolingual.tokenized.shuffled"


def write_release(parent: Path, sentences_per_file: int = 40) -> dict[str, list[str]]:
    """The release layout with two training files (written out of order) and two heldout files;
    returns each split's sentences in the order a reader must give them."""
    root = parent / RELEASE_DIR
    (root / TRAIN_DIR).mkdir(parents=True)
    (root / HELDOUT_DIR).mkdir(parents=True)
    files = (
        ("train", TRAIN_DIR, "news.en-00001-of-00100"),
        ("train", TRAIN_DIR, "news.en-00002-of-00100"),
        ("validation", HELDOUT_DIR, "news.en.heldout-00000-of-00050"),
        ("validation", HELDOUT_DIR, "news.en.heldout-00001-of-00050"),
    )
    contents = [
        [f"The {name} report {i} of {file} says prices rose {i % 7} percent ." for i in counts]
        for name, _, file in files
        for counts in [range(sentences_per_file)]
    ]
    for (_, folder, file_name), lines in reversed(list(zip(files, contents, strict=True))):
        # Written last file first, with a blank line inside: neither may show in what is read.
        text = "\n".join(lines[:5]) + "\n\n" + "\n".join(lines[5:]) + "\n"
        (root / folder / file_name).write_text(text)
    split: dict[str, list[str]] = {"train": [], "validation": []}
    for (name, _, _), lines in zip(files, contents, strict=True):
        split[name] += lines
    return split


@contextlib.contextmanager
def deadline(seconds: int):
    """Fail instead of hanging (SIGALRM: Unix, main thread)."""

    def expire(signum, frame):
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the test tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_release_reader_gives_both_splits_in_file_order(tmp_path):
    expected = write_release(tmp_path)
    for where in (tmp_path, tmp_path / RELEASE_DIR):  # the parent or the release itself
        source = locate_lm1b([where])
        assert isinstance(source, Lm1bReleaseSource)
        assert list(source.sentences("train")) == expected["train"]
        assert list(source.sentences("validation")) == expected["validation"]


def test_release_opens_as_a_corpus(tmp_path, cache_dir, no_network):
    expected = write_release(tmp_path)
    spec = DataSpec("lm1b", data_dir=str(tmp_path), vocab_size=300, validation_tokens=256)
    corpus = open_corpus(spec, cache_dir)
    assert corpus.stats.description.startswith("LM1B release")
    assert corpus.stats.train_sentences == len(expected["train"])
    tokens = corpus.validation_tokens.tolist()
    end = tokens.index(corpus.eos_id)  # EOS closes the first heldout sentence
    assert corpus.decode(tokens[:end]) == expected["validation"][0]


@pytest.mark.slow
def test_tfds_prepared_lm1b_is_read_offline(tmp_path, cache_dir, monkeypatch, no_network):
    import tensorflow_datasets as tfds

    expected = write_release(tmp_path / "release")
    # Prepare a real TFDS lm1b from our files: the builder's one download becomes our folder.
    monkeypatch.setattr(
        tfds.download.DownloadManager,
        "download_and_extract",
        lambda self, url: str(tmp_path / "release"),
    )
    tfds.builder("lm1b", data_dir=str(tmp_path / "tfds")).download_and_prepare()
    monkeypatch.undo()  # from here on only reading; the network guard is set again below
    monkeypatch.setattr(socket.socket, "connect", lambda *a: pytest.fail("network"))

    source = locate_lm1b([tmp_path / "tfds"])
    assert isinstance(source, Lm1bTfdsSource)
    # TFDS shuffles examples when preparing: same sentences, its own fixed order.
    train = list(source.sentences("train"))
    assert sorted(train) == sorted(expected["train"])
    assert train == list(source.sentences("train"))
    assert sorted(source.sentences("validation")) == sorted(expected["validation"])
    spec = DataSpec("lm1b", data_dir=str(tmp_path / "tfds"), vocab_size=300, validation_tokens=256)
    corpus = open_corpus(spec, cache_dir)
    assert corpus.stats.description.startswith("LM1B (TFDS)")
    assert corpus.stats.train_sentences == len(expected["train"])


def test_missing_lm1b_is_a_clear_error_not_a_hang(tmp_path, cache_dir, monkeypatch, no_network):
    monkeypatch.setattr(Path, "home", lambda: tmp_path / "home")
    with deadline(30), pytest.raises(DataNotFoundError) as error:
        open_corpus(DataSpec("lm1b"), cache_dir)
    message = str(error.value)
    assert str(cache_dir / "lm1b") in message
    assert str(tmp_path / "home" / "tensorflow_datasets") in message
    assert f"download_and_prepare --datasets=lm1b --data_dir={cache_dir / 'lm1b'}" in message
    assert RELEASE_URL in message

    with deadline(30), pytest.raises(DataNotFoundError, match=str(tmp_path / "nowhere")):
        open_corpus(DataSpec("lm1b", data_dir=str(tmp_path / "nowhere")), cache_dir)


def test_downloads_only_when_asked(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(lm1b, "load_tfds_lm1b", lambda *args, **kw: calls.append((args, kw)))
    with pytest.raises(DataNotFoundError):
        locate_lm1b([tmp_path])
    assert calls == []
    source = locate_lm1b([tmp_path], download=True)
    assert calls == [((tmp_path.resolve(), "train"), {"download": True})]
    assert isinstance(source, Lm1bTfdsSource)
