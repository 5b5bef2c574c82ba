"""JSON views of records, in the shapes of DESIGN.md "HTTP API" (snake_case, no tenant)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from otelctx.model import LogRecord, SpanRecord, TraceSummary

_NS = 1_000_000_000


def rfc3339(ns: int) -> str:
    """UTC RFC 3339 with nanoseconds, e.g. 2026-04-24T03:03:17.123456789Z."""
    secs, frac = divmod(ns, _NS)
    base = datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z"


def ms(ns: int) -> float:
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
