"""The built-in corpus: generated text, for the demo and the tests, that needs no download.

This is a STAND-IN for LM1B, not a benchmark of language. Its sentences are made by a small
probabilistic grammar over an invented lexicon, and they carry on purpose the structures that make
one decoder block better than another, so that a search on it is not a search on noise:

- local statistics: Zipf-distributed words, each noun with favourite adjectives and each verb
  with favourite objects, so bigram models already do much better than unigram ones;
- long-range agreement: a subject's number (the noun's "-s", sometimes its determiner) decides
  the main verb's form many words later, across prepositional phrases whose nouns often have the
  other number (attractors);
- nesting: centre-embedded relative clauses ("the N1 that the N2 that the N3 V3 V2 V1 ...")
  whose verbs agree with their nouns in stack order, and nested brackets of three kinds that
  must be closed in the right order;
- copying: a random phrase of 3-10 words that is said and then repeated verbatim later in the
  sentence; the first copy is unpredictable, the second is predictable only by looking back.

A model's perplexity here says how well it learns these rules, nothing about English. The text
is a pure function of GENERATOR_VERSION and the sizes below: randomness comes from a numpy PCG64
stream drawn in bulk (fixed bit stream, same on every machine) and words are looked up by index,
never through `hash()` of a str.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from primer_search.data.cache import (
    atomic_output,
    build_lock,
    file_sha256,
    read_json,
    stable_hash,
    write_json_atomic,
)
from primer_search.data.source import Split
from primer_search.data.text import read_sentences

# Bump when the generated text changes in any way; it is part of every cache key.
GENERATOR_VERSION = 1

LEXICON_SEED = 0
TRAIN_SEED = 1
VALIDATION_SEED = 2
TRAIN_SENTENCES = 60_000  # about 5.5 MB of text
VALIDATION_SENTENCES = 6_000  # about 0.5 MB: over 65,536 tokens at every useful vocabulary size

PREPOSITIONS = ("near", "behind", "under", "beside", "above", "with", "beyond", "around")
SINGULAR_DETERMINERS = ("the", "the", "a", "every", "this")
PLURAL_DETERMINERS = ("the", "the", "some", "many", "these")
BRACKETS = (("(", ")"), ("[", "]"), ("{", "}"))
SAY_VERBS = ("said", "wrote", "whispered", "announced")
REPEAT_VERBS = ("repeated", "copied", "echoed", "confirmed")

_SINGLE_ONSETS = ("b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "t", "v", "w", "z")
_ONSETS = _SINGLE_ONSETS + ("br", "dr", "fl", "gr", "kl", "pl", "pr", "st", "tr", "sk", "sn", "sp")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "oo", "ou", "ie")
_CODAS = ("", "", "n", "r", "l", "m", "k", "t", "nd", "rk", "lt", "mp")


class _Uniforms:
    """Uniform doubles in [0, 1) from numpy's PCG64, drawn 64K at a time (fast in pure Python)."""

    def __init__(self, seed: int):
        self._rng = np.random.Generator(np.random.PCG64(seed))
        self._buffer: list[float] = []
        self._next = 0

    def random(self) -> float:
        if self._next == len(self._buffer):
            self._buffer = self._rng.random(65_536).tolist()
            self._next = 0
        value = self._buffer[self._next]
        self._next += 1
        return value

    def below(self, n: int) -> int:
        return min(int(self.random() * n), n - 1)

    def between(self, low: int, high: int) -> int:
        """An integer in [low, high], both included."""
        return low + self.below(high - low + 1)

    def chance(self, p: float) -> bool:
        return self.random() < p

    def pick(self, items: Sequence[str]) -> str:
        return items[self.below(len(items))]

    def pick_weighted(self, cumulative: Sequence[float]) -> int:
        """An index drawn with probability proportional to the steps of `cumulative`."""
        return min(
            bisect.bisect_right(cumulative, self.random() * cumulative[-1]), len(cumulative) - 1
        )


def _zipf_cumulative(n: int, exponent: float = 1.0) -> list[float]:
    total, cumulative = 0.0, []
    for rank in range(n):
        total += 1.0 / (rank + 1) ** exponent
        cumulative.append(total)
    return cumulative


