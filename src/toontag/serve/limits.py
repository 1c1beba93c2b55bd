"""Every request's body bounded, before it is read: both apps take small JSON bodies only.

A body announced as larger than `MAX_BODY` (Content-Length) is answered 413 without reading a
byte of it; a body without a length (chunked) is read here up to the limit and answered 413
as soon as it passes it. So a client cannot make the server hold more than `MAX_BODY` bytes of
one request, whatever it sends.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 1024 * 1024  # bytes: the largest answer (100 labels of 40 characters) is ~50 KB


class BodyLimit:
    """ASGI middleware: 413 for a request body over `limit` bytes, before it is read."""

    def __init__(self, app: ASGIApp, *, limit: int = MAX_BODY):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:  # the server delivers no more than that many bytes
            if not length.strip().isdigit() or int(length) > self.limit:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        body = await self._read(receive)
        if body is None:
            await self._refuse(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> Message | None:
        """The whole body of a request without a Content-Length as one message, or None
        once it passes the limit (what came so far is dropped)."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return message
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = JSONResponse(
            {"detail": f"a request body may hold at most {self.limit:,} bytes"},
            status_code=413,
            headers={"Connection": "close"},  # the rest of the body is never read
        )
        await refusal(scope, receive, send)


def _replay(first: Message, receive: Receive) -> Receive:
    """`receive` whose first message is `first` (the body read already)."""
    pending = [first]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed
