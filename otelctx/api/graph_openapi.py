"""OpenAPI 3.1 fragments of the graph and investigation routes, merged into the document
by ``otelctx.api.openapi``. Schemas are inline so the fragment stands on its own."""

from __future__ import annotations

import re
from typing import Any

from otelctx.graph.persist import MAX_LIST

Schema = dict[str, Any]

STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
TIME: Schema = {"type": "string", "format": "date-time"}


def _obj(props: dict[str, Schema], *, extra: bool = False) -> Schema:
    return {"type": "object", "properties": props, "required": list(props),
            "additionalProperties": extra}  # fmt: skip


def _list(item: Schema) -> Schema:
    return {"type": "array", "items": item}


def _nullable(s: Schema) -> Schema:
    return {"anyOf": [s, {"type": "null"}]}


def _times(prefix: str) -> dict[str, Schema]:
    return {prefix: TIME, f"{prefix}_unix_nano": INT}


ERROR: Schema = _obj({"error": STR})
SPAN: Schema = _obj({
    "trace_id": STR, "span_id": STR, "parent_span_id": STR, "service_name": STR,
    "operation_name": STR, **_times("start_time"), "end_time_unix_nano": INT,
    "duration_ms": NUM,
    "status_code": {"enum": ["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"]},
    "status_message": STR,
})  # fmt: skip
LOG_CLUSTER: Schema = _obj({
    "id": STR, "service_name": STR, "template": STR, "template_id": STR, "sample": STR,
    "count": INT, "max_severity": STR, "severities": {"type": "object",
                                                      "additionalProperties": INT},
    **_times("first_seen"), **_times("last_seen"),
})  # fmt: skip
METRIC: Schema = _obj({
    "service_name": STR, "name": STR, "samples": INT, "last_value": NUM,
    "min": _nullable(NUM), "max": _nullable(NUM), "mean": NUM, "std_dev": NUM, "z_score": NUM,
    **_times("last_seen"),
})  # fmt: skip
ANOMALY: Schema = _obj({
    "id": STR, "service_name": STR,
    "type": {"enum": ["error_spike", "latency_spike", "metric_zscore"]},
    "severity": {"enum": ["info", "warning", "critical"]}, "active": BOOL, "value": NUM,
    "baseline": NUM, "peak": NUM, "evidence": STR, **_times("started_at"),
    **_times("last_seen"), "ended_at": _nullable(TIME), "ended_at_unix_nano": _nullable(INT),
})  # fmt: skip
CHAIN: Schema = _obj({
    "trace_id": STR,
    "root_cause": _obj({"service_name": STR, "operation_name": STR, "span_id": STR,
                        "trace_id": STR, "error_message": STR}),
    "trigger_span_id": STR, "span_chain": _list(SPAN), "correlated_logs": _list(LOG_CLUSTER),
})  # fmt: skip
WINDOW: dict[str, Schema] = _times("since")
OP_STATS: dict[str, Schema] = {
    "span_count": INT, "error_count": INT, "error_rate": NUM, "avg_latency_ms": NUM,
    "p50_latency_ms": NUM, "p95_latency_ms": NUM, "p99_latency_ms": NUM,
}  # fmt: skip
SERVICE_MAP: Schema = _obj({
    "window_seconds": INT,
    "nodes": _list(_obj({
        "name": STR, **OP_STATS, "health_score": NUM,
        "status": {"enum": ["healthy", "degraded", "critical"]},
        "operations": _list(_obj({"name": STR, **OP_STATS})),
        "calls_to": _list(STR), "called_by": _list(STR),
    })),
    "edges": _list(_obj({
        "source": STR, "target": STR, "call_count": INT, "error_count": INT,
        "error_rate": NUM, "avg_latency_ms": NUM, "p95_latency_ms": NUM,
    })),
})  # fmt: skip
STATUS: Schema = {"enum": ["healthy", "degraded", "critical"]}
SYSTEM_GRAPH: Schema = _obj({
    **_times("timestamp"),
    "system": _obj({
        "total_services": INT, "healthy": INT, "degraded": INT, "critical": INT,
        "overall_health_score": NUM, "total_error_rate": NUM, "avg_latency_ms": NUM,
        "uptime_seconds": NUM,
    }),
    "nodes": _list(_obj({
        "id": STR, "type": {"const": "service"}, "health_score": NUM, "status": STATUS,
        "metrics": _obj({
            "request_rate_rps": NUM, "error_rate": NUM, "avg_latency_ms": NUM,
            "p95_latency_ms": NUM, "p99_latency_ms": NUM, "span_count_5m": INT,
            "span_count_15m": INT,
        }),
        "alerts": _list(STR),
    })),
    "edges": _list(_obj({
        "source": STR, "target": STR, "call_count": INT, "avg_latency_ms": NUM,
        "error_rate": NUM, "status": STATUS,
    })),
})  # fmt: skip
SNAPSHOT: Schema = _obj({
    "id": STR, **_times("created_at"), "service_count": INT, "total_calls": INT,
    "avg_health_score": NUM,
    "nodes": _list({"type": "object", "properties": {
        "id": STR, "type": {"enum": ["service", "operation"]}, "name": STR,
        "health_score": NUM, "error_rate": NUM, "avg_latency_ms": NUM, "call_count": INT,
    }}),
    "edges": _list({"type": "object", "properties": {
        "from": STR, "to": STR, "type": {"enum": ["CALLS", "EXPOSES"]}, "weight": NUM,
        "call_count": INT, "error_rate": NUM,
    }}),
})  # fmt: skip
INVESTIGATION: Schema = _obj({
    "id": STR, **_times("created_at"),
    "status": {"enum": ["detected", "investigating", "resolved"]},
    "severity": {"enum": ["warning", "critical"]},
    "trigger_service": STR, "trigger_operation": STR, "error_message": STR,
    "root_service": STR, "root_operation": STR,
    "causal_chain": _list(_obj({"service_name": STR, "operation_name": STR, "span_id": STR,
                                "is_error": BOOL})),
    "trace_ids": _list(STR),
    "error_logs": _list(_obj({"id": STR, "service_name": STR, "template": STR, "sample": STR,
                              "count": INT, "max_severity": STR, **_times("last_seen")})),
    "anomalous_metrics": _list(_obj({"service_name": STR, "name": STR, "value": NUM,
                                     "mean": NUM, "z_score": NUM})),
    "affected_services": _list(STR),
    "span_chain": _list(_obj({
        "trace_id": STR, "span_id": STR, "parent_span_id": STR, "service_name": STR,
        "operation_name": STR, **_times("start_time"), "duration_ms": NUM, "is_error": BOOL,
        "status_message": STR,
    })),
    "anomaly_ids": _list(STR),
})  # fmt: skip

