"""The app factory: `create_app(store, manager, settings)`: the REST API under /api/v1 and the
dashboard (service/dashboard) at / that is built on it.

Nothing is created at import time (no engine, no Ray, no settings read): `primer-search serve`
builds the store and the DriverManager and passes them in, tests pass their own.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from service.api.deps import SearchManager
from service.api.errors import add_exception_handlers
from service.api.middleware import BearerTokenMiddleware, BodySizeLimitMiddleware
from service.api.routes import dna, health, individuals, searches, seeds, stats
from service.dashboard import PUBLIC_PATHS, dashboard_router
from service.settings import Settings
from service.store import SearchStore

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    router = APIRouter(prefix=API_PREFIX)
    for module in (health, seeds, dna, searches, individuals, stats):
        router.include_router(module.router)
    return router


def create_app(store: SearchStore, manager: SearchManager, settings: Settings) -> FastAPI:
    app = FastAPI(
        title="primer-search",
        summary="The evolutionary architecture search of the Primer paper, as a service.",
        docs_url="/docs",
        openapi_url=f"{API_PREFIX}/openapi.json",
    )
    app.state.store = store
    app.state.manager = manager
    app.state.settings = settings
    app.include_router(api_router())
    app.include_router(dashboard_router())
    add_exception_handlers(app)
    # Added last, runs first: the token is checked before the body is read.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.api_token is not None:
        # The dashboard's pages and assets carry no data: a browser loads them without the
        # token, and their scripts send it with every API request.
        app.add_middleware(BearerTokenMiddleware, token=settings.api_token, public_get=PUBLIC_PATHS)
    return app
