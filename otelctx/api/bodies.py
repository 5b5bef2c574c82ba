"""Request bodies on the query API: read before answering, refused when not expected.

No ``/api`` route takes a body. One is still read to its end (up to MAX_DRAIN bytes)
before the answer, also for 404 and 405: hypercorn's HTTP/1.1 connection stalls the
next request of a keep-alive connection when a response completes while the request
body is still arriving (found by schemathesis: a POST whose body followed its headers
after the route had answered). ``/v1/*`` is left alone: the OTLP receiver checks
capacity and size before it reads a body, on purpose; there ``CloseUnread`` marks an
answer given before the body was read with ``Connection: close``, so the client opens a
new connection at once instead of waiting on a stalled one (an exporter retrying after a
503 would otherwise hang until the keep-alive timeout).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import trio
from quart import Quart, Response, request

from otelctx.api.context import error

MAX_DRAIN = 1024 * 1024
_CLOSE_LIMIT_S = 5.0  # to send the last bytes of a response and close its connection


def install(app: Quart) -> None:
    @app.before_request
    async def read_the_body() -> Response | None:
        if request.path.startswith("/v1/") or not _may_have_body():
            return None
        size = 0
        async for chunk in request.body:
            size += len(chunk)
            if size > MAX_DRAIN:
                break
        if size and request.url_rule is not None and request.routing_exception is None:
            return error("this route takes no request body", 400)
        return None


def _may_have_body() -> bool:
    length = request.headers.get("Content-Length")
    return (length is not None and length.strip() != "0") or (
        "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    )


_Scope = MutableMapping[str, Any]
_Message = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]
ASGIApp = Callable[[_Scope, _Receive, _Send], Awaitable[None]]


class CloseUnread:
    """ASGI wrapper: an HTTP/1 response that starts before the request body was read to
    its end carries ``Connection: close``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] != "http" or scope.get("http_version") not in ("1.0", "1.1"):
            await self.app(scope, receive, send)
            return
        body_done = False

        async def tracking_receive() -> _Message:
            nonlocal body_done
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        closing = False

        async def closing_send(message: _Message) -> None:
            nonlocal closing
            if message["type"] == "http.response.start" and not body_done and _has_body(scope):
                headers = [h for h in message.get("headers", ()) if h[0].lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
                closing = True
            if (
                closing
                and message["type"] == "http.response.body"
                and not message.get("more_body", False)
            ):
                # hypercorn closes the connection from inside this call; quart-trio may
                # already have cancelled the request's nursery (the body ended), and a
                # cancelled close leaves the socket open: shield it, briefly.
                with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_LIMIT_S):
                    await send(message)
                return
            await send(message)

        await self.app(scope, tracking_receive, closing_send)


def _has_body(scope: _Scope) -> bool:
    for name, value in scope.get("headers", ()):
        name = name.lower()
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
        if name == b"transfer-encoding" and b"chunked" in value.lower():
            return True
    return False
