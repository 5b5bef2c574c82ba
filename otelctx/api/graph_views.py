"""JSON views of the graph's objects (snake_case; times as RFC 3339 plus ``*_unix_nano``)."""

from __future__ import annotations

from typing import Any

from otelctx.api.render import rfc3339
from otelctx.graph.anomalies import Anomaly
from otelctx.graph.investigations import Investigation
from otelctx.graph.queries import Correlated, ErrorChain, Impacted, RankedCause
from otelctx.graph.signals import LogCluster, MetricNode, severity_name
from otelctx.graph.summary import GraphSnapshot
from otelctx.graph.traces import SpanNode
from otelctx.model import StatusCode


def _time(prefix: str, ns: int) -> dict[str, Any]:
    return {prefix: rfc3339(ns), f"{prefix}_unix_nano": ns}


def graph_span_view(s: SpanNode) -> dict[str, Any]:
    return {
        "trace_id": s.trace_id,
        "span_id": s.span_id,
        "parent_span_id": s.parent_span_id,
        "service_name": s.service,
        "operation_name": s.operation,
        **_time("start_time", s.start_ns),
        "end_time_unix_nano": s.end_ns,
        "duration_ms": s.duration_ns / 1e6,
        "status_code": StatusCode(s.status).otlp_name,
        "status_message": s.status_message,
    }


def log_cluster_view(c: LogCluster) -> dict[str, Any]:
    return {
        "id": c.id,
        "service_name": c.service,
        "template": c.template,
        "template_id": f"{c.template_id:016x}",
        "sample": c.sample,
        "count": c.count,
        "max_severity": severity_name(c.max_severity),
        "severities": dict(sorted(c.severities.items())),
        **_time("first_seen", c.first_seen_ns),
        **_time("last_seen", c.last_seen_ns),
    }


def metric_view(m: MetricNode) -> dict[str, Any]:
    return {
        "service_name": m.service,
        "name": m.name,
        "samples": m.samples,
        "last_value": m.last_value,
        "min": m.min if m.samples else None,
        "max": m.max if m.samples else None,
        "mean": m.mean,
        "std_dev": m.variance**0.5,
        "z_score": round(m.last_z, 3),
        **_time("last_seen", m.last_seen_ns),
    }


def anomaly_view(a: Anomaly) -> dict[str, Any]:
    return {
        "id": a.id,
        "service_name": a.service,
        "type": a.type.value,
        "severity": a.severity.label,
        "active": a.active,
        "value": a.value,
        "baseline": a.baseline,
        "peak": a.peak,
        "evidence": a.evidence,
        **_time("started_at", a.started_ns),
        **_time("last_seen", a.last_seen_ns),
        "ended_at": None if a.ended_ns is None else rfc3339(a.ended_ns),
        "ended_at_unix_nano": a.ended_ns,
    }


def chain_view(c: ErrorChain) -> dict[str, Any]:
    root = c.root_cause
    return {
        "trace_id": c.trace_id,
        "root_cause": {
            "service_name": root.service,
            "operation_name": root.operation,
            "span_id": root.span_id,
            "trace_id": root.trace_id,
            "error_message": root.status_message,
        },
        "trigger_span_id": c.trigger.span_id,
        "span_chain": [graph_span_view(s) for s in c.steps],
        "correlated_logs": [log_cluster_view(lc) for lc in c.logs],
    }


def impacted_view(i: Impacted) -> dict[str, Any]:
    return {
        "service_name": i.service,
        "depth": i.depth,
        "via": i.via,
        "call_count": i.call_count,
        "error_rate": round(i.error_rate, 6),
        "impact_score": i.impact_score,
    }


def cause_view(r: RankedCause) -> dict[str, Any]:
    return {
        "service_name": r.service,
        "operation_name": r.operation,
        "score": r.score,
        "evidence": list(r.evidence),
        "chain_count": r.chain_count,
        "trace_ids": list(r.trace_ids),
        "error_message": r.error_message,
        "anomalies": [anomaly_view(a) for a in r.anomalies],
    }


def correlated_view(c: Correlated) -> dict[str, Any]:
    return {
        "service_name": c.service,
        "error_logs": [log_cluster_view(lc) for lc in c.error_logs],
        "metrics": [metric_view(m) for m in c.metrics],
        "anomalies": [anomaly_view(a) for a in c.anomalies],
        "error_chains": [chain_view(ch) for ch in c.error_chains],
    }


def snapshot_view(s: GraphSnapshot) -> dict[str, Any]:
    return {
        "id": s.id,
        **_time("created_at", s.created_ns),
        "service_count": s.service_count,
        "total_calls": s.total_calls,
        "avg_health_score": s.avg_health_score,
        "nodes": s.nodes,
        "edges": s.edges,
    }


def investigation_view(inv: Investigation) -> dict[str, Any]:
    return {
        "id": inv.id,
        **_time("created_at", inv.created_ns),
        "status": inv.status,
        "severity": inv.severity.label,
        "trigger_service": inv.trigger_service,
        "trigger_operation": inv.trigger_operation,
        "error_message": inv.error_message,
        "root_service": inv.root_service,
        "root_operation": inv.root_operation,
        "causal_chain": [
            {"service_name": s.service, "operation_name": s.operation, "span_id": s.span_id,
             "is_error": s.is_error}
            for s in inv.causal_chain
        ],
        "trace_ids": list(inv.trace_ids),
        "error_logs": [
            {"id": r.id, "service_name": r.service, "template": r.template, "sample": r.sample,
             "count": r.count, "max_severity": severity_name(r.max_severity),
             **_time("last_seen", r.last_seen_ns)}
            for r in inv.error_logs
        ],
        "anomalous_metrics": [
            {"service_name": m.service, "name": m.name, "value": m.value, "mean": m.mean,
             "z_score": m.z_score}
            for m in inv.anomalous_metrics
        ],
        "affected_services": list(inv.affected_services),
        "span_chain": [
            {"trace_id": s.trace_id, "span_id": s.span_id, "parent_span_id": s.parent_span_id,
             "service_name": s.service, "operation_name": s.operation,
             **_time("start_time", s.start_ns), "duration_ms": s.duration_ns / 1e6,
             "is_error": s.is_error, "status_message": s.status_message}
            for s in inv.span_chain
        ],
        "anomaly_ids": list(inv.anomaly_ids),
    }  # fmt: skip
