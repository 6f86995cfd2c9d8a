"""A search's individuals: pages (of all, or of the engine's current population), one
individual, its diff against its parent, its lineage, the best, and the export.

Every answer reads a page, one row, a chain of parents or the top k: never the population."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from service.api.deps import Iid, Offset, SearchId, StoreDep
from service.api.schemas import (
    BestPublic,
    DiffPublic,
    IndividualDetailPublic,
    IndividualsPublic,
    LineagePublic,
)
from service.export import DEFAULT_TOP, export_code, export_json, readable_code
from service.store import IndividualRecord, IndividualStatus, SearchStore
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
    sort_by: Literal["iid", "created", "fitness", "parameter_count", "step_seconds"] = "iid",
    order: Literal["asc", "desc"] = "asc",
    individual_status: Annotated[list[IndividualStatus] | None, Query(alias="status")] = None,
    population: Annotated[
        bool, Query(description="Only the current members of the evolution's population.")
    ] = False,
) -> IndividualsPublic:
    """One page, sorted by iid, creation time, fitness (lower is better), parameter count or
    step time (individuals without the value come last either way), optionally only some
    statuses (`?status=done&status=stopped`) and only the population's current members."""
    members = _population(store, search_id) if population else None
    page = store.list_individuals(
        search_id, offset, limit, sort_by, order == "desc", individual_status, iids=members
    )
    return IndividualsPublic.from_page(page)


def _population(store: SearchStore, search_id: int) -> list[int]:
    """The ids of the engine's population, from its last saved state (the `population` of
    `RegularizedEvolution.state_dict`); none before the first save."""
    state = store.get_engine_state(search_id)
    return [int(member["id"]) for member in (state or {}).get("population", [])]


@router.get("/individuals/{iid}", responses=NOT_FOUND)
def get_individual(search_id: SearchId, iid: Iid, store: StoreDep) -> IndividualDetailPublic:
    """The individual with its DNA, readable code, mutation record, parent and result."""
    return _detail(store.get_individual(search_id, iid))


@router.get("/individuals/{iid}/diff", responses=NOT_FOUND)
def get_diff(search_id: SearchId, iid: Iid, store: StoreDep) -> DiffPublic:
    """The individual's readable code against its parent's (the search's seed's for the first
    generation), line by line, with the mutation that made it."""
    child = store.get_individual(search_id, iid)
    if child.parent_iid is not None:
        parent = store.get_individual(search_id, child.parent_iid)
        return DiffPublic.from_records(child, parent.dna, f"individual {parent.iid}")
    search = store.get_search(search_id)
    name = search.config.get("seed") or ("(given DNA)" if search.config.get("dna") else None)
    return DiffPublic.from_records(child, search.seed_dna, f"seed {name}" if name else "seed")


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
