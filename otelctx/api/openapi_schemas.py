"""The response shapes of the HTTP API as OpenAPI 3.0 schemas (``components.schemas``).

They describe what :mod:`otelctx.api.render` produces; the schemathesis test checks
real responses against them. Objects list their fields as required and allow more
(new fields may be added without breaking clients). Pure data.
"""

from __future__ import annotations

from typing import Any

from otelctx.model import SpanKind, StatusCode

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Schema], description: str | None = None) -> Schema:
    schema: Schema = {"type": "object", "required": sorted(properties), "properties": properties}
    if description:
        schema["description"] = description
    return schema


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def param(
    name: str, schema: Schema, description: str, *, required: bool = False, where: str = "query"
) -> dict[str, Any]:
    """A parameter object; query parameters are form-style and exploded (``a=1&a=2``)."""
    p: dict[str, Any] = {"name": name, "in": where, "required": required}
    p |= {"description": description, "schema": schema}
    if where == "query":
        p |= {"style": "form", "explode": True}
    return p


def json_content(schema: Schema, description: str) -> dict[str, Any]:
    """A response object with a JSON body."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


STRING: Schema = {"type": "string"}
# An X-Tenant-ID header: the rule of otelctx.tenants; empty or blank means DEFAULT_TENANT.
TENANT: Schema = {
    "type": "string",
    "maxLength": 128,
    "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f\\u00ad]*$",
}
BOOLEAN: Schema = {"type": "boolean"}
INTEGER: Schema = {"type": "integer", "format": "int64"}
COUNT: Schema = {"type": "integer", "format": "int64", "minimum": 0}
NUMBER: Schema = {"type": "number"}
NULLABLE_NUMBER: Schema = {"type": "number", "nullable": True}
TIME: Schema = {"type": "string", "format": "date-time", "description": "RFC 3339, UTC"}
UNIX_NANO: Schema = {
    "type": "integer",
    "format": "int64",
    "minimum": 0,
    "description": "unix time in nanoseconds",
}
DURATION_MS: Schema = {"type": "number", "minimum": 0, "description": "milliseconds"}
RATE: Schema = {
    "type": "number",
    "minimum": 0,
    "maximum": 1,
    "description": "a fraction 0..1 (not a percentage)",
}
ATTRIBUTES: Schema = {
    "type": "object",
    "additionalProperties": True,
    "description": "attribute key → JSON value",
}
HEX_ID: Schema = {
    "type": "string",
    "pattern": "^([0-9a-f]{16}|[0-9a-f]{32})?$",
    "description": "lowercase hex; empty when absent",
}


def _timed(key: str) -> dict[str, Schema]:
    return {key: TIME, f"{key}_unix_nano": UNIX_NANO}


WINDOW = {**_timed("start"), **_timed("end")}

SCHEMAS: dict[str, Schema] = {
    "Error": obj({"error": STRING}, "Every error answer: a message for people."),
    "Scope": obj({"name": STRING, "version": STRING, "attributes": ATTRIBUTES}),
    "SpanEvent": obj({**_timed("timestamp"), "name": STRING, "attributes": ATTRIBUTES}),
    "SpanLink": obj(
        {"trace_id": HEX_ID, "span_id": HEX_ID, "trace_state": STRING, "attributes": ATTRIBUTES}
    ),
    "Span": obj(
        {
            "trace_id": HEX_ID,
            "span_id": HEX_ID,
            "parent_span_id": HEX_ID,
            "service_name": STRING,
            "operation_name": STRING,
            "kind": {"type": "string", "enum": [k.otlp_name for k in SpanKind]},
            **_timed("start_time"),
            **_timed("end_time"),
            "duration_ms": DURATION_MS,
            "status_code": {"type": "string", "enum": [c.otlp_name for c in StatusCode]},
            "status_message": STRING,
            "trace_state": STRING,
            "attributes": ATTRIBUTES,
            "resource": ATTRIBUTES,
            "scope": ref("Scope"),
            "events": array(ref("SpanEvent")),
            "links": array(ref("SpanLink")),
        }
    ),
    "Trace": obj(
        {
            "trace_id": HEX_ID,
            "root_service": STRING,
            "root_operation": STRING,
            **_timed("start_time"),
            "end_time_unix_nano": UNIX_NANO,
            "duration_ms": DURATION_MS,
            "status": {
                "type": "string",
                "enum": [c.otlp_name for c in StatusCode],
                "description": "ERROR when any span failed",
            },
            "span_count": COUNT,
            "error_count": COUNT,
            "services": array(STRING),
        },
        "A trace summary; services are the sorted service names of its spans.",
    ),
    "Log": obj(
        {
            **_timed("timestamp"),
            **_timed("observed_timestamp"),
            "severity_text": STRING,
            "severity_number": INTEGER,
            "body": {"description": "a string, or any JSON value for structured bodies"},
            "service_name": STRING,
            "trace_id": HEX_ID,
            "span_id": HEX_ID,
            "flags": INTEGER,
            "attributes": ATTRIBUTES,
            "resource": ATTRIBUTES,
            "scope": ref("Scope"),
        }
    ),
    "TraceList": obj(
        {
            "traces": array(ref("Trace")),
            "total": COUNT,
            "limit": COUNT,
            "offset": COUNT,
        },
        "total counts every match, not only this page.",
    ),
    "LogList": obj(
        {
            "logs": array(ref("Log")),
            "total": COUNT,
            "limit": COUNT,
            "offset": COUNT,
        }
    ),
    "LogContext": obj(
        {
            "logs": array(ref("Log")),
            **_timed("timestamp"),
            "window_seconds": COUNT,
        },
        "Oldest first.",
    ),
    "MetricBucket": obj(
        {
            **_timed("time"),
            "min": NULLABLE_NUMBER,
            "max": NULLABLE_NUMBER,
            "sum": NULLABLE_NUMBER,
            "count": COUNT,
            "avg": NULLABLE_NUMBER,
            "p50": NULLABLE_NUMBER,
            "p95": NULLABLE_NUMBER,
            "p99": NULLABLE_NUMBER,
        },
        "Points in [time, time + step). Gauges and sums aggregate values; histograms and"
        " summaries add counts and sums and estimate percentiles (null when unknown).",
    ),
    "MetricSeries": obj(
        {
            "name": STRING,
            "service_name": {"type": "string", "nullable": True},
            "step_seconds": NUMBER,
            **WINDOW,
            "buckets": array(ref("MetricBucket")),
        },
        "Non-empty buckets only, oldest first.",
    ),
    "Services": obj({"services": array(STRING)}, "Sorted service names."),
    "MetricNames": obj({"metrics": array(STRING)}, "Sorted metric names."),
    "TrafficBucket": obj({**_timed("time"), "count": COUNT, "error_count": COUNT}),
    "Traffic": obj(
        {
            "buckets": array(ref("TrafficBucket")),
            "step_seconds": NUMBER,
            **WINDOW,
        },
        "Traces started per bucket (non-empty buckets only), oldest first.",
    ),
    "LatencyPoint": obj(
        {
            **_timed("time"),
            "duration_ms": DURATION_MS,
            "trace_id": HEX_ID,
            "is_error": BOOLEAN,
        }
    ),
    "Heatmap": obj(
        {"points": array(ref("LatencyPoint")), "limit": COUNT, **WINDOW},
        "The most recent traces of the window, newest first.",
    ),
    "FailingService": obj(
        {
            "service_name": STRING,
            "error_count": COUNT,
            "total_count": COUNT,
            "error_rate": RATE,
        }
    ),
    "Dashboard": obj(
        {
            "total_traces": COUNT,
            "total_logs": COUNT,
            "total_errors": COUNT,
            "error_rate": RATE,
            "avg_latency_ms": {**DURATION_MS, "nullable": True},
            "p99_latency_ms": {
                **DURATION_MS,
                "nullable": True,
                "description": "nearest-rank p99 of trace durations",
            },
            "p99_method": {
                "type": "string",
                "enum": ["percentile_disc", "offset", "exact", "sample"],
                "description": "sample: estimated from a uniform sample of about"
                " DASHBOARD_P99_ROW_CAP traces (SQLite, larger windows)",
            },
            "p99_rows": COUNT,
            "active_services": COUNT,
            "top_failing_services": array(ref("FailingService")),
            **WINDOW,
        },
        "Traces started in the window (root service filter); null latencies: no trace.",
    ),
    "ServiceNode": obj(
        {
            "name": STRING,
            "span_count": COUNT,
            "error_count": COUNT,
            "error_rate": RATE,
            "avg_latency_ms": DURATION_MS,
        }
    ),
    "ServiceEdge": obj(
        {
            "source": STRING,
            "target": STRING,
            "call_count": COUNT,
            "error_count": COUNT,
            "error_rate": RATE,
            "avg_latency_ms": DURATION_MS,
        },
        "Calls from source (the parent span's service) to target (the child's).",
    ),
    "ServiceMap": obj(
        {
            "nodes": array(ref("ServiceNode")),
            "edges": array(ref("ServiceEdge")),
            **WINDOW,
        }
    ),
    "Stats": obj(
        {
            "spans": COUNT,
            "traces": COUNT,
            "error_traces": COUNT,
            "logs": COUNT,
            "error_logs": COUNT,
            "metric_points": COUNT,
            "services": COUNT,
            "db_size_bytes": {**COUNT, "description": "the whole database, every tenant"},
        },
        "The request tenant's rows.",
    ),
    "Health": obj(
        {
            "status": {"type": "string", "enum": ["ok", "degraded"]},
            "uptime_seconds": {"type": "number", "minimum": 0},
            "database": {"type": "string", "enum": ["ok", "unavailable"]},
            "ingest": obj(
                {
                    "queue_items": COUNT,
                    "queue_bytes": COUNT,
                    "queue_max_items": COUNT,
                    "queue_max_bytes": COUNT,
                    "queue_fullness": {"type": "number", "minimum": 0},
                    "accepted_items": {
                        "type": "object",
                        "additionalProperties": COUNT,
                        "description": "items committed since start, by signal",
                    },
                    "refused_items": {
                        "type": "object",
                        "additionalProperties": COUNT,
                        "description": "items refused with a retryable answer"
                        " (overload, database unavailable), by signal",
                    },
                    "rejected_items": {
                        "type": "object",
                        "additionalProperties": COUNT,
                        "description": "items not stored, by reason",
                    },
                    "last_commit_failed": BOOLEAN,
                }
            ),
            "dlq": obj({"files": COUNT, "bytes": COUNT}),
        },
        "Always 200; /ready is the probe that turns 503.",
    ),
    "Purge": obj(
        {
            "spans_purged": COUNT,
            "traces_purged": COUNT,
            "logs_purged": COUNT,
            "metric_points_purged": COUNT,
            **_timed("cutoff"),
        }
    ),
    "Status": obj({"status": {"type": "string", "enum": ["ok"]}}),
    "Live": obj({"status": {"type": "string", "enum": ["alive"]}}),
    "Ready": obj(
        {
            "ready": BOOLEAN,
            "database": STRING,
            "services": {"type": "object", "additionalProperties": BOOLEAN},
            "stopping": BOOLEAN,
            "last_commit_failed": BOOLEAN,
            "ingest_queue_fullness": NUMBER,
            "dlq_fullness": NUMBER,
        }
    ),
    "ExportResponse": {
        "type": "object",
        "description": "OTLP/JSON Export*ServiceResponse (lowerCamelCase): partialSuccess"
        " with rejectedSpans / rejectedLogRecords / rejectedDataPoints and errorMessage"
        " when some items were refused",
        "properties": {"partialSuccess": {"type": "object"}},
    },
    "RpcStatus": {
        "type": "object",
        "description": "google.rpc.Status in OTLP/JSON form (protobuf for protobuf requests)",
        "properties": {"code": INTEGER, "message": STRING, "details": array({})},
    },
}
