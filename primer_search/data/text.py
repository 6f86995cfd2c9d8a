"""Plain text files as a corpus: one sentence (or line, or paragraph) per line.

With validation files, each split reads its own files in the order given. With none, the LAST
`holdout_fraction` of the training lines (non-empty, at least one) is held out for validation:
a tail rather than a random sample, so it is the same on every run and every machine, and a
corpus whose end is unlike its start (a book, a wiki dump in page order) is at least honest
about it instead of leaking neighbouring lines into training.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from primer_search.data.source import Split, clean_lines
from primer_search.errors import ConfigError, DataError, DataNotFoundError


def file_fingerprint(path: Path) -> dict[str, Any]:
    """What keys a cache on a file we do not hash: where it is, how big, when it last changed."""
    stat = path.stat()
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def read_sentences(paths: tuple[Path, ...]) -> Iterator[str]:
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as handle:
            yield from clean_lines(handle)


def missing_files(paths: tuple[Path, ...]) -> list[Path]:
    return [path for path in paths if not path.is_file()]


@dataclass(frozen=True)
class TextSource:
    train_paths: tuple[Path, ...]
    validation_paths: tuple[Path, ...] = ()
    holdout_fraction: float = 0.05
    kind: str = "text"

    def __post_init__(self) -> None:
        if not self.train_paths:
            raise ConfigError("a text corpus needs at least one training file, got none")
        if not 0.0 < self.holdout_fraction <= 0.5:
            raise ConfigError(f"holdout_fraction must lie in (0, 0.5], got {self.holdout_fraction}")
        resolved = tuple(Path(p).expanduser().resolve() for p in self.train_paths)
        object.__setattr__(self, "train_paths", resolved)
        resolved = tuple(Path(p).expanduser().resolve() for p in self.validation_paths)
        object.__setattr__(self, "validation_paths", resolved)
        missing = missing_files(self.train_paths + self.validation_paths)
        if missing:
            raise DataNotFoundError(
                "text corpus file(s) not found: " + ", ".join(str(p) for p in missing)
            )

    def fingerprint(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "train": [file_fingerprint(p) for p in self.train_paths],
            "validation": [file_fingerprint(p) for p in self.validation_paths],
            "holdout_fraction": None if self.validation_paths else self.holdout_fraction,
        }

    def describe(self) -> str:
        train = ", ".join(str(p) for p in self.train_paths)
        if self.validation_paths:
            return (
                f"text files (train: {train}; validation: "
                + ", ".join(str(p) for p in self.validation_paths)
                + ")"
            )
        return f"text files ({train}; the last {self.holdout_fraction:.0%} held out)"

    def sentences(self, split: Split) -> Iterator[str]:
        if self.validation_paths:
            paths = self.train_paths if split == "train" else self.validation_paths
            return read_sentences(paths)
        total = sum(1 for _ in read_sentences(self.train_paths))
        if total < 2:
            raise DataError(
                f"{self.describe()} has {total} non-empty line(s); holding out a validation "
                "tail needs at least 2 (or give a validation file: --data TRAIN,VALID)"
            )
        held_out = max(1, round(total * self.holdout_fraction))
        lines = read_sentences(self.train_paths)
        if split == "train":
            return islice(lines, total - held_out)
        return islice(lines, total - held_out, None)
