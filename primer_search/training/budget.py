"""The training budget of one candidate: wall-clock seconds, steps or tokens (issue 3).

The paper's fitness is perplexity after a fixed WALL-CLOCK budget (PRIMER.md section 4), which
makes the search prefer programs that are cheap per step as well as sample efficient. Steps and
tokens budgets give reproducible runs (tests, comparisons at equal data).

A point of the budget (its end, a hurdle) is reached at the first training step after which the
counter is >= the point: a steps budget stops exactly; a tokens budget stops exactly when it is a
multiple of the batch, otherwise the last batch goes past it by less than one batch (batches have a
fixed shape, so the step is compiled once); a seconds budget goes past it by less than one step.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import Enum

from primer_search.errors import ConfigError


class BudgetError(ConfigError):
    """A budget that cannot be parsed or is out of range."""


class BudgetUnit(str, Enum):
    SECONDS = "seconds"
    STEPS = "steps"
    TOKENS = "tokens"


_TIME_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
}
_COUNT_UNITS = {"step": BudgetUnit.STEPS, "steps": BudgetUnit.STEPS}
_COUNT_UNITS |= {"token": BudgetUnit.TOKENS, "tokens": BudgetUnit.TOKENS, "tok": BudgetUnit.TOKENS}
_MULTIPLIERS = {"": 1, "k": 1_000, "m": 1_000_000, "g": 1_000_000_000, "b": 1_000_000_000}
_PATTERN = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(?:e(\d+))?([a-z]*)$", re.IGNORECASE)
_FORMS = "a number and a unit, such as 60s, 5m, 1h, 2000steps, 2ksteps, 500ktokens, 1Mtokens"


@dataclass(frozen=True)
class Budget:
    """`amount` of `unit`: seconds of training (compilation and evaluation excluded), optimizer
    steps, or training tokens (target positions seen, batch_tokens per step)."""

    unit: BudgetUnit
    amount: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.amount) or self.amount <= 0:
            raise BudgetError(f"a budget must be positive and finite, got {self.amount!r}")
        if self.unit is not BudgetUnit.SECONDS and self.amount != int(self.amount):
            raise BudgetError(f"a {self.unit.value} budget must be whole, got {self.amount!r}")

    @classmethod
    def seconds(cls, amount: float) -> Budget:
        return cls(BudgetUnit.SECONDS, float(amount))

    @classmethod
    def steps(cls, amount: int) -> Budget:
        return cls(BudgetUnit.STEPS, float(amount))

    @classmethod
    def tokens(cls, amount: int) -> Budget:
        return cls(BudgetUnit.TOKENS, float(amount))

    def __str__(self) -> str:
        if self.unit is BudgetUnit.SECONDS:
            return f"{self.amount:g}s"
        return f"{int(self.amount)}{self.unit.value}"


def parse_budget(text: str | Budget) -> Budget:
    """ "60s", "5m", "1.5h", "2000steps", "2ksteps", "1Mtokens", "500k tokens" -> a Budget.

    Time units are case-sensitive only where it matters: "m" is minutes; the multipliers k, M, G
    (any case) are allowed for steps and tokens only, so "5m" can never mean five million."""
    if isinstance(text, Budget):
        return text
    match = _PATTERN.match("".join(text.split()))  # "500k tokens" reads as "500ktokens"
    if not match:
        raise BudgetError(f"cannot read budget {text!r}; write {_FORMS}")
    number, exponent, unit = match.group(1), match.group(2), match.group(3)
    value = float(number) * (10 ** int(exponent) if exponent else 1)
    if not unit:
        raise BudgetError(f"budget {text!r} has no unit; write {_FORMS}")
    lowered = unit.lower()
    if lowered in _TIME_UNITS and unit != "M":  # "5M" alone is ambiguous: refuse it
        return Budget.seconds(value * _TIME_UNITS[lowered])
    for name, kind in _COUNT_UNITS.items():
        if lowered.endswith(name) and lowered[: -len(name)] in _MULTIPLIERS:
            amount = value * _MULTIPLIERS[lowered[: -len(name)]]
            if abs(amount - round(amount)) > 1e-9 * max(1.0, amount):
                raise BudgetError(f"budget {text!r} is not a whole number of {kind.value}")
            return Budget(kind, float(round(amount)))
    raise BudgetError(f"unknown unit {unit!r} in budget {text!r}; write {_FORMS}")


@dataclass
class BudgetMeter:
    """Counts what training has spent, in every unit; `spent()` reads the budget's own unit."""

    unit: BudgetUnit
    steps: int = 0
    tokens: int = 0
    train_seconds: float = 0.0

    def record_step(self, tokens: int, seconds: float) -> None:
        self.steps += 1
        self.tokens += tokens
        self.train_seconds += seconds

    def spent(self) -> float:
        if self.unit is BudgetUnit.SECONDS:
            return self.train_seconds
        if self.unit is BudgetUnit.STEPS:
            return float(self.steps)
        return float(self.tokens)

    def reached(self, point: float) -> bool:
        return self.spent() >= point
