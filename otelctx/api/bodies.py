"""Request bodies on the query API: read before answering, refused when not expected.

No ``/api`` route takes a body. One is still read to its end (up to MAX_DRAIN bytes)
before the answer, also for 404 and 405: hypercorn's HTTP/1.1 connection stalls the
next request of a keep-alive connection when a response completes while the request
body is still arriving (found by schemathesis: a POST whose body followed its headers
after the route had answered). ``/v1/*`` is left alone: the OTLP receiver checks
capacity and size before it reads a body, on purpose.
"""

from __future__ import annotations

from quart import Quart, Response, request

from otelctx.api.context import error

MAX_DRAIN = 1024 * 1024


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
