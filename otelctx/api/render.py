"""JSON views of records and query results, in the shapes of DESIGN.md "HTTP API"
(snake_case, no tenant). Times are RFC 3339 (UTC, nanoseconds) plus ``*_unix_nano``;
durations ``*_ms`` floats; rates are fractions 0..1. Pure: no quart."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from otelctx.model import LogRecord, SpanRecord, TraceSummary
from otelctx.storage.base import Percentile
from otelctx.storage.queries import (
    DashboardStats,
    LatencyPoint,
    MetricBucket,
    PurgeCounts,
    ServiceMap,
    StoreStats,
    TrafficBucket,
)

_NS = 1_000_000_000


def rfc3339(ns: int) -> str:
    """UTC RFC 3339 with nanoseconds, e.g. 2026-04-24T03:03:17.123456789Z."""
    secs, frac = divmod(ns, _NS)
    base = datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z"


def ms(ns: float) -> float:
    return ns / 1_000_000


def span_view(s: SpanRecord) -> dict[str, Any]:
    return {
        "trace_id": s.trace_id,
        "span_id": s.span_id,
        "parent_span_id": s.parent_span_id,
        "service_name": s.service_name,
        "operation_name": s.name,
        "kind": s.kind.otlp_name,
        "start_time": rfc3339(s.start_time_unix_nano),
        "end_time": rfc3339(s.end_time_unix_nano),
        "start_time_unix_nano": s.start_time_unix_nano,
        "end_time_unix_nano": s.end_time_unix_nano,
        "duration_ms": ms(s.duration_ns),
        "status_code": s.status_code.otlp_name,
        "status_message": s.status_message,
        "trace_state": s.trace_state,
        "attributes": s.attributes,
        "resource": s.resource,
        "scope": {"name": s.scope.name, "version": s.scope.version,
                  "attributes": s.scope.attributes},
        "events": [
            {"name": e.name, "timestamp": rfc3339(e.time_unix_nano),
             "timestamp_unix_nano": e.time_unix_nano, "attributes": e.attributes}
            for e in s.events
        ],
        "links": [
            {"trace_id": lk.trace_id, "span_id": lk.span_id, "trace_state": lk.trace_state,
             "attributes": lk.attributes}
            for lk in s.links
        ],
    }  # fmt: skip


def log_view(r: LogRecord) -> dict[str, Any]:
    return {
        "timestamp": rfc3339(r.time_unix_nano),
        "timestamp_unix_nano": r.time_unix_nano,
        "observed_timestamp": rfc3339(r.observed_time_unix_nano),
        "observed_timestamp_unix_nano": r.observed_time_unix_nano,
        "severity_text": r.severity_text,
        "severity_number": r.severity_number,
        "body": r.body,
        "service_name": r.service_name,
        "trace_id": r.trace_id,
        "span_id": r.span_id,
        "flags": r.flags,
        "attributes": r.attributes,
        "resource": r.resource,
        "scope": {"name": r.scope.name, "version": r.scope.version,
                  "attributes": r.scope.attributes},
    }  # fmt: skip


def trace_view(t: TraceSummary, services: list[str]) -> dict[str, Any]:
    return {
        "trace_id": t.trace_id,
        "root_service": t.root_service,
        "root_operation": t.root_operation,
        "start_time": rfc3339(t.start_time_unix_nano),
        "start_time_unix_nano": t.start_time_unix_nano,
        "end_time_unix_nano": t.end_time_unix_nano,
        "duration_ms": ms(t.duration_ns),
        "status": t.status_code.otlp_name,
        "span_count": t.span_count,
        "error_count": t.error_count,
        "services": services,
    }


def ratio(part: int, whole: int) -> float:
    """part / whole as a fraction 0..1 (0 when whole is 0)."""
    return part / whole if whole else 0.0


def _ms_or_none(ns: float | None) -> float | None:
    return None if ns is None else ns / 1_000_000


def _time(ns: int, key: str = "time") -> dict[str, Any]:
    return {key: rfc3339(ns), f"{key}_unix_nano": ns}


def window_view(start_ns: int, end_ns: int) -> dict[str, Any]:
    return {**_time(start_ns, "start"), **_time(end_ns, "end")}


def metric_bucket_view(b: MetricBucket) -> dict[str, Any]:
    return {
        **_time(b.time_ns),
        "min": b.min,
        "max": b.max,
        "sum": b.sum,
        "count": b.count,
        "avg": b.sum / b.count if b.count else None,
        "p50": b.p50,
        "p95": b.p95,
        "p99": b.p99,
    }


def traffic_bucket_view(b: TrafficBucket) -> dict[str, Any]:
    return {**_time(b.time_ns), "count": b.count, "error_count": b.error_count}


def latency_point_view(p: LatencyPoint) -> dict[str, Any]:
    return {
        **_time(p.time_ns),
        "duration_ms": ms(p.duration_ns),
        "trace_id": p.trace_id,
        "is_error": p.is_error,
    }


def dashboard_view(
    d: DashboardStats, p99: Percentile, start_ns: int, end_ns: int
) -> dict[str, Any]:
    return {
        "total_traces": d.total_traces,
        "total_logs": d.total_logs,
        "total_errors": d.total_errors,
        "error_rate": ratio(d.total_errors, d.total_traces),
        "avg_latency_ms": _ms_or_none(d.avg_duration_ns),
        "p99_latency_ms": _ms_or_none(p99.value_ns),
        "p99_method": p99.method,
        "p99_rows": p99.rows,
        "active_services": d.active_services,
        "top_failing_services": [
            {
                "service_name": f.service_name,
                "error_count": f.error_count,
                "total_count": f.total_count,
                "error_rate": ratio(f.error_count, f.total_count),
            }
            for f in d.top_failing
        ],
        **window_view(start_ns, end_ns),
    }


def service_map_view(m: ServiceMap, start_ns: int, end_ns: int) -> dict[str, Any]:
    return {
        "nodes": [
            {
                "name": n.name,
                "span_count": n.span_count,
                "error_count": n.error_count,
                "error_rate": ratio(n.error_count, n.span_count),
                "avg_latency_ms": ms(n.avg_duration_ns),
            }
            for n in m.nodes
        ],
        "edges": [
            {
                "source": e.source,
                "target": e.target,
                "call_count": e.call_count,
                "error_count": e.error_count,
                "error_rate": ratio(e.error_count, e.call_count),
                "avg_latency_ms": ms(e.avg_duration_ns),
            }
            for e in m.edges
        ],
        **window_view(start_ns, end_ns),
    }


def stats_view(s: StoreStats) -> dict[str, Any]:
    return {
        "spans": s.spans,
        "traces": s.traces,
        "error_traces": s.error_traces,
        "logs": s.logs,
        "error_logs": s.error_logs,
        "metric_points": s.metric_points,
        "services": s.services,
        "db_size_bytes": s.db_size_bytes,
    }


def purge_view(p: PurgeCounts, cutoff_ns: int) -> dict[str, Any]:
    return {
        "spans_purged": p.spans,
        "traces_purged": p.traces,
        "logs_purged": p.logs,
        "metric_points_purged": p.metric_points,
        **_time(cutoff_ns, "cutoff"),
    }
