"""Halving hurdles (PRIMER.md section 4): evaluate a candidate part-way and stop the weak ones.

With a full budget T and H hurdles, hurdle k (k = 1..H) sits at

    t_k = T (2^k - 1) / (2^(H+1) - 1)

in the budget's own unit (seconds, steps or tokens); the paper's H = 4 over 25,200 s gives
812.9 s, 2438.7 s, 5690.3 s and 12193.5 s. A steps or tokens hurdle is reached at the first step
whose counter is >= t_k (budget.py), so a hurdle at 32.3 steps is taken after step 33.

Fitness here is a LOSS: validation log-perplexity in nats, lower is better. The issue's "below the
threshold" means "worse than the threshold", so a candidate PASSES hurdle k when its log-ppl there
is <= the threshold (a tie passes) and STOPS when it is strictly greater. A hurdle without a
threshold is only a measurement point. The caller picks the thresholds (the paper's: the median of
the population's fitness at that hurdle, so that half go on); this module only applies them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from primer_search.errors import ConfigError
from primer_search.training.budget import Budget

MAX_HURDLES = 16


def hurdle_positions(total: float, count: int) -> tuple[float, ...]:
    """The H hurdle points of a budget of `total` units: t_k = T (2^k - 1) / (2^(H+1) - 1)."""
    if not 0 <= count <= MAX_HURDLES:
        raise ConfigError(f"hurdles must be between 0 and {MAX_HURDLES}, got {count}")
    denominator = 2 ** (count + 1) - 1
    return tuple(total * (2**k - 1) / denominator for k in range(1, count + 1))


def passes(fitness: float, threshold: float | None) -> bool:
    """Whether a candidate with log-ppl `fitness` may go on past a hurdle with `threshold`."""
    return threshold is None or fitness <= threshold


@dataclass(frozen=True)
class HurdlePlan:
    """Where the hurdles of one run sit and the log-ppl each one demands (None: no bar)."""

    positions: tuple[float, ...] = ()
    thresholds: tuple[float | None, ...] = ()

    @classmethod
    def create(
        cls,
        budget: Budget,
        count: int | None = None,
        thresholds: Sequence[float | None] | None = None,
    ) -> HurdlePlan:
        count = count or 0
        positions = hurdle_positions(budget.amount, count)
        if thresholds is None:
            bars: tuple[float | None, ...] = (None,) * count
        else:
            bars = tuple(None if t is None else float(t) for t in thresholds)
            if len(bars) != count:
                raise ConfigError(
                    f"{len(bars)} thresholds given for {count} hurdles; give one per hurdle "
                    "(None for a hurdle without a bar)"
                )
            for k, bar in enumerate(bars, start=1):
                if bar is not None and not math.isfinite(bar):
                    raise ConfigError(f"threshold of hurdle {k} must be finite, got {bar!r}")
        return cls(positions, bars)

    def __len__(self) -> int:
        return len(self.positions)
