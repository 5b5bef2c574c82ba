"""Whole-graph views: the service map, the system-graph summary and topology snapshots.

All figures are windowed: the service map and snapshots over the ring's 15 minutes, the
system summary over the recent 5 minutes (so ``request_rate_rps`` is calls / 300 s, which
is what the original's formula meant). Health and status follow the original's formulas
(``services.health_score``, ``services.edge_health``, ``services.status_of``); its p99 was
``avg * 2.5``, here it is read from the latency histogram.

The functions return plain JSON-able values (snake_case keys); the API adds times.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from otelctx.graph.services import edge_health, health_score, status_of
from otelctx.graph.tenant import TenantGraph
from otelctx.graph.window import RECENT_MINUTES, SLOTS, WindowStats

MAP_MINUTES = SLOTS
SNAPSHOT_RETENTION_NS = 7 * 24 * 3600 * 1_000_000_000


def _ms(ns: float) -> float:
    return round(ns / 1e6, 3)


def _health(stats: WindowStats) -> float:
    return health_score(stats.error_rate, stats.avg_ns / 1e6)


def service_map(graph: TenantGraph, now_ns: int) -> dict[str, Any]:
    """``{window_seconds, nodes[], edges[]}``, nodes and edges sorted by name."""
    store = graph.services
    nodes = []
    for name in sorted(store.services):
        node = store.services[name]
        s = node.window.stats(now_ns, MAP_MINUTES)
        health = _health(s)
        nodes.append({
            **_operation_view(name, s),
            "health_score": round(health, 2),
            "status": status_of(health),
            "operations": [
                _operation_view(op.name, op.window.stats(now_ns, MAP_MINUTES))
                for op in store.operations_of(name)
            ],
            "calls_to": store.callees_of(name),
            "called_by": store.callers_of(name),
        })  # fmt: skip
    edges = []
    for source, target in sorted(store.edges):
        s = store.edges[(source, target)].window.stats(now_ns, MAP_MINUTES)
        edges.append({
            "source": source,
            "target": target,
            "call_count": s.calls,
            "error_count": s.errors,
            "error_rate": round(s.error_rate, 6),
            "avg_latency_ms": _ms(s.avg_ns),
            "p95_latency_ms": _ms(s.p95_ns),
        })  # fmt: skip
    return {"window_seconds": MAP_MINUTES * 60, "nodes": nodes, "edges": edges}


def _operation_view(name: str, s: WindowStats) -> dict[str, Any]:
    return {
        "name": name,
        "span_count": s.calls,
        "error_count": s.errors,
        "error_rate": round(s.error_rate, 6),
        "avg_latency_ms": _ms(s.avg_ns),
        "p50_latency_ms": _ms(s.p50_ns),
        "p95_latency_ms": _ms(s.p95_ns),
        "p99_latency_ms": _ms(s.p99_ns),
    }


def _alerts(error_rate: float, avg_ms: float) -> list[str]:
    alerts = []
    if error_rate > 0.10:
        alerts.append("error rate above 10% — investigate immediately")
    elif error_rate > 0.05:
        alerts.append("error rate above 5%")
    if avg_ms > 1000:
        alerts.append("avg latency above 1s — SLA breach risk")
    elif avg_ms > 500:
        alerts.append("avg latency above 500ms")
    return alerts


def system_graph(graph: TenantGraph | None, now_ns: int, uptime_s: float) -> dict[str, Any]:
    """The ``/api/system/graph`` body without its timestamp (an empty system for None)."""
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    if graph is not None:
        store = graph.services
        for name in sorted(store.services):
            window = store.services[name].window
            s = window.stats(now_ns, RECENT_MINUTES)
            health = round(_health(s), 2)
            avg = s.avg_ns / 1e6
            nodes.append({
                "id": name,
                "type": "service",
                "health_score": health,
                "status": status_of(health),
                "metrics": {
                    "request_rate_rps": round(s.calls / (RECENT_MINUTES * 60), 2),
                    "error_rate": round(s.error_rate, 6),
                    "avg_latency_ms": round(avg, 2),
                    "p95_latency_ms": round(s.p95_ns / 1e6, 2),
                    "p99_latency_ms": round(s.p99_ns / 1e6, 2),
                    "span_count_5m": s.calls,
                    "span_count_15m": window.calls(now_ns, SLOTS),
                },
                "alerts": _alerts(s.error_rate, avg),
            })  # fmt: skip
        for source, target in sorted(store.edges):
            s = store.edges[(source, target)].window.stats(now_ns, RECENT_MINUTES)
            edges.append({
                "source": source,
                "target": target,
                "call_count": s.calls,
                "avg_latency_ms": round(s.avg_ns / 1e6, 2),
                "error_rate": round(s.error_rate, 6),
                "status": status_of(round(edge_health(s.error_rate, s.avg_ns / 1e6), 2)),
            })  # fmt: skip
    n = len(nodes)
    err_sum = sum(node["metrics"]["error_rate"] for node in nodes)
    avg_sum = sum(node["metrics"]["avg_latency_ms"] for node in nodes)
    statuses = [node["status"] for node in nodes]
    system = {
        "total_services": n,
        "healthy": statuses.count("healthy"),
        "degraded": statuses.count("degraded"),
        "critical": statuses.count("critical"),
        "overall_health_score": max(0.0, round(1 - err_sum / n, 2)) if n else 1.0,
        "total_error_rate": round(err_sum / n, 4) if n else 0.0,
        "avg_latency_ms": round(avg_sum / n, 2) if n else 0.0,
        "uptime_seconds": round(uptime_s, 3),
    }
    return {"system": system, "nodes": nodes, "edges": edges}


@dataclass(frozen=True, slots=True)
class GraphSnapshot:
    """One row of ``graph_snapshots`` (``nodes`` and ``edges`` are JSON columns)."""

    id: str
    tenant_id: str
    created_ns: int
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    service_count: int
    total_calls: int
    avg_health_score: float


def snapshot(graph: TenantGraph, now_ns: int) -> GraphSnapshot | None:
    """The topology now (None for a graph without services)."""
    store = graph.services
    if not store.services:
        return None
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    total_calls = 0
    health_sum = 0.0
    for name in sorted(store.services):
        s = store.services[name].window.stats(now_ns, MAP_MINUTES)
        health = round(_health(s), 4)
        total_calls += s.calls
        health_sum += health
        nodes.append({"id": name, "type": "service", "name": name, "health_score": health,
                      "error_rate": round(s.error_rate, 6), "avg_latency_ms": _ms(s.avg_ns),
                      "call_count": s.calls})  # fmt: skip
        for op in store.operations_of(name):
            o = op.window.stats(now_ns, MAP_MINUTES)
            op_id = f"{name}|{op.name}"
            nodes.append({"id": op_id, "type": "operation", "name": op.name,
                          "health_score": round(_health(o), 4),
                          "error_rate": round(o.error_rate, 6), "avg_latency_ms": _ms(o.avg_ns),
                          "call_count": o.calls})  # fmt: skip
            edges.append({"from": name, "to": op_id, "type": "EXPOSES", "weight": 1.0,
                          "call_count": o.calls, "error_rate": round(o.error_rate, 6)})  # fmt: skip
    for source, target in sorted(store.edges):
        e = store.edges[(source, target)].window.stats(now_ns, MAP_MINUTES)
        edges.append({"from": source, "to": target, "type": "CALLS", "weight": float(e.calls),
                      "call_count": e.calls, "error_rate": round(e.error_rate, 6)})  # fmt: skip
    n = len(store.services)
    return GraphSnapshot(
        id=f"snap_{now_ns}",
        tenant_id=graph.tenant_id,
        created_ns=now_ns,
        nodes=nodes,
        edges=edges,
        service_count=n,
        total_calls=total_calls,
        avg_health_score=round(health_sum / n, 4),
    )
