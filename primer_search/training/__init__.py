"""Training a candidate to its fitness under a budget, with halving hurdles (issue 3).

Pure core: no Ray, no SQL. `train_candidate` is the entry point; the corpus comes from
primer_search.data, opened once by the caller and reused across candidates.

The names that need TensorFlow are loaded on first use, so that validating a budget or a hurdle
plan (the API, the CLI's argument checks) does not pay TensorFlow's start-up time.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from primer_search.training.budget import Budget, BudgetError, BudgetUnit, parse_budget
from primer_search.training.config import TRAIN_PRESETS, TrainConfig, get_train_preset
from primer_search.training.flops import training_flops_per_token
from primer_search.training.hurdles import HurdlePlan, hurdle_positions, passes

if TYPE_CHECKING:
    from primer_search.training.result import FailureKind, HurdleRecord, Status, TrainResult
    from primer_search.training.trainer import Corpus, ProgressEvent, train_candidate

_LAZY = {
    "FailureKind": "primer_search.training.result",
    "HurdleRecord": "primer_search.training.result",
    "Status": "primer_search.training.result",
    "TrainResult": "primer_search.training.result",
    "Corpus": "primer_search.training.trainer",
    "ProgressEvent": "primer_search.training.trainer",
    "train_candidate": "primer_search.training.trainer",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "TRAIN_PRESETS",
    "Budget",
    "BudgetError",
    "BudgetUnit",
    "Corpus",
    "FailureKind",
    "HurdlePlan",
    "HurdleRecord",
    "ProgressEvent",
    "Status",
    "TrainConfig",
    "TrainResult",
    "get_train_preset",
    "hurdle_positions",
    "parse_budget",
    "passes",
    "train_candidate",
    "training_flops_per_token",
]
