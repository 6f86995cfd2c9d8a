"""Corpora for candidate training (issue 3): the builtin generated corpus, LM1B (TFDS or the raw
release) and plain text; a cached SentencePiece tokenizer and token shards; tf.data pipelines
with a fixed validation set. Entry point: `open_corpus(DataSpec(...), cache_dir)`."""

from primer_search.data.cache import default_cache_dir
from primer_search.data.corpus import (
    CorpusStats,
    DataSpec,
    TokenizedCorpus,
    open_corpus,
    parse_data_arg,
)

__all__ = [
    "CorpusStats",
    "DataSpec",
    "TokenizedCorpus",
    "default_cache_dir",
    "open_corpus",
    "parse_data_arg",
]
