"""A corpus ready for training: its tokenizer, its tokenized splits, and the tf.data pipelines.

`open_corpus(spec, cache_dir)` is the entry point. The first open of a corpus trains the
tokenizer and tokenizes both splits into `cache_dir/corpora/<key>/`; every later open (another
candidate, another process, another machine sharing the folder) memory-maps what is there and
starts in well under a second. The key covers everything that changes the tokens: the data's
identity (file paths, sizes and mtimes, or a content hash for the builtin corpus), the training
sentence cap and the tokenizer options.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from primer_search.data import pipeline
from primer_search.data.builtin import BuiltinSource, builtin_corpus_files
from primer_search.data.cache import (
    atomic_output,
    build_lock,
    read_json,
    stable_hash,
    write_json_atomic,
)
from primer_search.data.lm1b import locate_lm1b
from primer_search.data.shards import ShardInfo, load_shard, write_shard
from primer_search.data.source import SentenceSource
from primer_search.data.text import TextSource
from primer_search.data.tokenizer import Tokenizer, TokenizerOptions, train_tokenizer
from primer_search.errors import ConfigError, DataError

if TYPE_CHECKING:
    import tensorflow as tf

# Bump when the shard layout or the packing of sentences into ids changes.
SHARD_FORMAT_VERSION = 1
SOURCES = ("builtin", "lm1b", "text")


@dataclass(frozen=True)
class DataSpec:
    """Which corpus to train on and how to tokenize it. `data_dir`: for lm1b, the folder that
    holds a TFDS `lm1b/` or the raw release (default: `<cache_dir>/lm1b`, then
    `~/tensorflow_datasets`)."""

    source: str  # "builtin" | "lm1b" | "text"
    train_paths: tuple[str, ...] = ()
    validation_paths: tuple[str, ...] = ()  # text: none = hold out the training files' tail
    data_dir: str | None = None
    vocab_size: int = 2048
    max_train_sentences: int | None = None  # the first N training sentences, for quick runs
    validation_tokens: int = 65_536  # size of the fixed validation set (16 x 4,096)
    download: bool = False  # lm1b only: fetch it with TFDS when absent (never by default)
    holdout_fraction: float = 0.05
    tokenizer_sample_sentences: int = 500_000

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(f"data source must be one of {SOURCES}, got {self.source!r}")
        object.__setattr__(self, "train_paths", tuple(str(p) for p in self.train_paths))
        object.__setattr__(self, "validation_paths", tuple(str(p) for p in self.validation_paths))
        if self.source == "text" and not self.train_paths:
            raise ConfigError("data source 'text' needs train_paths (one or more text files)")
        if self.source != "text" and (self.train_paths or self.validation_paths):
            raise ConfigError(f"train/validation paths are for source 'text', not {self.source!r}")
        if self.max_train_sentences is not None and self.max_train_sentences < 1:
            raise ConfigError(
                f"max_train_sentences must be >= 1 or None, got {self.max_train_sentences}"
            )
        if self.validation_tokens < 1:
            raise ConfigError(f"validation_tokens must be >= 1, got {self.validation_tokens}")
        self.tokenizer_options()  # validates vocab_size and the sample size

    def tokenizer_options(self, num_threads: int = 1) -> TokenizerOptions:
        return TokenizerOptions(
            vocab_size=self.vocab_size,
            sample_sentences=self.tokenizer_sample_sentences,
            num_threads=num_threads,
        )


@dataclass(frozen=True)
class CorpusStats:
    """What opening the corpus cost, and whether it came from the cache."""

    description: str
    folder: str
    train_tokens: int
    train_sentences: int
    validation_tokens: int
    tokenizer_trained: bool  # False: the tokenizer came from the cache
    shards_built: bool  # False: both token shards came from the cache
    generation_seconds: float  # builtin corpus text (0.0 when cached)
    tokenizer_seconds: float  # 0.0 when cached
    tokenize_seconds: float  # 0.0 when cached
    open_seconds: float  # the whole open_corpus call


class TokenizedCorpus:
    """A tokenizer and the token ids of both splits; builds the training and validation data.

    `identity` hashes what the model will see (the tokenizer's pieces and the ids of both
    splits), so it is the same wherever the same data lies and is a sound fitness-cache key.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        train_tokens: np.ndarray,
        validation_tokens: np.ndarray,
        identity: str,
        stats: CorpusStats,
    ):
        self.tokenizer = tokenizer
        self.train_tokens = train_tokens  # (N,) int32, memory-mapped
        self.validation_tokens = validation_tokens  # (validation_tokens + 1,) int32 at most
        self.identity = identity
        self.stats = stats
        self.vocab_size: int = tokenizer.vocab_size  # the real size (a small corpus may get less)

    @property
    def eos_id(self) -> int:
        return self.tokenizer.eos_id

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def decode(self, ids: Any) -> str:
        return self.tokenizer.decode(np.asarray(ids).reshape(-1).tolist())

    def train_batches(
        self, seq_len: int, batch_tokens: int, seed: int, skip_batches: int = 0
    ) -> pipeline.TrainBatches:
        """The training batches as numpy arrays (what train_dataset wraps)."""
        return pipeline.TrainBatches(self.train_tokens, seq_len, batch_tokens, seed, skip_batches)

    def train_dataset(
        self, seq_len: int, batch_tokens: int, seed: int, skip_batches: int = 0
    ) -> tf.data.Dataset:
        """Endless, shuffled by `seed`: int32 (batch_tokens // seq_len, seq_len + 1) batches.
        `skip_batches` starts at that batch of the same sequence (resume without replaying)."""
        return pipeline.train_dataset(self.train_tokens, seq_len, batch_tokens, seed, skip_batches)

    def validation_batches(self, seq_len: int, batch_tokens: int) -> np.ndarray:
        """The fixed validation set: (batches, batch_tokens // seq_len, seq_len + 1) int32."""
        return pipeline.validation_batches(self.validation_tokens, seq_len, batch_tokens)

    def validation_dataset(self, seq_len: int, batch_tokens: int) -> tf.data.Dataset:
        """Finite and fixed: the first validation_tokens targets of the validation split, in
        order; a final partial batch is dropped (none when validation_tokens is a multiple)."""
        return pipeline.validation_dataset(self.validation_tokens, seq_len, batch_tokens)


