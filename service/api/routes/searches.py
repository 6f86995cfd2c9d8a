"""Searches: create (and start), list, read, and the pause / resume / stop actions.

Status transitions (the store checks each one under the search's row lock; any other is a 409
whose message names the current status):

    action   from                        to        then
    pause    running, created            paused    the driver sees it and stops proposing
    resume   paused, stopped, created    running   manager.start(id)
    resume   running, but not driven     running   manager.start(id) (its driver died)
    stop     running, paused, created    stopped   the driver sees it and stops
    (finished and failed searches accept no action: 409)

A stopped search may be resumed: stop means "stop now", not "never again"; finished means the
budget is spent, so resuming it could only stop again at once.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status

from primer_search.dna import DNA, parse_dna
from primer_search.seeds import load_seed
from service.api.deps import ManagerDep, Offset, SearchId, StoreDep
from service.api.schemas import SearchDetailPublic, SearchesPublic
from service.progress import search_progress
from service.search_config import SearchConfig
from service.store import SearchStatus
from service.store.base import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

Responses = dict[int | str, dict[str, Any]]
router = APIRouter(prefix="/searches", tags=["searches"])

S = SearchStatus
PAUSABLE = frozenset({S.RUNNING, S.CREATED})
RESUMABLE = frozenset({S.PAUSED, S.STOPPED, S.CREATED})
STOPPABLE = frozenset({S.RUNNING, S.PAUSED, S.CREATED})

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]
CONFLICT: Responses = {409: {"description": "The action conflicts with the search's status"}}
NOT_FOUND: Responses = {404: {"description": "No search with this id"}}


def _seed_dna(config: SearchConfig) -> DNA:
    if config.dna is not None:
        return parse_dna(config.dna)  # already validated by SearchConfig
    assert config.seed is not None  # SearchConfig requires exactly one of them
    return load_seed(config.seed)


@router.post("", status_code=status.HTTP_201_CREATED)
def create_search(
    config: SearchConfig, store: StoreDep, manager: ManagerDep, response: Response
) -> SearchDetailPublic:
    """Stores the search and starts driving it. 422 names the bad field of the config."""
    search_id = store.create_search(config.name, config.model_dump(mode="json"), _seed_dna(config))
    store.update_status(search_id, S.RUNNING, {S.CREATED})
    manager.start(search_id)
    response.headers["Location"] = f"{router.prefix}/{search_id}"
    return SearchDetailPublic.from_progress(search_progress(store, search_id))


@router.get("")
def list_searches(
    store: StoreDep,
    offset: Offset = 0,
    limit: Limit = DEFAULT_PAGE_SIZE,
    search_status: Annotated[list[SearchStatus] | None, Query(alias="status")] = None,
) -> SearchesPublic:
    """Newest first, optionally only the given status(es) (`?status=running&status=paused`),
    each with its progress: evaluated, elapsed seconds, evaluations per hour."""
    page = store.list_searches(offset, limit, search_status)
    counts = store.status_counts_by_search([s.id for s in page.items])
    return SearchesPublic.from_page(page, counts)


@router.get("/{search_id}", responses=NOT_FOUND)
def get_search(search_id: SearchId, store: StoreDep) -> SearchDetailPublic:
    """The search with its config and progress: counts by status, best fitness, elapsed time
    and evaluations per hour."""
    return SearchDetailPublic.from_progress(search_progress(store, search_id))


@router.post("/{search_id}/pause", responses={**NOT_FOUND, **CONFLICT})
def pause_search(search_id: SearchId, store: StoreDep) -> SearchDetailPublic:
    store.update_status(search_id, S.PAUSED, PAUSABLE)
    return SearchDetailPublic.from_progress(search_progress(store, search_id))


@router.post("/{search_id}/stop", responses={**NOT_FOUND, **CONFLICT})
def stop_search(search_id: SearchId, store: StoreDep) -> SearchDetailPublic:
    store.update_status(search_id, S.STOPPED, STOPPABLE)
    return SearchDetailPublic.from_progress(search_progress(store, search_id))


@router.post("/{search_id}/resume", responses={**NOT_FOUND, **CONFLICT})
def resume_search(search_id: SearchId, store: StoreDep, manager: ManagerDep) -> SearchDetailPublic:
    search = store.get_search(search_id)
    if search.status is S.RUNNING:
        if manager.is_driving(search_id) or search.lease_active:
            raise HTTPException(409, f"search {search_id} is running already")
    else:
        store.update_status(search_id, S.RUNNING, RESUMABLE)  # 409 from finished, failed
    manager.start(search_id)
    return SearchDetailPublic.from_progress(search_progress(store, search_id))
