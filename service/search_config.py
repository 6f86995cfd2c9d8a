"""What a user asks for when launching a search (REST API `POST /searches`, `primer-search run`).

One pydantic model shared by the API, the CLI and the driver, stored whole in the search's row.
Validation names the bad field (the API returns it as a 422); everything the library checks
(seed names, DNA, presets, budgets, data arguments) is checked here too, before a search exists.

A stored config is validated again by every driver that resumes the search, so a field added
later needs a default: a config stored before it existed still loads.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from primer_search.config import PRESETS
from primer_search.dna import check_dna, parse_dna
from primer_search.errors import PrimerSearchError
from primer_search.seeds import seed_names

# The default per-candidate timeout of a seconds budget: the budget counts training steps only,
# so a candidate also spends time compiling, building and evaluating (more on a fresh evaluator,
# a larger preset or a larger validation set); a hung evaluator is caught well after that.
TIMEOUT_BUDGET_FACTOR = 3.0
TIMEOUT_MARGIN_SECONDS = 600.0


def default_candidate_timeout(budget: str) -> float | None:
    """`candidate_timeout_seconds` when a config does not give it: 3 x the budget + 10 minutes
    for a seconds budget; None (no timeout) for a steps or tokens budget, whose duration depends
    on the hardware and the program. None too for a budget that does not parse (its own
    validator reports it)."""
    from primer_search.training.budget import BudgetUnit, parse_budget  # no TensorFlow import

    try:
        parsed = parse_budget(budget)
    except PrimerSearchError:
        return None
    if parsed.unit is not BudgetUnit.SECONDS:
        return None
    return TIMEOUT_BUDGET_FACTOR * parsed.amount + TIMEOUT_MARGIN_SECONDS


class DataConfig(BaseModel):
    """The corpus, as `primer_search.data.DataSpec` fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Literal["builtin", "lm1b", "text"] = "builtin"
    train_paths: tuple[str, ...] = ()
    validation_paths: tuple[str, ...] = ()
    data_dir: str | None = None
    vocab_size: int | None = Field(None, ge=64, le=262_144)  # None: the preset's
    validation_tokens: int = Field(16_384, ge=1_024, le=10_000_000)

    @model_validator(mode="after")
    def _paths_for_text(self) -> DataConfig:
        if self.source == "text" and not self.train_paths:
            raise ValueError("source 'text' needs train_paths (and optionally validation_paths)")
        return self


class EvaluatorResources(BaseModel):
    """What one Ray evaluator actor reserves."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_cpus: float = Field(1.0, gt=0, le=1024)
    num_gpus: float = Field(0.0, ge=0, le=64)


class SearchConfig(BaseModel):
    """A search's config. The fields that need a word:

    - `max_evaluations`, `deadline_seconds`: the search proposes until either is reached (give
      one or both); the deadline counts from the first start, pauses included.
    - `max_attempts`: hand-outs of one candidate before it is recorded FAILED; an evaluator that
      dies, raises or times out costs its candidate one.
    - `candidate_timeout_seconds`: how long one evaluation may take, from its hand-out to its
      result; past it the evaluator is taken as hung, killed and replaced, and the candidate has
      lost an attempt ("timed out after X s"). Not given: `default_candidate_timeout(budget)`
      (3 x a seconds budget + 10 minutes; none for steps and tokens), stored with the config;
      null: no timeout. It must exceed a seconds budget, or every candidate would time out.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field("search", min_length=1, max_length=200)
    seed: str | None = "transformer"  # a seed name; or give `dna`
    dna: dict[str, Any] | None = None  # a DNA (JSON object) to start from instead of a seed
    data: DataConfig = DataConfig()
    preset: str = "tiny"
    budget: str = "30s"  # per candidate: 60s, 2000steps, 1Mtokens
    hurdles: int = Field(0, ge=0, le=8)
    population_size: int = Field(100, ge=2, le=100_000)
    tournament_size: int = Field(10, ge=1)
    initial_population: Literal["mutated", "copies"] = "mutated"
    max_evaluations: int | None = Field(100, ge=1, le=10_000_000)
    deadline_seconds: float | None = Field(None, gt=0)
    evaluators: int = Field(2, ge=1, le=4096)
    resources: EvaluatorResources = EvaluatorResources()
    max_attempts: int = Field(3, ge=1, le=100)  # per candidate, counting evaluator deaths
    candidate_timeout_seconds: float | None = Field(None, gt=0, allow_inf_nan=False)
    failure_policy: Literal["worst", "drop"] = "worst"
    use_cache: bool = True
    rng_seed: int = Field(0, ge=0, le=2**63 - 1)

    @model_validator(mode="before")
    @classmethod
    def _dna_replaces_default_seed(cls, data: Any) -> Any:
        """A body that gives `dna` and no `seed` starts from that DNA, not from the default."""
        if isinstance(data, dict) and data.get("dna") is not None and "seed" not in data:
            return {**data, "seed": None}
        return data

    @model_validator(mode="before")
    @classmethod
    def _derived_candidate_timeout(cls, data: Any) -> Any:
        """A config without `candidate_timeout_seconds` (null is given: no timeout) gets the
        default derived from its budget."""
        if isinstance(data, dict) and "candidate_timeout_seconds" not in data:
            budget = data.get("budget", cls.model_fields["budget"].default)
            timeout = default_candidate_timeout(budget) if isinstance(budget, str) else None
            return {**data, "candidate_timeout_seconds": timeout}
        return data

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        if value not in PRESETS:
            raise ValueError(f"unknown preset {value!r}; available: {', '.join(PRESETS)}")
        return value

    @field_validator("budget")
    @classmethod
    def _parse_budget(cls, value: str) -> str:
        from primer_search.training.budget import parse_budget  # no TensorFlow import

        try:
            return str(parse_budget(value))
        except PrimerSearchError as exc:
            raise ValueError(str(exc)) from None

    # Checks of one field are field validators, so that a 422 names the field (`loc`); only the
    # rules that tie several fields together are model validators.
    @field_validator("seed")
    @classmethod
    def _known_seed(cls, value: str | None) -> str | None:
        if value is not None and value not in seed_names():
            raise ValueError(f"unknown seed {value!r}; available: {', '.join(seed_names())}")
        return value

    @field_validator("dna")
    @classmethod
    def _valid_dna(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            try:
                check_dna(parse_dna(value))
            except PrimerSearchError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("tournament_size")
    @classmethod
    def _tournament_fits(cls, value: int, info: ValidationInfo) -> int:
        population = info.data.get("population_size")  # absent if it failed its own checks
        if population is not None and value > population:
            raise ValueError(
                f"tournament_size ({value}) must not exceed population_size ({population})"
            )
        return value

    @field_validator("candidate_timeout_seconds")
    @classmethod
    def _timeout_exceeds_budget(cls, value: float | None, info: ValidationInfo) -> float | None:
        from primer_search.training.budget import BudgetUnit, parse_budget

        budget = info.data.get("budget")  # absent if it failed its own checks
        if value is None or budget is None:
            return value
        parsed = parse_budget(budget)
        if parsed.unit is BudgetUnit.SECONDS and value <= parsed.amount:
            raise ValueError(
                f"candidate_timeout_seconds ({value:g}) must exceed the training budget "
                f"({budget}), or every candidate would time out; give more, or null for none"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SearchConfig:
        if (self.seed is None) == (self.dna is None):
            raise ValueError("give exactly one of 'seed' (a seed name) and 'dna' (a program)")
        if self.max_evaluations is None and self.deadline_seconds is None:
            raise ValueError("give max_evaluations or deadline_seconds (or both)")
        return self
