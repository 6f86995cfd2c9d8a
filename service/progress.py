"""How far a search has got: the numbers `GET /searches/{id}` and `primer-search status` show.

Computed from the store's search row and `status_counts` (two small queries, never the
population), so it stays cheap at 25,000 individuals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from service.store import IndividualStatus, SearchRecord, SearchStatus, SearchStore

S = IndividualStatus


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
    evaluated = counts[S.DONE] + counts[S.STOPPED] + counts[S.FAILED]
    elapsed = elapsed_seconds(search, now or datetime.now(timezone.utc))
    rate = evaluated / elapsed * 3600 if elapsed else None
    return SearchProgress(search, counts, evaluated, elapsed, rate)


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
