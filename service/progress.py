"""How far a search has got, and what its evaluations did: the numbers `GET /searches/{id}`,
`GET /searches/{id}/statistics`, the dashboard and `primer-search status` show.

Computed from the store's search row and its aggregates (`status_counts`, `hurdle_histogram`,
`reason_counts`, `mutation_statistics`: grouped queries, never the population), so it stays
cheap at 25,000 individuals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from primer_search.errors import PrimerSearchError
from primer_search.training.budget import BudgetUnit, parse_budget
from primer_search.training.hurdles import hurdle_positions
from service.store import (
    IndividualStatus,
    MutationStats,
    ReasonCount,
    SearchRecord,
    SearchStatus,
    SearchStore,
)

S = IndividualStatus
TOP_REASONS = 20


@dataclass(frozen=True)
class SearchProgress:
    """`evaluated` counts the individuals with a training result (done, stopped at a hurdle or
    failed): the evaluations the budget counts. Cache hits and gate rejections cost no training
    and are counted apart. `elapsed_seconds` runs from the first start to the finish (or now, or
    the last change of a paused search), pauses included."""

    search: SearchRecord
    counts: dict[IndividualStatus, int]
    evaluated: int
    elapsed_seconds: float | None
    evaluations_per_hour: float | None


def search_progress(
    store: SearchStore, search_id: int, now: datetime | None = None
) -> SearchProgress:
    search = store.get_search(search_id)
    counts = store.status_counts(search_id)
    return progress_of(search, counts, now)


def progress_of(
    search: SearchRecord, counts: Mapping[IndividualStatus, int], now: datetime | None = None
) -> SearchProgress:
    """The progress of a search whose status counts were read already (a page of searches reads
    them all in one query: `status_counts_by_search`)."""
    evaluated = counts[S.DONE] + counts[S.STOPPED] + counts[S.FAILED]
    elapsed = elapsed_seconds(search, now or datetime.now(timezone.utc))
    rate = evaluated / elapsed * 3600 if elapsed else None
    return SearchProgress(search, dict(counts), evaluated, elapsed, rate)


def elapsed_seconds(search: SearchRecord, now: datetime) -> float | None:
    if search.started_at is None:
        return None
    if search.finished_at is not None:
        end = search.finished_at
    elif search.status is SearchStatus.RUNNING:
        end = now
    else:  # paused (or created again): the clock stopped at its last change
        end = search.updated_at
    return max(0.0, (end - search.started_at).total_seconds())


# -- statistics ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class HurdleLevel:
    """Hurdle k (1-based): `reached` candidates were evaluated there (with a training result),
    `passed` of them went on (all but those it stopped); `pass_rate` = passed / reached."""

    hurdle: int
    reached: int
    passed: int
    pass_rate: float | None


@dataclass(frozen=True)
class HurdleStatistics:
    """What the halving hurdles (PRIMER.md section 4) did. `positions` are the fractions of the
    budget at each hurdle, (2^k - 1) / (2^(H+1) - 1). A candidate stopped at hurdle k trained
    that fraction of the budget; `budget_fraction_saved` is the training the hurdles saved, as a
    share of what training every evaluated candidate to the end would have cost: the sum over
    stopped candidates of (1 - position) over the number evaluated (None before the first).
    `training_seconds_saved` is the same sum in seconds, for a budget in seconds (else None)."""

    count: int
    positions: list[float]
    levels: list[HurdleLevel]
    stopped: int
    budget_fraction_saved: float | None
    training_seconds_saved: float | None


@dataclass(frozen=True)
class SearchStatistics:
    counts: dict[IndividualStatus, int]
    evaluated: int
    mutations: list[MutationStats]
    hurdles: HurdleStatistics
    failures: list[ReasonCount]
    rejections: list[ReasonCount]


def search_statistics(store: SearchStore, search_id: int) -> SearchStatistics:
    search = store.get_search(search_id)
    counts = store.status_counts(search_id)
    return SearchStatistics(
        counts=counts,
        evaluated=counts[S.DONE] + counts[S.STOPPED] + counts[S.FAILED],
        mutations=store.mutation_statistics(search_id),
        hurdles=hurdle_statistics(store.hurdle_histogram(search_id), search.config),
        failures=store.reason_counts(search_id, S.FAILED, TOP_REASONS),
        rejections=store.reason_counts(search_id, S.REJECTED, TOP_REASONS),
    )


def hurdle_statistics(
    histogram: Mapping[tuple[IndividualStatus, int], int], config: Mapping[str, Any]
) -> HurdleStatistics:
    """From the store's {(status, hurdle_reached): n} and the search's config (its `hurdles`
    and `budget`)."""
    count = int(config.get("hurdles") or 0)
    positions = list(hurdle_positions(1.0, count))
    levels = []
    for k in range(1, count + 1):
        reached = sum(n for (_, at), n in histogram.items() if at >= k)
        passed = reached - histogram.get((S.STOPPED, k), 0)
        levels.append(HurdleLevel(k, reached, passed, passed / reached if reached else None))
    stopped = sum(n for (status, _), n in histogram.items() if status is S.STOPPED)
    saved = sum(
        n * (1.0 - positions[at - 1])
        for (status, at), n in histogram.items()
        if status is S.STOPPED and 1 <= at <= count
    )
    evaluated = sum(histogram.values())
    seconds = _budget_seconds(config.get("budget"))
    return HurdleStatistics(
        count=count,
        positions=positions,
        levels=levels,
        stopped=stopped,
        budget_fraction_saved=saved / evaluated if evaluated else None,
        training_seconds_saved=None if seconds is None else saved * seconds,
    )


def _budget_seconds(budget: object) -> float | None:
    if not isinstance(budget, str):
        return None
    try:
        parsed = parse_budget(budget)
    except PrimerSearchError:  # a config stored by an older version: no saving in seconds
        return None
    return parsed.amount if parsed.unit is BudgetUnit.SECONDS else None
