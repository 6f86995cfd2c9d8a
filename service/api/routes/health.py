"""GET /health: the server answers and its store is reachable."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter

from service.api.deps import StoreDep
from service.api.schemas import HealthPublic

router = APIRouter(tags=["health"])


def _version() -> str:
    try:
        return version("primer-search")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


@router.get("/health")
def health(store: StoreDep) -> HealthPublic:
    """200 when the store answers a query (503 when the database is unreachable)."""
    store.list_searches(limit=1)
    backend = store.url.get_backend_name() if hasattr(store, "url") else "unknown"
    return HealthPublic(status="ok", version=_version(), database=backend)
