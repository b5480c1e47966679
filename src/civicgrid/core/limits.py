"""The largest request body taken (CIVICGRID_MAX_REQUEST_MB), counted as it arrives.

A body that declares a larger Content-Length is refused before a byte of it is read, and
one that comes in chunks as soon as it passes the limit; either way the route that was
reading it stops with a 413, answered by the app's error handlers (core.http) in the
reader's language. A route that never reads its body never refuses it either: nothing of
it is kept.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestTooLarge(HTTPException):
    def __init__(self) -> None:
        super().__init__(status_code=413, detail="request_too_large")


class BodyLimit:
    """ASGI middleware: receive() raises RequestTooLarge past MAX_BYTES."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        too_long = declared is not None and declared.isdigit() and int(declared) > self.max_bytes
        received = 0

        async def receive_within_limit() -> Message:
            nonlocal received
            if too_long:
                raise RequestTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise RequestTooLarge()
            return message

        await self.app(scope, receive_within_limit, send)
