"""The builtin corpus: deterministic, and it carries each structure its docstring promises."""

from __future__ import annotations

import hashlib
import math
import random
from collections import Counter

import pytest

from primer_search.data.builtin import (
    BRACKETS,
    TRAIN_SEED,
    Lexicon,
    builtin_corpus_files,
    generate_sentences,
)

SAMPLE = 4000
# sha256 of the first 300 training sentences joined by newlines. If this fails, the generated
# text changed: bump GENERATOR_VERSION (it keys every cache) and update the digest.
GOLDEN_SHA256 = "94a9cc06a48ea06f8c45e0ba3774dec2bf65f353eeb636f77ccdf619bf33ffc8"


@pytest.fixture(scope="module")
def lexicon():
    return Lexicon.generate()


@pytest.fixture(scope="module")
def sentences(lexicon):
    return list(generate_sentences(SAMPLE, TRAIN_SEED, lexicon))


def test_same_seed_same_text_other_seed_other_text():
    first = [s.text for s in generate_sentences(300, seed=7)]
    assert first == [s.text for s in generate_sentences(300, seed=7)]
    assert first != [s.text for s in generate_sentences(300, seed=8)]


def test_text_matches_the_golden_digest():
    text = "\n".join(s.text for s in generate_sentences(300, TRAIN_SEED))
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == GOLDEN_SHA256


def test_verbs_agree_with_distant_subjects_across_attractors(sentences, lexicon):
    distances, with_attractor, checked = [], 0, 0
    for sentence in sentences:
        words = sentence.text.split()
        for noun_index, verb_index in sentence.agreements:
            noun, verb = words[noun_index], words[verb_index]
            plural = lexicon.is_plural_noun(noun)
            assert plural or lexicon.is_singular_noun(noun), (noun, sentence.text)
            agrees = lexicon.is_plural_verb(verb) if plural else lexicon.is_singular_verb(verb)
            assert agrees, (noun, verb, sentence.text)
            checked += 1
            distances.append(verb_index - noun_index)
            between = words[noun_index + 1 : verb_index]
            other = lexicon.is_singular_noun if plural else lexicon.is_plural_noun
            with_attractor += any(other(word) for word in between)
    assert checked > SAMPLE * 0.5
    assert sum(distances) / len(distances) >= 5
    assert max(distances) >= 15
    assert with_attractor / checked >= 0.3  # the nearest noun often has the other number


def test_centre_embedded_verbs_close_in_stack_order(sentences):
    nested = [s for s in sentences if s.kind == "nested"]
    assert len(nested) > SAMPLE * 0.1
    for sentence in nested:
        nouns = [noun for noun, _ in sentence.agreements]
        verbs = [verb for _, verb in sentence.agreements]
        assert len(nouns) >= 2
        assert nouns == sorted(nouns, reverse=True)  # innermost subject's verb comes first
        assert verbs == list(range(verbs[0], verbs[0] + len(verbs)))
        assert max(nouns) < min(verbs)


def test_copied_phrases_repeat_verbatim_later(sentences):
    copies = [s for s in sentences if s.kind == "copy"]
    assert 0.15 * SAMPLE < len(copies) < 0.25 * SAMPLE
    lengths = []
    for sentence in copies:
        words = sentence.text.split()
        ((first, second, length),) = sentence.copies
        assert length >= 3 and second >= first + length + 4
        assert words[first : first + length] == words[second : second + length]
        lengths.append(length)
    assert max(lengths) >= 9


def _bracket_depth(words: list[str]) -> int:
    """The deepest nesting, after checking that every bracket closes the last one opened."""
    closer = {opening: closing for opening, closing in BRACKETS}
    stack: list[str] = []
    deepest = 0
    for word in words:
        if word in closer:
            stack.append(closer[word])
            deepest = max(deepest, len(stack))
        elif word in closer.values():
            assert stack and stack.pop() == word, words
    assert not stack, words
    return deepest


def test_brackets_balance_and_nest(sentences):
    depths = [_bracket_depth(s.text.split()) for s in sentences]
    bracketed = [d for s, d in zip(sentences, depths, strict=True) if s.kind == "brackets"]
    assert all(d >= 1 for d in bracketed)
    assert sum(d >= 3 for d in bracketed) / len(bracketed) >= 0.2
    assert all(d == 0 for s, d in zip(sentences, depths, strict=True) if s.kind != "brackets")


def _conditional_entropy(words: list[str]) -> float:
    """Plug-in H(word | previous word), in bits."""
    pairs = Counter(zip(words, words[1:], strict=False))
    previous = Counter(words[:-1])
    total = len(words) - 1
    return -sum(n / total * math.log2(n / previous[a]) for (a, _), n in pairs.items())


def test_local_context_predicts_the_next_word(sentences):
    words = [w for s in sentences for w in s.text.split()]
    shuffled = list(words)
    random.Random(0).shuffle(shuffled)  # same words, same estimator bias, no order
    assert _conditional_entropy(words) < _conditional_entropy(shuffled) - 1.0


def test_files_are_cached_and_identical_everywhere(tmp_path):
    first = builtin_corpus_files(tmp_path / "a", train_sentences=500, validation_sentences=50)
    other = builtin_corpus_files(tmp_path / "b", train_sentences=500, validation_sentences=50)
    assert first.generation_seconds > 0
    assert first.sha256 == other.sha256
    assert first.train.read_bytes() == other.train.read_bytes()
    validation = first.validation.read_text().splitlines()
    assert len(validation) == 50 and not set(validation) & set(first.train.read_text().splitlines())
    mtime = first.train.stat().st_mtime_ns
    again = builtin_corpus_files(tmp_path / "a", train_sentences=500, validation_sentences=50)
    assert again.generation_seconds == 0.0 and again.train.stat().st_mtime_ns == mtime
    assert len(first.train.read_text().splitlines()) == 500
