"""A source of sentences: the one interface that the builtin corpus, LM1B and plain text files
share. Everything after it (tokenizer, shards, tf.data) is the same for all of them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal, Protocol

Split = Literal["train", "validation"]
SPLITS: tuple[Split, ...] = ("train", "validation")


class SentenceSource(Protocol):
    """Sentences of one corpus, one str per sentence (or line), in a fixed order per split."""

    @property
    def kind(self) -> str:
        """Short name of the source type; prefixes its cache folder."""
        ...

    def fingerprint(self) -> dict[str, Any]:
        """A cheap, JSON-able description that changes whenever the data could have changed
        (paths, sizes and mtimes, or a content hash). It keys the on-disk caches."""
        ...

    def describe(self) -> str:
        """A short human description, for logs and error messages."""
        ...

    def sentences(self, split: Split) -> Iterator[str]:
        """Non-empty, stripped sentences of `split`, always in the same order."""
        ...


def clean_lines(lines: Iterator[str]) -> Iterator[str]:
    """Strip each line and drop the empty ones (blank lines carry no sentence)."""
    for line in lines:
        text = line.strip()
        if text:
            yield text
