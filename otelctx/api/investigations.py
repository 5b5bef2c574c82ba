"""Investigation routes: ``GET /api/investigations`` and ``GET /api/investigations/{id}``.

Read from the graph's persistence, scoped to the request's tenant: another tenant's
investigation is 404, as if it did not exist.
"""

from __future__ import annotations

from quart import Blueprint, Response, request

from otelctx.api.context import error, json_response, request_tenant
from otelctx.api.graph import BadParameter, graph_service, int_param, register_errors, text_param
from otelctx.api.graph_views import investigation_view
from otelctx.graph.anomalies import Severity
from otelctx.graph.investigations import Status
from otelctx.graph.persist import MAX_LIST, InvestigationFilter

blueprint = Blueprint("investigations", __name__)
register_errors(blueprint)

_SEVERITIES = {s.label: s for s in Severity}
MAX_ID_LEN = 64


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.args.get(name)
    if value is not None and value not in allowed:
        raise BadParameter(f"{name} must be one of {'|'.join(allowed)}")
    return value


@blueprint.get("/api/investigations")
async def list_investigations() -> Response:
    service = graph_service()
    tenant = request_tenant()
    severity = _choice("severity", tuple(_SEVERITIES))
    f = InvestigationFilter(
        tenant_id=tenant,
        service=text_param("service"),
        severity=None if severity is None else _SEVERITIES[severity],
        status=_choice("status", Status.ALL),
        limit=int_param("limit", 20, 1, MAX_LIST),
    )
    found = await service.persist.list_investigations(f)
    return json_response({"investigations": [investigation_view(i) for i in found],
                          "limit": f.limit})  # fmt: skip


@blueprint.get("/api/investigations/<investigation_id>")
async def get_investigation(investigation_id: str) -> Response:
    service = graph_service()
    tenant = request_tenant()
    if not investigation_id or len(investigation_id) > MAX_ID_LEN:
        return error(f"investigation id must be 1..{MAX_ID_LEN} characters", 400)
    inv = await service.persist.get_investigation(tenant, investigation_id)
    if inv is None:
        return error("investigation not found", 404)
    return json_response(investigation_view(inv))