_TIME_PARAM = {"anyOf": [{"type": "string", "format": "date-time"},
                         {"type": "string", "pattern": "^[0-9]+$"}]}  # fmt: skip


def _q(name: str, schema: Schema, description: str, *, required: bool = False) -> Schema:
    return {"name": name, "in": "query", "required": required, "schema": schema,
            "description": description}  # fmt: skip


SERVICE_Q = _q("service", {"type": "string", "minLength": 1, "maxLength": 255},
               "Service name (service.name), matched exactly", required=True)  # fmt: skip


def _since_q(default: str) -> Schema:
    return _q("since", _TIME_PARAM,
              "RFC 3339 time with a zone, or unix nanoseconds (clamped to 1970..2262); "
              f"default {default}")  # fmt: skip


def _responses(ok: Schema, description: str, *, not_found: str | None = None) -> Schema:
    def err(text: str) -> Schema:
        return {"description": text, "content": {"application/json": {"schema": ERROR}}}

    out: Schema = {
        "200": {"description": description, "content": {"application/json": {"schema": ok}}},
        "400": err("Bad parameter or X-Tenant-ID header; the message says what is allowed"),
        "503": err("The service graph is not running"),
    }
    if not_found:
        out["404"] = err(not_found)
    return out


def _get(summary: str, params: list[Schema], ok: Schema, description: str, *,
         not_found: str | None = None) -> Schema:  # fmt: skip
    return {"get": {
        "tags": ["graph"], "summary": summary, "parameters": params,
        "responses": _responses(ok, description, not_found=not_found),
    }}  # fmt: skip


def graph_paths() -> dict[str, Any]:
    """The ``paths`` entries of every route in ``api.graph`` and ``api.investigations``,
    each operation with an ``operationId`` derived from its path (``graphErrorChains``)."""
    paths = _graph_paths()
    for path, item in paths.items():
        words = re.findall(r"[a-z0-9]+", path.removeprefix("/api/").replace("{", "by-"))
        op_id = words[0] + "".join(w.capitalize() for w in words[1:])
        for operation in item.values():
            operation.setdefault("operationId", op_id)
    return paths


