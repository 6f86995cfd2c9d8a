"""What the routes depend on, as `Annotated` aliases (full-stack-fastapi-template's deps.py).

The store, the driver manager and the settings are made by the caller of `create_app` and kept
on `app.state`; these dependencies hand them to the routes. Tests pass their own (a manager
double that records calls).
"""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import Depends, Path, Query, Request

from service.settings import Settings
from service.store import SearchStore


class SearchManager(Protocol):
    """What the API needs of service/manager.py's DriverManager: the drivers of this process.

    `start` drives the search in the background and returns at once; it raises
    StateConflictError (-> 409) if the search is already driven here or by another process (its
    lease is held). A driver stops by itself when the search's status in the store stops being
    running, so pause and stop only change the status."""

    def start(self, search_id: int) -> object: ...

    def is_driving(self, search_id: int) -> bool: ...

    def resume_running_searches(self) -> object: ...

    def shutdown(self, timeout: float) -> object: ...


def get_store(request: Request) -> SearchStore:
    store: SearchStore = request.app.state.store
    return store


def get_manager(request: Request) -> SearchManager:
    manager: SearchManager = request.app.state.manager
    return manager


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[SearchStore, Depends(get_store)]
ManagerDep = Annotated[SearchManager, Depends(get_manager)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


# Path and query values bounded by what the database columns hold (searches.id is a 32-bit
# integer, iids are 64-bit): an id beyond them is a 422, never a database overflow.
MAX_SEARCH_ID = 2**31 - 1
MAX_IID = 2**63 - 1
MAX_OFFSET = 2**31 - 1

SearchId = Annotated[int, Path(ge=0, le=MAX_SEARCH_ID, description="A search id.")]
Iid = Annotated[int, Path(ge=0, le=MAX_IID, description="An individual's id in its search.")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="How many to skip.")]