def make_source(spec: DataSpec, cache_dir: Path) -> tuple[SentenceSource, float]:
    """The spec's sentences, and the seconds spent generating them (builtin, first time)."""
    if spec.source == "builtin":
        files = builtin_corpus_files(cache_dir)
        return BuiltinSource(files), files.generation_seconds
    if spec.source == "lm1b":
        search = (
            [Path(spec.data_dir)]
            if spec.data_dir
            else [cache_dir / "lm1b", Path.home() / "tensorflow_datasets"]
        )
        return locate_lm1b(search, download=spec.download), 0.0
    train = tuple(Path(p) for p in spec.train_paths)
    validation = tuple(Path(p) for p in spec.validation_paths)
    return TextSource(train, validation, spec.holdout_fraction), 0.0


class _CorpusFolder:
    """The cached artifacts of one corpus key; each is complete once its JSON manifest exists."""

    def __init__(self, folder: Path, validation_tokens: int):
        self.folder = folder
        self.tokenizer = folder / "tokenizer.model"
        self.tokenizer_manifest = folder / "tokenizer.json"
        self.train = folder / "train.npy"
        self.train_manifest = folder / "train.json"
        self.validation = folder / f"validation-{validation_tokens}.npy"
        self.validation_manifest = folder / f"validation-{validation_tokens}.json"

    def manifests(self) -> tuple[dict[str, Any], ...] | None:
        found = []
        for manifest, artifact in (
            (self.tokenizer_manifest, self.tokenizer),
            (self.train_manifest, self.train),
            (self.validation_manifest, self.validation),
        ):
            value = read_json(manifest)
            if value is None or not artifact.exists():
                return None
            found.append(value)
        return tuple(found)


def open_corpus(
    spec: DataSpec, cache_dir: str | Path, num_threads: int | None = None
) -> TokenizedCorpus:
    """Open (building on first use) the tokenized corpus of `spec` under `cache_dir`."""
    start = time.perf_counter()
    cache_dir = Path(cache_dir).expanduser()
    source, generation_seconds = make_source(spec, cache_dir)
    threads = num_threads or min(os.cpu_count() or 1, 8)
    options = spec.tokenizer_options(threads)
    key = stable_hash(
        {
            "format": SHARD_FORMAT_VERSION,
            "source": source.fingerprint(),
            "max_train_sentences": spec.max_train_sentences,
            "tokenizer": options.cache_key(),
        }
    )
    paths = _CorpusFolder(
        cache_dir / "corpora" / f"{source.kind}-v{spec.vocab_size}-{key}", spec.validation_tokens
    )
    built: dict[str, float] = {}
    manifests = paths.manifests()
    if manifests is None:
        with build_lock(paths.folder):
            built = _build(paths, source, spec, options)
            manifests = paths.manifests()
            assert manifests is not None, "every artifact was just built"
    tokenizer_info, train_info, validation_info = manifests
    tokenizer = Tokenizer.load(paths.tokenizer, threads)
    train, validation = ShardInfo.from_dict(train_info), ShardInfo.from_dict(validation_info)
    identity = stable_hash(
        {
            "format": SHARD_FORMAT_VERSION,
            "tokenizer": tokenizer_info["digest"],
            "train": train.sha256,
            "validation": validation.sha256,
        },
        length=32,
    )
    stats = CorpusStats(
        description=source.describe(),
        folder=str(paths.folder),
        train_tokens=train.tokens,
        train_sentences=train.sentences,
        validation_tokens=max(0, validation.tokens - 1),
        tokenizer_trained="tokenizer" in built,
        shards_built="shards" in built,
        generation_seconds=generation_seconds,
        tokenizer_seconds=built.get("tokenizer", 0.0),
        tokenize_seconds=built.get("shards", 0.0),
        open_seconds=time.perf_counter() - start,
    )
    return TokenizedCorpus(
        tokenizer, load_shard(paths.train), np.load(paths.validation), identity, stats
    )


