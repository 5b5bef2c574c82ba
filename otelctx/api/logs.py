"""Log routes: ``GET /api/logs`` (search) and ``GET /api/logs/context``."""

from __future__ import annotations

from quart import Blueprint, Response

from otelctx.api.context import deps, json_response, query_args, request_tenant
from otelctx.api.inputs import log_context_input, logs_input
from otelctx.api.render import log_view, rfc3339

blueprint = Blueprint("logs", __name__)


@blueprint.get("/api/logs")
async def search_logs() -> Response:
    q = logs_input(query_args(), request_tenant())
    page = await deps().storage.search_logs(q)
    return json_response(
        {
            "logs": [log_view(r) for r in page.items],
            "total": page.total,
            "limit": q.limit,
            "offset": q.offset,
        }
    )


@blueprint.get("/api/logs/context")
async def log_context() -> Response:
    """The logs around one instant: up to ``limit`` before it and ``limit`` from it on,
    within ``window`` seconds either side, oldest first."""
    c = log_context_input(query_args())
    tenant = request_tenant()
    records = await deps().storage.log_context(tenant, c.time_ns, c.window_ns, c.limit)
    return json_response(
        {
            "logs": [log_view(r) for r in records],
            "timestamp": rfc3339(c.time_ns),
            "timestamp_unix_nano": c.time_ns,
            "window_seconds": c.window_seconds,
        }
    )
