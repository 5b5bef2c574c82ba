"""Trace routes: ``GET /api/traces`` (search) and ``GET /api/traces/{trace_id}``."""

from __future__ import annotations

import re

from quart import Blueprint, Response

from otelctx.api.context import deps, error, json_response, query_args, request_tenant
from otelctx.api.inputs import no_input, traces_input
from otelctx.api.render import log_view, span_view, trace_view

blueprint = Blueprint("traces", __name__)

_TRACE_ID = re.compile(r"[0-9a-f]{32}")


@blueprint.get("/api/traces")
async def search_traces() -> Response:
    q = traces_input(query_args(), request_tenant())
    page = await deps().storage.search_traces(q)
    return json_response(
        {
            "traces": [trace_view(row.summary, row.services) for row in page.items],
            "total": page.total,
            "limit": q.limit,
            "offset": q.offset,
        }
    )


@blueprint.get("/api/traces/<trace_id>")
async def get_trace(trace_id: str) -> Response:
    no_input(query_args())
    trace_id = trace_id.strip().lower()
    if not _TRACE_ID.fullmatch(trace_id):
        return error("trace_id must be 32 hex characters", 400)
    detail = await deps().storage.get_trace(request_tenant(), trace_id)
    if detail is None:
        return error("trace not found", 404)
    view = trace_view(detail.summary, detail.services)
    view["spans"] = [span_view(s) for s in detail.spans]
    view["logs"] = [log_view(r) for r in detail.logs]
    return json_response(view)
