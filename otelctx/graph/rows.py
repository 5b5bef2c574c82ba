"""Table rows of what the graph persists: pure conversions for the SQL implementations.

Each ``*_row`` returns a dict of column name → value ready for a parameterised INSERT
(lists and objects as JSON text, times as integer unix nanoseconds, template ids as
signed 64-bit integers); each ``*_from_row`` reads such a dict back, so that
``x_from_row(x_row(v)) == v``. Tables (every one with ``tenant_id``)::

    investigations   (tenant_id, id) primary key; created_at indexed with tenant_id
    graph_snapshots  (tenant_id, id) primary key; created_at indexed with tenant_id
    drain_templates  (tenant_id, id) primary key
"""

from __future__ import annotations

from typing import Any

import orjson

from otelctx.graph.anomalies import Severity
from otelctx.graph.drain import TemplateRecord, from_signed64, to_signed64
from otelctx.graph.investigations import ChainStep, Investigation, LogRef, MetricRef, SpanRef
from otelctx.graph.summary import GraphSnapshot

INVESTIGATION_COLUMNS = (
    "id", "tenant_id", "created_at", "status", "severity", "trigger_service",
    "trigger_operation", "error_message", "root_service", "root_operation", "causal_chain",
    "trace_ids", "error_logs", "anomalous_metrics", "affected_services", "span_chain",
    "anomaly_ids",
)  # fmt: skip
SNAPSHOT_COLUMNS = (
    "id", "tenant_id", "created_at", "nodes", "edges", "service_count", "total_calls",
    "avg_health_score",
)  # fmt: skip
TEMPLATE_COLUMNS = ("tenant_id", "id", "tokens", "count", "first_seen", "last_seen", "sample")


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _load(text: str | bytes) -> Any:
    return orjson.loads(text)


def investigation_row(inv: Investigation) -> dict[str, Any]:
    return {
        "id": inv.id,
        "tenant_id": inv.tenant_id,
        "created_at": inv.created_ns,
        "status": inv.status,
        "severity": inv.severity.label,
        "trigger_service": inv.trigger_service,
        "trigger_operation": inv.trigger_operation,
        "error_message": inv.error_message,
        "root_service": inv.root_service,
        "root_operation": inv.root_operation,
        "causal_chain": _json([
            [s.service, s.operation, s.span_id, s.is_error] for s in inv.causal_chain
        ]),
        "trace_ids": _json(list(inv.trace_ids)),
        "error_logs": _json([
            [r.id, r.service, r.template, r.sample, r.count, r.max_severity, r.last_seen_ns]
            for r in inv.error_logs
        ]),
        "anomalous_metrics": _json([
            [m.service, m.name, m.value, m.mean, m.z_score] for m in inv.anomalous_metrics
        ]),
        "affected_services": _json(list(inv.affected_services)),
        "span_chain": _json([
            [s.trace_id, s.span_id, s.parent_span_id, s.service, s.operation, s.start_ns,
             s.duration_ns, s.is_error, s.status_message]
            for s in inv.span_chain
        ]),
        "anomaly_ids": _json(list(inv.anomaly_ids)),
    }  # fmt: skip


def investigation_from_row(row: dict[str, Any]) -> Investigation:
    return Investigation(
        id=row["id"],
        tenant_id=row["tenant_id"],
        created_ns=int(row["created_at"]),
        status=row["status"],
        severity=Severity[str(row["severity"]).upper()],
        trigger_service=row["trigger_service"],
        trigger_operation=row["trigger_operation"],
        error_message=row["error_message"],
        root_service=row["root_service"],
        root_operation=row["root_operation"],
        causal_chain=tuple(ChainStep(*v) for v in _load(row["causal_chain"])),
        trace_ids=tuple(_load(row["trace_ids"])),
        error_logs=tuple(LogRef(*v) for v in _load(row["error_logs"])),
        anomalous_metrics=tuple(MetricRef(*v) for v in _load(row["anomalous_metrics"])),
        affected_services=tuple(_load(row["affected_services"])),
        span_chain=tuple(SpanRef(*v) for v in _load(row["span_chain"])),
        anomaly_ids=tuple(_load(row["anomaly_ids"])),
    )


def snapshot_row(snap: GraphSnapshot) -> dict[str, Any]:
    return {
        "id": snap.id,
        "tenant_id": snap.tenant_id,
        "created_at": snap.created_ns,
        "nodes": _json(snap.nodes),
        "edges": _json(snap.edges),
        "service_count": snap.service_count,
        "total_calls": snap.total_calls,
        "avg_health_score": snap.avg_health_score,
    }


def snapshot_from_row(row: dict[str, Any]) -> GraphSnapshot:
    return GraphSnapshot(
        id=row["id"],
        tenant_id=row["tenant_id"],
        created_ns=int(row["created_at"]),
        nodes=_load(row["nodes"]),
        edges=_load(row["edges"]),
        service_count=int(row["service_count"]),
        total_calls=int(row["total_calls"]),
        avg_health_score=float(row["avg_health_score"]),
    )


def template_row(tenant_id: str, r: TemplateRecord) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "id": to_signed64(r.id),
        "tokens": _json(list(r.tokens)),
        "count": r.count,
        "first_seen": r.first_seen_ns,
        "last_seen": r.last_seen_ns,
        "sample": r.sample,
    }


def template_from_row(row: dict[str, Any]) -> tuple[str, TemplateRecord]:
    record = TemplateRecord(
        id=from_signed64(int(row["id"])),
        tokens=tuple(_load(row["tokens"])),
        count=int(row["count"]),
        first_seen_ns=int(row["first_seen"]),
        last_seen_ns=int(row["last_seen"]),
        sample=row["sample"],
    )
    return row["tenant_id"], record
