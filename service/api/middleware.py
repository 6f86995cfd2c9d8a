"""Plain ASGI middleware that runs before routing, so it also guards /docs, /openapi.json and
unknown paths: the bearer token and the cap on the request body."""

from __future__ import annotations

import hmac
import re
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BearerTokenMiddleware:
    """Every HTTP request needs `Authorization: Bearer <token>`; 401 otherwise. The comparison
    is constant-time (hmac.compare_digest), so timing does not reveal the token.

    `public_get`: the paths a GET may read without the token (the whole path must match): the
    dashboard's pages and assets, which hold no data; a browser cannot send a header when it
    follows a link, so the page's scripts send the token with their API requests."""

    def __init__(self, app: ASGIApp, token: str, public_get: re.Pattern[str] | None = None):
        self.app = app
        self.expected = f"Bearer {token}".encode()
        self.public_get = public_get

    def _public(self, scope: Scope) -> bool:
        return (
            self.public_get is not None
            and scope["method"] == "GET"
            and self.public_get.fullmatch(scope["path"]) is not None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._public(scope):
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                response = JSONResponse(
                    {"detail": "missing or wrong bearer token"},
                    status_code=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodySizeLimitMiddleware:
    """Refuses a request body over `max_bytes` with 413: at once when Content-Length says so,
    else (a chunked body) after reading at most `max_bytes` of it. The body is buffered (it is
    small by then) and replayed to the app."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Any:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body over the limit of {self.max_bytes} bytes"},
            status_code=413,
        )
        await response(scope, receive, send)