def _graph_paths() -> dict[str, Any]:
    unknown = "The service is not in the tenant's graph"
    return {
        "/api/graph/service-map": _get(
            "Services, operations and CALLS edges with their last 15 minutes", [],
            SERVICE_MAP, "The tenant's service map (empty lists for an empty graph)"),
        "/api/graph/error-chains": _get(
            "Error chains of a service; the root cause is the deepest failing span",
            [SERVICE_Q, _since_q("15 minutes ago"),
             _q("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
                "Most chains, one per trace, newest first")],
            _obj({"service_name": STR, **WINDOW, "chains": _list(CHAIN)}), "Error chains",
            not_found=unknown),
        "/api/graph/impact": _get(
            "Blast radius: the services that call this one, directly or transitively",
            [SERVICE_Q, _q("depth", {"type": "integer", "minimum": 1, "maximum": 10,
                                     "default": 5}, "Most hops walked backwards")],
            _obj({"service_name": STR, "depth": INT, "total_affected": INT,
                  "affected": _list(_obj({"service_name": STR, "depth": INT, "via": STR,
                                          "call_count": INT, "error_rate": NUM,
                                          "impact_score": NUM}))}),
            "Affected services, nearest first", not_found=unknown),
        "/api/graph/root-cause": _get(
            "Root causes ranked by error chains ending in them and anomalies, with evidence",
            [SERVICE_Q, _since_q("15 minutes ago")],
            _obj({"service_name": STR, **WINDOW, "causes": _list(_obj({
                "service_name": STR, "operation_name": STR, "score": NUM,
                "evidence": _list(STR), "chain_count": INT, "trace_ids": _list(STR),
                "error_message": STR, "anomalies": _list(ANOMALY)}))}),
            "Ranked causes, most likely first", not_found=unknown),
        "/api/graph/dependency-chain/{trace_id}": {"get": {
            "tags": ["graph"], "summary": "The spans of a trace held by the graph, with depth",
            "parameters": [{"name": "trace_id", "in": "path", "required": True,
                            "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"}}],
            "responses": _responses(
                _obj({"trace_id": STR, "span_count": INT,
                      "spans": _list({**SPAN, "properties": {**SPAN["properties"],
                                                             "depth": INT},
                                      "required": [*SPAN["required"], "depth"]})}),
                "Spans by start time", not_found="The trace is not in the graph"),
        }},
        "/api/graph/correlated": _get(
            "Signals around a service: error log clusters, metrics, anomalies, error chains",
            [SERVICE_Q, _since_q("15 minutes ago")],
            _obj({"service_name": STR, **WINDOW, "error_logs": _list(LOG_CLUSTER),
                  "metrics": _list(METRIC), "anomalies": _list(ANOMALY),
                  "error_chains": _list(CHAIN)}),
            "Correlated signals", not_found=unknown),
        "/api/graph/shortest-path": _get(
            "Shortest path between two services over CALLS (either direction)",
            [_q("from", SERVICE_Q["schema"], "Service name", required=True),
             _q("to", SERVICE_Q["schema"], "Service name", required=True)],
            _obj({"from": STR, "to": STR, "path": _list(STR), "hops": INT, "cost": NUM}),
            "The path", not_found="A service is not in the graph, or no path joins them"),
        "/api/graph/anomalies": _get(
            "Anomaly timeline, newest first (one anomaly per service and type while it lasts)",
            [_since_q("24 hours ago"),
             _q("service", SERVICE_Q["schema"], "Only this service's anomalies")],
            _obj({**WINDOW, "anomalies": _list(ANOMALY)}), "Anomalies"),
        "/api/graph/snapshots": _get(
            "The newest topology snapshot taken at or before a time",
            [_q("at", _TIME_PARAM, "RFC 3339 time with a zone, or unix nanoseconds; "
                "default now")],
            SNAPSHOT, "The snapshot", not_found="No snapshot at or before that time"),
        "/api/system/graph": _get(
            "System health: per-service health and status over the last 5 minutes", [],
            SYSTEM_GRAPH, "The system graph"),
        "/api/investigations": _get(
            "Investigations of error spikes, newest first",
            [_q("service", SERVICE_Q["schema"], "Trigger or root service"),
             _q("severity", {"enum": ["info", "warning", "critical"]}, "Severity"),
             _q("status", {"enum": ["detected", "investigating", "resolved"]}, "Status"),
             _q("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIST,
                          "default": 20}, "Most investigations")],
            _obj({"investigations": _list(INVESTIGATION), "limit": INT}), "Investigations"),
        "/api/investigations/{investigation_id}": {"get": {
            "tags": ["graph"], "summary": "One investigation",
            "parameters": [{"name": "investigation_id", "in": "path", "required": True,
                            "schema": {"type": "string", "minLength": 1, "maxLength": 64}}],
            "responses": _responses(INVESTIGATION, "The investigation",
                                    not_found="No such investigation for this tenant"),
        }},
    }  # fmt: skip