@dataclass(frozen=True)
class Lexicon:
    """Invented words by part of speech. Nouns and verbs never end in "s", so a final "s" marks a
    plural noun or a singular (third person) verb and nothing else."""

    nouns: tuple[str, ...]
    verbs: tuple[str, ...]
    adjectives: tuple[str, ...]
    adverbs: tuple[str, ...]
    names: tuple[str, ...]
    noun_adjectives: tuple[tuple[int, ...], ...]  # favourite adjectives of each noun
    verb_objects: tuple[tuple[int, ...], ...]  # favourite object nouns of each verb
    noun_weights: list[float] = field(repr=False, compare=False)
    verb_weights: list[float] = field(repr=False, compare=False)
    adjective_weights: list[float] = field(repr=False, compare=False)
    _noun_set: frozenset[str] = field(init=False, repr=False, compare=False)
    _verb_set: frozenset[str] = field(init=False, repr=False, compare=False)

    @staticmethod
    def generate(seed: int = LEXICON_SEED) -> Lexicon:
        rng = _Uniforms(seed)
        taken: set[str] = set(PREPOSITIONS + SINGULAR_DETERMINERS + PLURAL_DETERMINERS)
        taken |= {"that", "and", "again", "then"}

        def words(count: int, syllables: tuple[int, int], suffix: str = "") -> tuple[str, ...]:
            out: list[str] = []
            while len(out) < count:
                stem = "".join(
                    rng.pick(_ONSETS) + rng.pick(_VOWELS) + rng.pick(_CODAS)
                    for _ in range(rng.between(*syllables))
                )
                word = stem + suffix
                if word in taken or word.endswith("s") or word + "s" in taken:
                    continue
                taken.update({word, word + "s"})
                out.append(word)
            return tuple(out)

        nouns = words(500, (1, 2))
        verbs = words(250, (1, 2))
        adjectives = words(200, (1, 2))
        adverbs = words(60, (1, 2), suffix="ly")
        names = tuple(w.capitalize() for w in words(80, (2, 2)))
        noun_adjectives = tuple(tuple(rng.below(len(adjectives)) for _ in range(3)) for _ in nouns)
        verb_objects = tuple(tuple(rng.below(len(nouns)) for _ in range(8)) for _ in verbs)
        return Lexicon(
            nouns=nouns,
            verbs=verbs,
            adjectives=adjectives,
            adverbs=adverbs,
            names=names,
            noun_adjectives=noun_adjectives,
            verb_objects=verb_objects,
            noun_weights=_zipf_cumulative(len(nouns)),
            verb_weights=_zipf_cumulative(len(verbs)),
            adjective_weights=_zipf_cumulative(len(adjectives)),
        )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_noun_set", frozenset(self.nouns))
        object.__setattr__(self, "_verb_set", frozenset(self.verbs))

    def is_plural_noun(self, word: str) -> bool:
        return word.endswith("s") and word[:-1] in self._noun_set

    def is_singular_noun(self, word: str) -> bool:
        return word in self._noun_set

    def is_singular_verb(self, word: str) -> bool:
        return word.endswith("s") and word[:-1] in self._verb_set

    def is_plural_verb(self, word: str) -> bool:
        return word in self._verb_set


@dataclass(frozen=True)
class GeneratedSentence:
    """One sentence and, for the tests, where its rules apply (word indexes in text.split())."""

    text: str
    kind: str  # "agreement" | "nested" | "copy" | "brackets" | "simple"
    agreements: tuple[tuple[int, int], ...] = ()  # (subject noun, its verb)
    copies: tuple[tuple[int, int, int], ...] = ()  # (first start, second start, length)


