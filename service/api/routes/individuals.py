"""A search's individuals: pages, one individual, its lineage, the best, and the export.

Every answer reads a page, one row, a chain of parents or the top k: never the population."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from service.api.deps import Iid, Offset, SearchId, StoreDep
from service.api.schemas import (
    BestPublic,
    IndividualDetailPublic,
    IndividualsPublic,
    LineagePublic,
)
from service.export import DEFAULT_TOP, export_code, export_json, readable_code
from service.store import IndividualRecord, IndividualStatus
from service.store.base import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

Responses = dict[int | str, dict[str, Any]]
router = APIRouter(prefix="/searches/{search_id}", tags=["individuals"])

NOT_FOUND: Responses = {404: {"description": "No such search or individual"}}
TopK = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="How many, best first.")]


def _detail(r: IndividualRecord) -> IndividualDetailPublic:
    return IndividualDetailPublic.from_record_with_code(r, readable_code(r.dna))


@router.get("/individuals", responses=NOT_FOUND)
def list_individuals(
    search_id: SearchId,
    store: StoreDep,
    offset: Offset = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    sort_by: Literal["iid", "created", "fitness"] = "iid",
    order: Literal["asc", "desc"] = "asc",
    individual_status: Annotated[list[IndividualStatus] | None, Query(alias="status")] = None,
) -> IndividualsPublic:
    """One page, sorted by iid, creation time or fitness (lower is better; individuals without
    a fitness come last either way), optionally only some statuses (`?status=done&status=
    stopped`)."""
    page = store.list_individuals(
        search_id, offset, limit, sort_by, order == "desc", individual_status
    )
    return IndividualsPublic.from_page(page)


@router.get("/individuals/{iid}", responses=NOT_FOUND)
def get_individual(search_id: SearchId, iid: Iid, store: StoreDep) -> IndividualDetailPublic:
    """The individual with its DNA, readable code, mutation record, parent and result."""
    return _detail(store.get_individual(search_id, iid))


@router.get("/individuals/{iid}/lineage", responses=NOT_FOUND)
def get_lineage(search_id: SearchId, iid: Iid, store: StoreDep) -> LineagePublic:
    """The chain back to the seed, child first, with each mutation and its fitness change."""
    return LineagePublic.from_records(store.lineage(search_id, iid))


@router.get("/best", responses=NOT_FOUND)
def get_best(search_id: SearchId, store: StoreDep, k: TopK = DEFAULT_TOP) -> BestPublic:
    """The k best individuals trained to the end (status done), with DNA and code."""
    data = [_detail(r) for r in store.best(search_id, k)]
    return BestPublic(data=data, count=len(data))


@router.get(
    "/export",
    responses={
        **NOT_FOUND,
        200: {
            "content": {"application/json": {}, "text/plain": {}},
            "description": "JSON (format=json) or readable code (format=code)",
        },
    },
    response_model=None,
)
def export(
    search_id: SearchId,
    store: StoreDep,
    format: Literal["json", "code"] = "json",
    k: TopK = DEFAULT_TOP,
) -> dict[str, object] | PlainTextResponse:
    """The k best programs as JSON (each with its DNA, to load again) or as code text."""
    if format == "code":
        return PlainTextResponse(export_code(store, search_id, k))
    return export_json(store, search_id, k)
