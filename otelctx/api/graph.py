"""Service-graph routes: ``/api/graph/*`` and ``/api/system/graph``.

Every route reads the graph of the request's tenant only (``request_tenant()``); a tenant
without a graph sees empty lists, and a service, trace or path it does not have is 404,
exactly as if it did not exist anywhere. Bad parameters are 400 with ``{"error"}``
saying what is allowed; nothing is silently defaulted.

The graph is in memory and the queries are synchronous: each is bounded by the graph's
own bounds (``GRAPHRAG_MAX_*``), so none holds the event loop for long.

Parameters: a parameter that is present is validated even when empty (``?since=`` is a
400, not the default); names (services) are matched exactly as given.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from quart import Blueprint, Response, request

from otelctx.api.context import deps, error, json_response, request_tenant
from otelctx.api.graph_views import (
    anomaly_view,
    cause_view,
    chain_view,
    correlated_view,
    graph_span_view,
    impacted_view,
    snapshot_view,
)
from otelctx.api.render import rfc3339
from otelctx.graph import queries, summary
from otelctx.graph.tenant import TenantGraph
from otelctx.nurseries.graph import GraphService
from otelctx.tenants import InvalidTenant

blueprint = Blueprint("graph", __name__)

NS_PER_MIN = 60 * 1_000_000_000
DEFAULT_SINCE_NS = 15 * NS_PER_MIN
ANOMALY_SINCE_NS = 24 * 60 * NS_PER_MIN
MAX_NAME_LEN = 255
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_INTEGER = re.compile(r"-?[0-9]+")
_DIGITS = re.compile(r"[0-9]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_NS = 2**63 - 1


class BadParameter(Exception):
    """A query parameter is missing or invalid; ``str(exc)`` says what is allowed."""


class NotRunning(Exception):
    pass


async def _bad_parameter(exc: BadParameter) -> Response:
    return error(str(exc), 400)


async def _bad_tenant(exc: InvalidTenant) -> Response:
    return error(f"invalid X-Tenant-ID header: {exc}", 400)


async def _not_running(_exc: NotRunning) -> Response:
    return error("the service graph is not running", 503)


def register_errors(bp: Blueprint) -> None:
    """400 for bad parameters and tenant headers, 503 without a graph (for ``bp``'s routes)."""
    bp.register_error_handler(BadParameter, _bad_parameter)
    bp.register_error_handler(InvalidTenant, _bad_tenant)
    bp.register_error_handler(NotRunning, _not_running)


register_errors(blueprint)


# -- parameters (shared with api.investigations) ------------------------------------------


def graph_service() -> GraphService:
    graph = deps().graph
    if graph is None:
        raise NotRunning
    return graph


def text_param(name: str) -> str | None:
    """An optional name, taken as it is (a service name may hold any character); absent
    is None, present it must be 1..255 characters."""
    value = request.args.get(name)
    if value is not None and not 1 <= len(value) <= MAX_NAME_LEN:
        raise BadParameter(f"{name} must be 1..{MAX_NAME_LEN} characters")
    return value


def required_text(name: str) -> str:
    value = request.args.get(name)
    if not value:
        raise BadParameter(f"{name} is required")
    if len(value) > MAX_NAME_LEN:
        raise BadParameter(f"{name} must be 1..{MAX_NAME_LEN} characters")
    return value


def int_param(name: str, default: int, low: int, high: int) -> int:
    """Absent: ``default``; present (even empty) it must be an integer in low..high."""
    text = request.args.get(name)
    if text is None:
        return default
    if not _INTEGER.fullmatch(text) or not low <= int(text) <= high:
        raise BadParameter(f"{name} must be an integer in {low}..{high}")
    return int(text)


def time_param(name: str, default_ns: int) -> int:
    """An RFC 3339 time with a zone (``2026-04-24T03:00:00Z``) or integer unix nanoseconds;
    absent: ``default_ns``. Times before 1970 or after 2262 are clamped to that range."""
    text = request.args.get(name)
    if text is None:
        return default_ns
    ns: int | None = None
    if _DIGITS.fullmatch(text):
        ns = int(text)
    else:
        try:
            parsed = datetime.fromisoformat(text)
            if parsed.tzinfo is not None:
                delta = parsed - _EPOCH
                ns = (delta.days * 86_400 + delta.seconds) * 1_000_000_000
                ns += delta.microseconds * 1000
        except (ValueError, OverflowError):
            ns = None
    if ns is None:
        raise BadParameter(
            f"{name} must be an RFC 3339 time with a zone (e.g. 2026-04-24T03:00:00Z) "
            "or unix nanoseconds"
        )
    return min(max(ns, 0), _MAX_NS)


def _tenant_graph() -> tuple[GraphService, TenantGraph | None]:
    service = graph_service()
    return service, service.registry.get(request_tenant())


def _with_service(graph: TenantGraph | None, name: str) -> TenantGraph | None:
    """The graph if it knows the service, else None (the route answers 404)."""
    if graph is None or name not in graph.services.services:
        return None
    return graph


def _unknown(name: str) -> Response:
    return error(f"service {name!r} is not in the graph", 404)


def _since(now: int, default: int) -> dict[str, Any]:
    since = time_param("since", now - default)
    return {"since": rfc3339(since), "since_unix_nano": since}


# -- routes ------------------------------------------------------------------------------


@blueprint.get("/api/graph/service-map")
async def service_map() -> Response:
    service, graph = _tenant_graph()
    now = service.clock()
    if graph is None:
        return json_response({"window_seconds": summary.MAP_MINUTES * 60, "nodes": [],
                              "edges": []})  # fmt: skip
    return json_response(summary.service_map(graph, now))


@blueprint.get("/api/graph/error-chains")
async def error_chains() -> Response:
    service, graph = _tenant_graph()
    name = required_text("service")
    now = service.clock()
    window = _since(now, DEFAULT_SINCE_NS)
    limit = int_param("limit", 10, 1, 100)
    g = _with_service(graph, name)
    if g is None:
        return _unknown(name)
    chains = queries.error_chains(g, name, window["since_unix_nano"], limit)
    return json_response({"service_name": name, **window,
                          "chains": [chain_view(c) for c in chains]})  # fmt: skip


@blueprint.get("/api/graph/impact")
async def impact() -> Response:
    service, graph = _tenant_graph()
    name = required_text("service")
    depth = int_param("depth", 5, 1, 10)
    g = _with_service(graph, name)
    if g is None:
        return _unknown(name)
    found = queries.impact(g, name, depth, service.clock())
    return json_response({"service_name": name, "depth": depth, "total_affected": len(found),
                          "affected": [impacted_view(i) for i in found]})  # fmt: skip


@blueprint.get("/api/graph/root-cause")
async def root_cause() -> Response:
    service, graph = _tenant_graph()
    name = required_text("service")
    window = _since(service.clock(), DEFAULT_SINCE_NS)
    g = _with_service(graph, name)
    if g is None:
        return _unknown(name)
    ranked = queries.rank_root_causes(g, name, window["since_unix_nano"])
    return json_response({"service_name": name, **window,
                          "causes": [cause_view(r) for r in ranked]})  # fmt: skip


@blueprint.get("/api/graph/dependency-chain/<trace_id>")
async def dependency_chain(trace_id: str) -> Response:
    _, graph = _tenant_graph()
    trace_id = trace_id.strip().lower()
    if not _TRACE_ID.fullmatch(trace_id):
        return error("trace_id must be 32 hex characters", 400)
    chain = None if graph is None else queries.dependency_chain(graph, trace_id)
    if chain is None:
        return error("trace not in the graph (it holds traces for GRAPHRAG_TRACE_TTL)", 404)
    spans = [{**graph_span_view(s), "depth": d} for s, d in chain]
    return json_response({"trace_id": trace_id, "span_count": len(spans), "spans": spans})


@blueprint.get("/api/graph/correlated")
async def correlated() -> Response:
    service, graph = _tenant_graph()
    name = required_text("service")
    window = _since(service.clock(), DEFAULT_SINCE_NS)
    g = _with_service(graph, name)
    if g is None:
        return _unknown(name)
    found = queries.correlated(g, name, window["since_unix_nano"])
    return json_response({**correlated_view(found), **window})


@blueprint.get("/api/graph/shortest-path")
async def shortest_path() -> Response:
    service, graph = _tenant_graph()
    source = required_text("from")
    target = required_text("to")
    for name in (source, target):
        if _with_service(graph, name) is None:
            return _unknown(name)
    assert graph is not None  # it knows both services
    found = queries.shortest_path(graph, source, target, service.clock())
    if found is None:
        return error(f"no path between {source!r} and {target!r}", 404)
    path, cost = found
    return json_response({"from": source, "to": target, "path": path, "hops": len(path) - 1,
                          "cost": round(cost, 6)})  # fmt: skip


@blueprint.get("/api/graph/anomalies")
async def anomalies() -> Response:
    service, graph = _tenant_graph()
    window = _since(service.clock(), ANOMALY_SINCE_NS)
    name = text_param("service")
    found = [] if graph is None else graph.anomalies.timeline(window["since_unix_nano"])
    if name is not None:
        found = [a for a in found if a.service == name]
    return json_response({**window, "anomalies": [anomaly_view(a) for a in found]})


@blueprint.get("/api/graph/snapshots")
async def snapshots() -> Response:
    service = graph_service()
    tenant = request_tenant()
    at = time_param("at", service.clock())
    snap = await service.persist.snapshot_at(tenant, at)
    if snap is None:
        return error(f"no snapshot at or before {rfc3339(at)} (one is taken every "
                     "GRAPHRAG_SNAPSHOT_INTERVAL and kept 7 days)", 404)  # fmt: skip
    return json_response(snapshot_view(snap))


@blueprint.get("/api/system/graph")
async def system_graph() -> Response:
    service, graph = _tenant_graph()
    now = service.clock()
    body = summary.system_graph(graph, now, (now - service.started_ns) / 1e9)
    return json_response({"timestamp": rfc3339(now), "timestamp_unix_nano": now, **body})