class _SentenceMaker:
    """The grammar. Each method appends words to `self.words` and returns what tests check."""

    KINDS = ("agreement", "nested", "copy", "brackets", "simple")
    KIND_WEIGHTS = (0.35, 0.2, 0.2, 0.15, 0.1)

    def __init__(self, lexicon: Lexicon, seed: int):
        self.lex = lexicon
        self.rng = _Uniforms(seed)
        self.words: list[str] = []
        self._kind_cumulative = list(np.cumsum(self.KIND_WEIGHTS))

    def sentence(self) -> GeneratedSentence:
        self.words = []
        kind = self.KINDS[self.rng.pick_weighted(self._kind_cumulative)]
        agreements: tuple[tuple[int, int], ...] = ()
        copies: tuple[tuple[int, int, int], ...] = ()
        if kind == "agreement":
            agreements = self._agreement()
        elif kind == "nested":
            agreements = self._nested()
        elif kind == "copy":
            copies = self._copy()
        elif kind == "brackets":
            self._brackets()
        else:
            agreements = (self._clause(),)
        self.words.append(".")
        return GeneratedSentence(" ".join(self.words), kind, agreements, copies)

    # Building blocks ---------------------------------------------------------------------------

    def _noun(self, plural: bool) -> int:
        """Append a noun phrase; return the noun's index in the lexicon (its word is last)."""
        rng, lex = self.rng, self.lex
        self.words.append(rng.pick(PLURAL_DETERMINERS if plural else SINGULAR_DETERMINERS))
        noun = rng.pick_weighted(lex.noun_weights)
        if rng.chance(0.4):
            favourite = rng.chance(0.75)
            adjective = (
                lex.noun_adjectives[noun][rng.below(3)]
                if favourite
                else rng.pick_weighted(lex.adjective_weights)
            )
            self.words.append(lex.adjectives[adjective])
        self.words.append(lex.nouns[noun] + ("s" if plural else ""))
        return noun

    def _verb(self, plural: bool) -> int:
        verb = self.rng.pick_weighted(self.lex.verb_weights)
        self.words.append(self.lex.verbs[verb] + ("" if plural else "s"))
        return verb

    def _object(self, verb: int) -> None:
        rng, lex = self.rng, self.lex
        plural = rng.chance(0.4)
        self.words.append(rng.pick(PLURAL_DETERMINERS if plural else SINGULAR_DETERMINERS))
        if rng.chance(0.7):
            noun = lex.verb_objects[verb][rng.below(len(lex.verb_objects[verb]))]
        else:
            noun = rng.pick_weighted(lex.noun_weights)
        self.words.append(lex.nouns[noun] + ("s" if plural else ""))
        if rng.chance(0.2):
            self.words.append(rng.pick(lex.adverbs))

    def _clause(self) -> tuple[int, int]:
        plural = self.rng.chance(0.5)
        self._noun(plural)
        subject = len(self.words) - 1
        verb = self._verb(plural)
        self._object(verb)
        return (subject, subject + 1)

    # Sentence kinds ----------------------------------------------------------------------------

    def _agreement(self) -> tuple[tuple[int, int], ...]:
        """Subject, 1-4 modifiers (attractor nouns of the other number, 60%), then its verb."""
        rng = self.rng
        plural = rng.chance(0.5)
        self._noun(plural)
        subject = len(self.words) - 1
        pairs = []
        for _ in range(rng.between(1, 4)):
            if rng.chance(0.75):
                self.words.append(rng.pick(PREPOSITIONS))
                self._noun(not plural if rng.chance(0.6) else plural)
            else:  # a subject relative clause: its verb agrees with the same subject
                self.words.append("that")
                pairs.append((subject, len(self.words)))
                verb = self._verb(plural)
                self._object(verb)
        pairs.append((subject, len(self.words)))
        verb = self._verb(plural)
        self._object(verb)
        return tuple(pairs)

    def _nested(self) -> tuple[tuple[int, int], ...]:
        """Centre embedding: N1 that N2 that N3 V3 V2 V1; verbs agree in stack order."""
        rng = self.rng
        depth = rng.between(2, 4)
        subjects = []
        for level in range(depth):
            if level:
                self.words.append("that")
            plural = rng.chance(0.5)
            self._noun(plural)
            subjects.append((len(self.words) - 1, plural))
        pairs = []
        for subject, plural in reversed(subjects):
            pairs.append((subject, len(self.words)))
            verb = self._verb(plural)
        self._object(verb)
        return tuple(pairs)

    def _copy(self) -> tuple[tuple[int, int, int], ...]:
        """NAME said : <random phrase> ; and NAME2 repeated : <the same phrase>."""
        rng, lex = self.rng, self.lex
        pools = (lex.nouns, lex.verbs, lex.adjectives)
        phrase = [rng.pick(pools[rng.below(3)]) for _ in range(rng.between(3, 10))]
        self.words += [rng.pick(lex.names), rng.pick(SAY_VERBS), ":"]
        first = len(self.words)
        self.words += phrase
        self.words += [";", "then", rng.pick(lex.names), rng.pick(REPEAT_VERBS), ":"]
        second = len(self.words)
        self.words += phrase
        return ((first, second, len(phrase)),)

    def _brackets(self) -> None:
        """NAME wrote <a bracketed expression nested up to 5 deep>."""
        self.words += [self.rng.pick(self.lex.names), self.rng.pick(SAY_VERBS)]
        self._bracket(depth=1)

    def _bracket(self, depth: int) -> None:
        rng, lex = self.rng, self.lex
        opening, closing = BRACKETS[rng.below(3)]
        self.words.append(opening)
        for _ in range(rng.between(1, 3)):
            if depth < 5 and rng.chance(0.55 / depth**0.5):
                self._bracket(depth + 1)
            else:
                self.words.append(lex.nouns[rng.pick_weighted(lex.noun_weights)])
        self.words.append(closing)


