"""Shared test set-up. Keep fixtures here few and general; a test file's own helpers live in it."""

from __future__ import annotations

import os

# Before TensorFlow is imported anywhere: quiet logs, and a deterministic CPU run.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

import pytest  # noqa: E402


@pytest.fixture
def cache_dir(tmp_path):
    """A private cache folder (tokenizers, shards) so tests never touch the user's cache."""
    path = tmp_path / "cache"
    path.mkdir()
    return path