def _build(
    paths: _CorpusFolder, source: SentenceSource, spec: DataSpec, options: TokenizerOptions
) -> dict[str, float]:
    """Build what is missing (we hold the folder's lock); return seconds spent per step."""
    seconds: dict[str, float] = {}

    def train_sentences() -> Iterator[str]:
        return islice(source.sentences("train"), spec.max_train_sentences)

    if read_json(paths.tokenizer_manifest) is None or not paths.tokenizer.exists():
        start = time.perf_counter()
        tokenizer = train_tokenizer(train_sentences(), options)
        with atomic_output(paths.tokenizer) as temp:
            temp.write_bytes(tokenizer.model_bytes)
        seconds["tokenizer"] = time.perf_counter() - start
        write_json_atomic(
            paths.tokenizer_manifest,
            {
                "digest": tokenizer.digest(),
                "vocab_size": tokenizer.vocab_size,
                "options": options.cache_key(),
                "seconds": seconds["tokenizer"],
            },
        )
        # Shards tokenized by another tokenizer (a crash between steps) must not survive.
        for stale in paths.folder.glob("*.json"):
            if stale != paths.tokenizer_manifest:
                stale.unlink(missing_ok=True)
    tokenizer = Tokenizer.load(paths.tokenizer, options.num_threads)
    shards: tuple[tuple[Path, Path, Callable[[], Iterator[str]], int | None], ...] = (
        (paths.train_manifest, paths.train, train_sentences, None),
        (
            paths.validation_manifest,
            paths.validation,
            lambda: source.sentences("validation"),
            spec.validation_tokens + 1,  # N targets need N + 1 tokens
        ),
    )
    for manifest, shard, sentences, limit in shards:
        if read_json(manifest) is None or not shard.exists():
            start = time.perf_counter()
            info = write_shard(shard, sentences(), tokenizer, max_tokens=limit)
            if info.tokens < 2:
                raise DataError(f"{source.describe()}: a split gave {info.tokens} token(s)")
            write_json_atomic(manifest, info.to_dict())
            seconds["shards"] = seconds.get("shards", 0.0) + time.perf_counter() - start
    return seconds


def parse_data_arg(value: str, vocab_size: int = 2048) -> DataSpec:
    """The CLI's --data: `builtin`, `lm1b`, `lm1b:DIR`, `TRAIN,VALID` (two text files), or
    `PATH` (one text file; its last 5% of lines is the validation split)."""
    text = value.strip()
    if not text:
        raise DataError("--data is empty; use builtin, lm1b, lm1b:DIR, PATH or TRAIN,VALID")
    if text == "builtin":
        return DataSpec("builtin", vocab_size=vocab_size)
    if text == "lm1b":
        return DataSpec("lm1b", vocab_size=vocab_size)
    if text.startswith("lm1b:"):
        return DataSpec("lm1b", data_dir=text[len("lm1b:") :], vocab_size=vocab_size)
    parts = [part.strip() for part in text.split(",")]
    if len(parts) > 2 or not all(parts):
        raise DataError(
            f"--data {value!r}: expected one text file or TRAIN,VALID (two files), "
            "or builtin, lm1b, lm1b:DIR"
        )
    for part in parts:
        if not Path(part).expanduser().is_file():
            raise DataError(
                f"--data {value!r}: {part!r} is not a file; expected builtin, lm1b, lm1b:DIR, "
                "a text file (one sentence per line) or TRAIN,VALID"
            )
    return DataSpec(
        "text", train_paths=(parts[0],), validation_paths=tuple(parts[1:]), vocab_size=vocab_size
    )