def generate_sentences(
    count: int, seed: int, lexicon: Lexicon | None = None
) -> Iterator[GeneratedSentence]:
    """`count` sentences from the grammar; the same (count, seed) always gives the same text."""
    maker = _SentenceMaker(lexicon or Lexicon.generate(), seed)
    for _ in range(count):
        yield maker.sentence()


@dataclass(frozen=True)
class BuiltinCorpusFiles:
    """The generated corpus on disk: one sentence per line, and the content hash of both files."""

    train: Path
    validation: Path
    sha256: str
    generation_seconds: float  # 0.0 when it came from the cache

    def path(self, split: Split) -> Path:
        return self.train if split == "train" else self.validation


def builtin_corpus_files(
    cache_dir: str | Path,
    train_sentences: int = TRAIN_SENTENCES,
    validation_sentences: int = VALIDATION_SENTENCES,
) -> BuiltinCorpusFiles:
    """Generate the corpus once into `cache_dir/builtin/...` and reuse it afterwards."""
    key = stable_hash(
        {"version": GENERATOR_VERSION, "train": train_sentences, "valid": validation_sentences}
    )
    folder = Path(cache_dir) / "builtin" / f"v{GENERATOR_VERSION}-{key}"
    train, validation = folder / "train.txt", folder / "validation.txt"
    manifest_path = folder / "manifest.json"

    def cached() -> BuiltinCorpusFiles | None:
        manifest = read_json(manifest_path)
        if manifest and train.exists() and validation.exists():
            return BuiltinCorpusFiles(train, validation, str(manifest["sha256"]), 0.0)
        return None

    if found := cached():
        return found
    with build_lock(folder):
        if found := cached():  # another process built it while we waited
            return found
        start = time.perf_counter()
        lexicon = Lexicon.generate()
        for path, count, seed in (
            (train, train_sentences, TRAIN_SEED),
            (validation, validation_sentences, VALIDATION_SEED),
        ):
            with atomic_output(path) as temp, open(temp, "w", encoding="utf-8") as handle:
                for sentence in generate_sentences(count, seed, lexicon):
                    handle.write(sentence.text + "\n")
        sha = stable_hash([file_sha256(train), file_sha256(validation)], length=64)
        seconds = time.perf_counter() - start
        write_json_atomic(
            manifest_path,
            {"sha256": sha, "version": GENERATOR_VERSION, "generation_seconds": seconds},
        )
        return BuiltinCorpusFiles(train, validation, sha, seconds)


@dataclass(frozen=True)
class BuiltinSource:
    """The generated corpus as a SentenceSource; keyed by the hash of its text."""

    files: BuiltinCorpusFiles
    kind: str = "builtin"

    def fingerprint(self) -> dict[str, object]:
        return {"kind": self.kind, "sha256": self.files.sha256}

    def describe(self) -> str:
        return f"the builtin generated corpus (v{GENERATOR_VERSION}, a stand-in for LM1B)"

    def sentences(self, split: Split) -> Iterator[str]:
        return read_sentences((self.files.path(split),))
