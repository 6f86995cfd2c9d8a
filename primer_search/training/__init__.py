"""Training a candidate to its fitness under a budget, with halving hurdles (issue 3).

Pure core: no Ray, no SQL. `train_candidate` is the entry point; the corpus comes from
primer_search.data, opened once by the caller and reused across candidates.
"""

from primer_search.training.budget import Budget, BudgetError, BudgetUnit, parse_budget
from primer_search.training.config import TRAIN_PRESETS, TrainConfig, get_train_preset
from primer_search.training.flops import training_flops_per_token
from primer_search.training.hurdles import HurdlePlan, hurdle_positions, passes
from primer_search.training.result import FailureKind, HurdleRecord, Status, TrainResult
from primer_search.training.trainer import Corpus, ProgressEvent, train_candidate

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
