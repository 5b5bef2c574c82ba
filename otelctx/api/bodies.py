"""Request bodies on the query API: read before answering, refused when not expected.

No ``/api`` route takes a body. One is still read to its end (up to MAX_DRAIN bytes)
before the answer, also for 404 and 405: hypercorn's HTTP/1.1 connection stalls the
next request of a keep-alive connection when a response completes while the request
body is still arriving (found by schemathesis: a POST whose body followed its headers
after the route had answered). ``/v1/*`` is left alone: the OTLP receiver checks
capacity and size before it reads a body, on purpose; there ``AnswerAfterBody`` sends
an answer given before the body was read only once the body has been read and discarded,
so the connection stays usable.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import trio
from quart import Quart, Response, request

from otelctx.api.context import error

MAX_DRAIN = 1024 * 1024
# What AnswerAfterBody reads and discards of a refused request body before answering.
LINGER_BYTES = 32 * 1024 * 1024
LINGER_S = 10.0


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


class AnswerAfterBody:
    """ASGI wrapper for HTTP/1.1: a response that starts before the request body has been
    read to its end (an early refusal) is held back until the app returns; the rest of the
    body is then read and discarded — at most ``LINGER_BYTES`` within ``LINGER_S`` — and
    the response sent, so the connection stays usable for the client's next request. A body
    larger or slower than that gets the response with ``Connection: close``.

    Why: hypercorn stalls a keep-alive connection answered before its body was read, and
    closing it with unread bytes makes the kernel reset it, so the client may never see the
    answer (an exporter retrying after a 503 would fail or hang instead of retrying).
    Reading costs no memory (nothing is kept) and no decoding."""

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

        held: list[_Message] | None = None

        async def holding_send(message: _Message) -> None:
            nonlocal held
            if held is None and message["type"] == "http.response.start":
                if not body_done and _has_body(scope):
                    held = [message]
                    return
            elif held is not None:
                held.append(message)
                return
            await send(message)

        await self.app(scope, tracking_receive, holding_send)
        if held is None:
            return
        drained, received = False, 0
        with trio.move_on_after(LINGER_S):
            while not body_done and received <= LINGER_BYTES:
                message = await tracking_receive()
                if message["type"] == "http.disconnect":
                    return  # the client is gone: nobody to answer
                received += len(message.get("body", b""))
            drained = received <= LINGER_BYTES
        if not drained:
            start = held[0]
            headers = [h for h in start.get("headers", ()) if h[0].lower() != b"connection"]
            held[0] = {**start, "headers": [*headers, (b"connection", b"close")]}
        for message in held:
            await send(message)


def _has_body(scope: _Scope) -> bool:
    for name, value in scope.get("headers", ()):
        name = name.lower()
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
        if name == b"transfer-encoding" and b"chunked" in value.lower():
            return True
    return False
