"""Trace routes: ``GET /api/traces/{trace_id}``."""

from __future__ import annotations

import re

from quart import Blueprint, Response

from otelctx.api.context import deps, error, json_response, request_tenant
from otelctx.api.render import log_view, span_view, trace_view
from otelctx.tenants import InvalidTenant

blueprint = Blueprint("traces", __name__)

_TRACE_ID = re.compile(r"[0-9a-f]{32}")


@blueprint.get("/api/traces/<trace_id>")
async def get_trace(trace_id: str) -> Response:
    trace_id = trace_id.strip().lower()
    if not _TRACE_ID.fullmatch(trace_id):
        return error("trace_id must be 32 hex characters", 400)
    try:
        tenant = request_tenant()
    except InvalidTenant as exc:
        return error(f"invalid X-Tenant-ID header: {exc}", 400)
    detail = await deps().storage.get_trace(tenant, trace_id)
    if detail is None:
        return error("trace not found", 404)
    view = trace_view(detail.summary, detail.services)
    view["spans"] = [span_view(s) for s in detail.spans]
    view["logs"] = [log_view(r) for r in detail.logs]
    return json_response(view)
