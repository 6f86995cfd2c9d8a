"""Tokenized shards: a split as one flat .npy of int32 token ids, EOS after every sentence.

Written once per (corpus, tokenizer) and memory-mapped afterwards, so the second candidate (or
the second process) opens a tokenized LM1B in milliseconds instead of re-tokenizing it. The ids
are streamed to a raw temporary file while we tokenize (a split need not fit in memory), then
given their .npy header and moved into place atomically.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain, islice
from pathlib import Path
from typing import Any

import numpy as np

from primer_search.data.cache import atomic_output, temporary_path
from primer_search.data.tokenizer import Tokenizer

TOKEN_DTYPE = np.dtype("<i4")
CHUNK_SENTENCES = 8192


@dataclass(frozen=True)
class ShardInfo:
    tokens: int
    sentences: int
    sha256: str  # of the little-endian int32 ids, without the .npy header

    def to_dict(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "sentences": self.sentences, "sha256": self.sha256}

    @staticmethod
    def from_dict(value: dict[str, Any]) -> ShardInfo:
        return ShardInfo(int(value["tokens"]), int(value["sentences"]), str(value["sha256"]))


def write_shard(
    path: Path, sentences: Iterator[str], tokenizer: Tokenizer, max_tokens: int | None = None
) -> ShardInfo:
    """Tokenize `sentences` into `path`; stop after `max_tokens` ids (then cut exactly there)."""
    digest = hashlib.sha256()
    tokens = count = 0
    eos = tokenizer.eos_id
    with temporary_path(path.parent, path.name + ".raw") as raw:
        with open(raw, "wb") as handle:
            while max_tokens is None or tokens < max_tokens:
                chunk = list(islice(sentences, CHUNK_SENTENCES))
                if not chunk:
                    break
                ids = np.fromiter(
                    chain.from_iterable(s + [eos] for s in tokenizer.encode_batch(chunk)),
                    dtype=TOKEN_DTYPE,
                )
                if max_tokens is not None:
                    ids = ids[: max_tokens - tokens]
                data = ids.tobytes()
                handle.write(data)
                digest.update(data)
                tokens += len(ids)
                count += len(chunk)
        with atomic_output(path) as temp, open(temp, "wb") as out, open(raw, "rb") as source:
            header = {"descr": TOKEN_DTYPE.str, "fortran_order": False, "shape": (tokens,)}
            np.lib.format.write_array_header_1_0(out, header)
            shutil.copyfileobj(source, out, length=1 << 22)
    return ShardInfo(tokens, count, digest.hexdigest())


def load_shard(path: Path) -> np.ndarray:
    """The ids, memory-mapped read-only (pages are read on demand and shared between processes)."""
    return np.load(path, mmap_mode="r")
