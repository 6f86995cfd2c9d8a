"""LM1B (the One Billion Word benchmark, Chelba et al. 2013), the paper's corpus (PRIMER.md
section 4), read from either of the two places it is usually found:

- a TensorFlow Datasets copy prepared with `tfds build lm1b` (splits "train" and "test"), read
  with `download=False` so that opening it never touches the network;
- the original release, unpacked: `1-billion-word-language-modeling-benchmark-r13output/` with
  `training-monolingual.tokenized.shuffled/news.en-*` (train) and
  `heldout-monolingual.tokenized.shuffled/news.en.heldout-*` (validation). Files are read in
  sorted order, so validation starts with `news.en.heldout-00000-of-00050`, the file that
  Tensor2Tensor (the paper's pipeline) evaluates on.

The two are not interchangeable: TFDS shuffles examples when it prepares the data, so the first
tokens of its "test" split (our fixed validation set) differ from the raw heldout-00000, and so
do the corpus identities and any fitness cached under them.

Nothing here downloads unless the caller asks (`download=True`); when LM1B is absent we raise
DataNotFoundError, which says where we looked and the command that fetches it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from primer_search.data.cache import file_sha256
from primer_search.data.source import SentenceSource, Split, clean_lines
from primer_search.data.text import file_fingerprint
from primer_search.errors import DataError, DataNotFoundError

RELEASE_DIR = "1-billion-word-language-modeling-benchmark-r13output"
TRAIN_GLOB = "training-monolingual.tokenized.shuffled/news.en-*"
HELDOUT_GLOB = "heldout-monolingual.tokenized.shuffled/news.en.heldout-*"
RELEASE_URL = f"http://www.statmt.org/lm-benchmark/{RELEASE_DIR}.tar.gz"
TFDS_NAME = "lm1b"
TFDS_SPLITS: dict[Split, str] = {"train": "train", "validation": "test"}


@dataclass(frozen=True)
class Lm1bReleaseSource:
    """The unpacked original release."""

    release_dir: Path
    kind: str = "lm1b-raw"

    def files(self, split: Split) -> list[Path]:
        pattern = TRAIN_GLOB if split == "train" else HELDOUT_GLOB
        return sorted(self.release_dir.glob(pattern))

    def fingerprint(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "train": [file_fingerprint(p) for p in self.files("train")],
            "validation": [file_fingerprint(p) for p in self.files("validation")],
        }

    def describe(self) -> str:
        return f"LM1B release at {self.release_dir}"

    def sentences(self, split: Split) -> Iterator[str]:
        for path in self.files(split):
            with open(path, encoding="utf-8", errors="replace") as handle:
                yield from clean_lines(handle)


@dataclass(frozen=True)
class Lm1bTfdsSource:
    """A TFDS-prepared lm1b under `data_dir` (the folder that holds `lm1b/`)."""

    data_dir: Path
    kind: str = "lm1b-tfds"

    def fingerprint(self) -> dict[str, Any]:
        infos = sorted(self.data_dir.glob(f"{TFDS_NAME}/**/dataset_info.json"))
        return {
            "kind": self.kind,
            "data_dir": str(self.data_dir),
            # dataset_info.json records every shard's length and byte size.
            "info": {str(p.relative_to(self.data_dir)): file_sha256(p) for p in infos},
        }

    def describe(self) -> str:
        return f"LM1B (TFDS) in {self.data_dir}"

    def sentences(self, split: Split) -> Iterator[str]:
        dataset = load_tfds_lm1b(self.data_dir, TFDS_SPLITS[split], download=False)
        import tensorflow_datasets as tfds

        for example in tfds.as_numpy(dataset):
            text = example["text"].decode("utf-8", errors="replace").strip()
            if text:
                yield text


def load_tfds_lm1b(data_dir: Path, split: str, download: bool) -> Any:
    """`tfds.load` of lm1b, in file order; downloads (about 1.7 GB) only when `download`."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:  # pragma: no cover - the cpu/gpu extras install it
        raise DataError(
            "reading LM1B through TFDS needs tensorflow-datasets: pip install tensorflow-datasets"
        ) from error
    return tfds.load(
        TFDS_NAME,
        split=split,
        data_dir=str(data_dir),
        download=download,
        shuffle_files=False,
        try_gcs=False,
    )


def find_release(folder: Path) -> Path | None:
    """The release folder when `folder` is it or holds it, with at least one training file."""
    for candidate in (folder, folder / RELEASE_DIR):
        if any(candidate.glob(TRAIN_GLOB)):
            return candidate
    return None


def has_tfds_lm1b(folder: Path) -> bool:
    return any(folder.glob(f"{TFDS_NAME}/**/dataset_info.json"))


def locate_lm1b(search_dirs: list[Path], download: bool = False) -> SentenceSource:
    """The first LM1B found in `search_dirs` (TFDS copy first, then the raw release).

    With `download`, a missing corpus is fetched and prepared by TFDS into `search_dirs[0]`.
    """
    assert search_dirs, "locate_lm1b needs at least one folder to look in"
    folders = [Path(d).expanduser().resolve() for d in search_dirs]
    for folder in folders:
        if has_tfds_lm1b(folder):
            return Lm1bTfdsSource(folder)
        release = find_release(folder)
        if release is not None:
            return Lm1bReleaseSource(release)
    if download:
        target = folders[0]
        target.mkdir(parents=True, exist_ok=True)
        load_tfds_lm1b(target, "train", download=True)
        return Lm1bTfdsSource(target)
    raise DataNotFoundError(not_found_message(folders))


def not_found_message(folders: list[Path]) -> str:
    target = folders[0]
    looked = "\n".join(
        f"  - {folder}: no {folder / TFDS_NAME}/<version>/dataset_info.json (TFDS) and no "
        f"{folder / RELEASE_DIR}/{TRAIN_GLOB} (raw release)"
        for folder in folders
    )
    return (
        f"LM1B was not found. Looked in:\n{looked}\n"
        "Fetch it (about 1.7 GB download, 4 GB on disk) with one of:\n"
        f"  python -m tensorflow_datasets.scripts.download_and_prepare "
        f"--datasets={TFDS_NAME} --data_dir={target}\n"
        f"  curl -L {RELEASE_URL} | tar xz -C {target}\n"
        "then point the data dir at that folder (or ask for the download explicitly; "
        "nothing is downloaded unless asked)."
    )
