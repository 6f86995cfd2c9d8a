"""Exception handlers: the one place the store's and the library's errors become status codes.

Routes raise HTTPException for what they decide themselves; everything the store or the library
raises on purpose is mapped here, so no error a client can cause becomes a 500:

    NotFoundError, UnknownSeedError              -> 404
    StateConflictError (LeaseLostError included) -> 409, naming the current status
    StoreArgumentError, other PrimerSearchError  -> 422 (a value the client chose)
    StoreUnavailableError                        -> 503 (retry later)
    RecursionError                               -> 422 (hostile nesting in a JSON body)
    anything else                                -> 500, logged with its traceback: a bug
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from primer_search.errors import PrimerSearchError, UnknownSeedError
from service.store import (
    NotFoundError,
    StateConflictError,
    StoreError,
    StoreUnavailableError,
)

logger = logging.getLogger("primer_search.api")


def _status_for(exc: Exception) -> int:
    if isinstance(exc, NotFoundError | UnknownSeedError):
        return 404
    if isinstance(exc, StateConflictError):
        return 409
    if isinstance(exc, StoreUnavailableError):
        return 503
    if isinstance(exc, StoreError):  # a database error none of the above describes
        return 500
    return 422


async def _project_error(request: Request, exc: Exception) -> JSONResponse:
    status = _status_for(exc)
    if status == 500:
        logger.error("store error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"detail": "internal error (logged on the server)"}, status_code=500)
    return JSONResponse({"detail": str(exc)}, status_code=status)


async def _too_deep(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "the request body is nested too deeply"}, status_code=422)


async def _bug(request: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"detail": "internal error (logged on the server)"}, status_code=500)


def add_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PrimerSearchError, _project_error)
    app.add_exception_handler(RecursionError, _too_deep)
    app.add_exception_handler(Exception, _bug)
