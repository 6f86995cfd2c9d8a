"""A search's aggregates for the dashboard: the fitness points in the order results arrived, and
the statistics of its evaluations (status counts, mutation types, hurdles, failure reasons).

Both are grouped or index-ordered queries (service/store), never the population: cheap at
25,000 individuals."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from service.api.deps import SearchId, StoreDep
from service.api.schemas import PointsPublic, StatisticsPublic
from service.progress import search_statistics
from service.store.base import MAX_OFFSET, MAX_POINTS

Responses = dict[int | str, dict[str, Any]]
router = APIRouter(prefix="/searches/{search_id}", tags=["statistics"])

NOT_FOUND: Responses = {404: {"description": "No search with this id"}}


@router.get("/points", responses=NOT_FOUND, response_model=PointsPublic)
def get_points(
    search_id: SearchId,
    store: StoreDep,
    after: Annotated[
        int, Query(ge=0, le=MAX_OFFSET, description="Only the points with a greater seq.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_POINTS, description="At most this many.")] = (
        MAX_POINTS
    ),
) -> Response:
    """Every individual with a training result (done, stopped at a hurdle, failed) in the
    order the results arrived, as parallel columns. Poll with `after` = the `last_seq` of the
    previous answer for the new ones; an answer of `limit` points may have more after it."""
    points = PointsPublic.from_points(store.fitness_points(search_id, after, limit))
    # Serialized by pydantic at once: tens of thousands of points, no second validation pass.
    return Response(points.model_dump_json(), media_type="application/json")


@router.get("/statistics", responses=NOT_FOUND)
def get_statistics(search_id: SearchId, store: StoreDep) -> StatisticsPublic:
    """Counts by status, what each mutation type did, the hurdles' pass rates and the training
    they saved, and the most frequent reasons candidates failed or were rejected."""
    return StatisticsPublic.from_statistics(search_statistics(store, search_id))
