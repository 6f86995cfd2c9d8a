"""The subword tokenizer: a SentencePiece model trained on a bounded sample of the training split.

Choices, and why:
- BPE, not unigram. Its pieces do not depend on the number of training threads (we checked: the
  unigram trainer's pieces change with `num_threads`, BPE's do not), so the same input gives the
  same tokenizer on every machine while training still uses all cores. It also fills the asked
  vocabulary exactly on small corpora, where the unigram trainer stops short (1,552 of 2,048 on
  the builtin corpus) and splits even frequent words.
- byte fallback: a character outside the vocabulary becomes its UTF-8 bytes, never <unk>, so
  the tokenizer is invertible like Tensor2Tensor's subword encoder was, and rare characters cost
  the model honest log-probability instead of hiding in one <unk> id.
- ids: 0 = <unk>, 1 = </s> (EOS, appended after every sentence); no BOS, no padding (the
  pipeline packs sentences, it never pads).
- the sample: a reservoir sample (fixed seed) of `sample_sentences` training sentences, so a
  corpus sorted by topic is sampled evenly and the result is deterministic.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sentencepiece as spm

from primer_search.data.cache import stable_hash
from primer_search.errors import ConfigError, DataError

UNK_ID = 0
EOS_ID = 1
MODEL_TYPES = ("bpe", "unigram")
SAMPLE_SEED = 0


@dataclass(frozen=True)
class TokenizerOptions:
    vocab_size: int = 2048
    model_type: str = "bpe"
    character_coverage: float = 0.9995
    byte_fallback: bool = True
    sample_sentences: int = 500_000
    num_threads: int = 2  # training and encoding; does not change a BPE model

    def __post_init__(self) -> None:
        if self.model_type not in MODEL_TYPES:
            raise ConfigError(f"model_type must be one of {MODEL_TYPES}, got {self.model_type!r}")
        minimum = 260 + 2 if self.byte_fallback else 64
        if self.vocab_size < minimum:
            raise ConfigError(
                f"vocab_size must be >= {minimum} (byte_fallback={self.byte_fallback} reserves "
                f"256 byte pieces), got {self.vocab_size}"
            )
        if not 0.9 <= self.character_coverage <= 1.0:
            raise ConfigError(
                f"character_coverage must lie in [0.9, 1.0], got {self.character_coverage}"
            )
        for name in ("sample_sentences", "num_threads"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")

    def cache_key(self) -> dict[str, Any]:
        """The options that change the trained model (threads only matter for unigram)."""
        key = asdict(self)
        if self.model_type == "bpe":
            del key["num_threads"]
        return key


class Tokenizer:
    """A trained SentencePiece model: text <-> ids."""

    def __init__(self, model_bytes: bytes, num_threads: int = 1):
        self.model_bytes = model_bytes
        self._processor = spm.SentencePieceProcessor(model_proto=model_bytes)
        self._num_threads = num_threads

    @classmethod
    def load(cls, path: Path, num_threads: int = 1) -> Tokenizer:
        return cls(path.read_bytes(), num_threads)

    @property
    def vocab_size(self) -> int:
        return int(self._processor.get_piece_size())

    @property
    def eos_id(self) -> int:
        return EOS_ID

    def encode(self, text: str) -> list[int]:
        return list(self._processor.encode(text))

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        return self._processor.encode(list(texts), num_threads=self._num_threads)

    def decode(self, ids: Iterable[int]) -> str:
        return str(self._processor.decode([int(i) for i in ids]))

    def digest(self) -> str:
        """A hash of what the model does (pieces, scores, types), not of its bytes: the stored
        model also records incidental training settings such as the thread count."""
        processor = self._processor
        pieces = [
            [processor.id_to_piece(i), round(float(processor.get_score(i)), 6)]
            for i in range(self.vocab_size)
        ]
        return stable_hash({"pieces": pieces, "eos": EOS_ID, "unk": UNK_ID}, length=64)


def reservoir_sample(items: Iterator[str], size: int, seed: int = SAMPLE_SEED) -> list[str]:
    """A uniform sample of `size` items in one pass (Algorithm R), kept in stream order.

    Everything when the stream is shorter; the same stream and seed always give the same sample.
    """
    rng = random.Random(seed)
    sample: list[tuple[int, str]] = []
    for index, item in enumerate(items):
        if index < size:
            sample.append((index, item))
        else:
            slot = rng.randrange(index + 1)
            if slot < size:
                sample[slot] = (index, item)
    return [item for _, item in sorted(sample)]


def train_tokenizer(sentences: Iterator[str], options: TokenizerOptions) -> Tokenizer:
    """Train on a reservoir sample of `sentences`; deterministic for the same input."""
    sample = reservoir_sample(sentences, options.sample_sentences)
    if not sample:
        raise DataError("cannot train a tokenizer: the training split has no sentences")
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(sample),
            model_writer=model,
            vocab_size=options.vocab_size,
            model_type=options.model_type,
            character_coverage=options.character_coverage,
            byte_fallback=options.byte_fallback,
            unk_id=UNK_ID,
            eos_id=EOS_ID,
            bos_id=-1,
            pad_id=-1,
            input_sentence_size=0,  # we sampled already; SentencePiece must not resample
            shuffle_input_sentence=False,
            hard_vocab_limit=False,  # a small corpus gets a smaller vocabulary, not an error
            num_threads=options.num_threads,
            minloglevel=2,
        )
    except RuntimeError as error:
        raise DataError(
            f"SentencePiece could not train a vocabulary of {options.vocab_size} pieces on "
            f"{len(sample)} sentences: {error}"
        ) from error
    return Tokenizer(model.getvalue(), options.num_threads)
