"""The OpenAPI 3.0 document of every HTTP route, built from Python dicts (pure).

``build_document()`` returns the document served at ``GET /api/openapi.json``. The
query parameters each route documents are the ones :mod:`otelctx.api.inputs`
accepts, with the same types, ranges and enums (a unit test checks that, and that
every registered route is described). Other modules contribute paths through
``extra_paths`` (e.g. the graph routes); they may use the shared components
(``#/components/schemas/Error``, ``#/components/responses/BadRequest`` …).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from otelctx.api import inputs
from otelctx.api.graph_openapi import graph_paths
from otelctx.api.openapi_public import otlp_paths, probe_paths
from otelctx.api.openapi_schemas import SCHEMAS, TENANT, Schema, json_content, param, ref
from otelctx.api.params import MAX_NS, MAX_TEXT, SEVERITY_NAMES
from otelctx.storage.queries import MAX_PAGE

VERSION = "0.1.0"

# -- parameter schemas: the same rules as otelctx.api.params ---------------------------

TEXT: Schema = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT,
                "pattern": "^[^\\u0000]*$"}  # fmt: skip
TIME: Schema = {
    "anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_NS},
    ],
    "description": "RFC 3339 (Z or an offset; digits past nanoseconds are dropped) or integer"
    " unix nanoseconds. RFC 3339 times before 1970 or after 2262-04-11 are clamped to that"
    " range.",
}
TRACE_ID: Schema = {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"}
DURATION: Schema = {"type": "number", "minimum": 0, "maximum": 1e15}


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" for c in word)


SEVERITY: Schema = {"type": "string", "pattern": "^(" + "|".join(
    [*(_any_case(n) for n in SEVERITY_NAMES), "0*([1-9]|1[0-9]|2[0-4])"]) + ")$"}  # fmt: skip
TENANT_HEADER = param(
    "X-Tenant-ID", TENANT,
    "Tenant; absent or blank: DEFAULT_TENANT. A key bound to a tenant uses that tenant.",
    where="header",
)  # fmt: skip


def _int(name: str, low: int, high: int, default: int | None, description: str) -> dict[str, Any]:
    schema: Schema = {"type": "integer", "minimum": low, "maximum": high}
    if default is not None:
        schema["default"] = default
    return param(name, schema, description)


def _enum(
    name: str, values: Iterable[str], default: str | None, description: str
) -> dict[str, Any]:
    schema: Schema = {"type": "string", "enum": list(values)}
    if default is not None:
        schema["default"] = default
    return param(name, schema, description)


def _repeatable(name: str, description: str) -> dict[str, Any]:
    schema = {"type": "array", "items": TEXT, "maxItems": 100}
    return param(name, schema, description + " Repeatable: any of the values matches.")


def _limit(
    default: int, high: int = MAX_PAGE, description: str = "Most rows returned."
) -> dict[str, Any]:
    return _int("limit", 1, high, default, description)


def _step(description: str) -> dict[str, Any]:
    return _int("step", 1, inputs.MAX_STEP_S, None, description +
                f" At most {inputs.MAX_BUCKETS} buckets per window, else 400.")  # fmt: skip


START = param("start", TIME, "Window start (inclusive).")
END = param("end", TIME, "Window end (exclusive); start after end is a 400.")
SERVICES = _repeatable("service_name", "Service name (exact).")
ROOT_SERVICES = _repeatable("service_name", "Root service of the trace (exact).")
ORDER = _enum("order", inputs.ORDER, "desc", "Sort direction.")
OFFSET = _int("offset", 0, inputs.MAX_OFFSET, 0, "Rows to skip.")
LAST_30_MIN = "Default window: end = now, start = end - 30 minutes."
GROWS = "A JSON object with a list, so that the document can grow."

TRACE_PARAMS = (
    SERVICES,
    param("operation", TEXT, "Operation (span name), exact; on the same span as service_name"
          " and the attr.* filters."),
    _enum("status", inputs.STATUS, None, "Trace status."),
    param("min_duration_ms", DURATION, "Shortest trace duration, ms."),
    param("max_duration_ms", DURATION, "Longest trace duration, ms."),
    START, END,
    _enum("sort_by", inputs.SORT, "start_time",
          "Sort key (timestamp = start_time); ties by trace_id, so pages are stable."),
    ORDER, _limit(20), OFFSET,
)  # fmt: skip
LOG_PARAMS = (
    SERVICES,
    param("severity", SEVERITY, "At or above: TRACE, DEBUG, INFO, WARN, WARNING, ERROR,"
          " FATAL (any case) or a SeverityNumber 1..24."),
    param("search", TEXT, "Case-insensitive substring of the body."),
    param("trace_id", TRACE_ID, "Trace id, 32 hex characters."),
    START, END, _limit(50), OFFSET, ORDER,
)  # fmt: skip
ATTR_NOTE = (
    "Filters combine with AND. Also accepts attr.<key>=<value> (different keys, at most"
    " 20): a span attribute equal to the value as text (numbers in their JSON form,"
    " booleans true/false), on the same span as service_name and operation."
)
AUTO_STEP = (
    "Bucket width in seconds; default: the smallest of 1s, 5s, 10s, 15s, 30s, 1m, 5m, 10m,"
    f" 15m, 30m, 1h, 3h, 6h, 12h or whole days giving at most {inputs.AUTO_BUCKETS} buckets."
)

# -- operations -------------------------------------------------------------------------

_STATUS = {"BadRequest": "400", "Unauthorized": "401", "Forbidden": "403",
           "NotFound": "404", "TooManyRequests": "429", "Unavailable": "503"}  # fmt: skip
ERRORS = {
    "BadRequest": "A parameter is invalid, unknown or repeated (the message names it), or a"
    " request body was sent (no /api route takes one).",
    "Unauthorized": "Missing or wrong API key (when API_KEY or API_TENANT_KEYS_FILE is set).",
    "Forbidden": "The API key is bound to another tenant than X-Tenant-ID.",
    "NotFound": "No such resource.",
    "TooManyRequests": "Rate limit (API_RATE_LIMIT_RPS per client IP); see Retry-After.",
    "Unavailable": "The database is unavailable; retry after Retry-After.",
}
_QUERY_ERRORS = ("BadRequest", "Unauthorized", "Forbidden", "TooManyRequests", "Unavailable")


@dataclass(frozen=True, slots=True)
class Op:
    """One documented operation of the query API."""

    path: str
    method: str
    operation_id: str
    summary: str
    ok: str  # the schema of the 200 body
    params: tuple[dict[str, Any], ...] = ()
    tag: str = "query"
    description: str = ""
    errors: tuple[str, ...] = _QUERY_ERRORS
    public: bool = False  # no API key, no tenant

    def operation(self) -> dict[str, Any]:
        responses: dict[str, Any] = {"200": json_content(ref(self.ok), "OK")}
        for name in self.errors:
            responses[_STATUS[name]] = {"$ref": f"#/components/responses/{name}"}
        op: dict[str, Any] = {
            "operationId": self.operation_id, "summary": self.summary, "tags": [self.tag],
            "parameters": [*self.params] + ([] if self.public else [TENANT_HEADER]),
            "responses": responses,
        }  # fmt: skip
        if self.description:
            op["description"] = self.description
        if self.public:
            op["security"] = []
        return op


OPS = (
    Op("/api/traces", "get", "searchTraces", "Search traces", "TraceList", TRACE_PARAMS,
       description=ATTR_NOTE),
    Op("/api/traces/{trace_id}", "get", "getTrace", "A trace with its spans and logs",
       "TraceDetail", (param("trace_id", TRACE_ID, "Trace id, 32 hex characters.",
                             required=True, where="path"),),
       errors=(*_QUERY_ERRORS, "NotFound")),
    Op("/api/logs", "get", "searchLogs", "Search logs", "LogList", LOG_PARAMS),
    Op("/api/logs/context", "get", "logContext", "Logs around an instant", "LogContext", (
        param("timestamp", TIME, "The instant.", required=True),
        _int("window", 0, inputs.MAX_CONTEXT_WINDOW_S, inputs.CONTEXT_WINDOW_S,
             "Seconds either side."),
        _limit(inputs.CONTEXT_LIMIT, description="Most logs on each side."),
    ), description="Up to limit logs before the instant and limit from it on, within window"
       " seconds either side, oldest first."),
    Op("/api/metrics", "get", "metricSeries", "A metric's values in time buckets",
       "MetricSeries", (param("name", TEXT, "Metric name.", required=True),
                        param("service_name", TEXT, "Service name (exact)."),
                        START, END, _step(AUTO_STEP)),
       tag="metrics", description="Default window: the last hour."),
    Op("/api/metadata/services", "get", "listServices", "Service names", "Services",
       tag="metadata", description=GROWS),
    Op("/api/metadata/metrics", "get", "listMetricNames", "Metric names", "MetricNames",
       (param("service_name", TEXT, "Only this service's metrics."),), tag="metadata",
       description=GROWS),
    Op("/api/metrics/traffic", "get", "traffic", "Traces per time bucket", "Traffic", (
        ROOT_SERVICES, START, END,
        _step("Bucket width in seconds; default 60 (coarser where a minute grid would pass"
              f" {inputs.MAX_BUCKETS} buckets)."),
    ), tag="metrics", description=LAST_30_MIN),
    Op("/api/metrics/latency_heatmap", "get", "latencyHeatmap", "Trace durations", "Heatmap",
       (ROOT_SERVICES, START, END, _limit(inputs.HEATMAP_LIMIT, inputs.MAX_HEATMAP_LIMIT)),
       tag="metrics", description=LAST_30_MIN),
    Op("/api/metrics/dashboard", "get", "dashboard", "Overview numbers", "Dashboard",
       (ROOT_SERVICES, START, END), tag="metrics", description=LAST_30_MIN),
    Op("/api/metrics/service-map", "get", "serviceMap", "Services and the calls between them",
       "ServiceMap", (START, END, _enum("exact", inputs.BOOL, "false", "Count every span"
       " even above the sampling cap (slower).")), tag="metrics",
       description="Spans started in the window; above a cap of spans the counts are"
       " estimated from an even sample (see sample_rate) unless exact=true. " + LAST_30_MIN),
    Op("/api/stats", "get", "stats", "The tenant's row counts and the database size", "Stats",
       tag="admin"),
    Op("/api/health", "get", "health", "Server health", "Health", tag="admin",
       errors=("BadRequest", "TooManyRequests"), public=True),
    Op("/api/admin/purge", "delete", "purge", "Delete the tenant's data older than N days",
       "Purge", (_int("days", 1, inputs.MAX_PURGE_DAYS, inputs.PURGE_DAYS, "Age in days."),),
       tag="admin", description="Spans, trace summaries, logs and metric points of the"
       " request's tenant only."),
    Op("/api/admin/vacuum", "post", "vacuum", "Run the database's upkeep now", "Status",
       tag="admin", description="The whole database, every tenant: with API keys configured,"
       " only the operator key (API_KEY) may run it; a tenant-bound key gets 403."),
)  # fmt: skip


def build_document(
    extra_paths: Iterable[Mapping[str, Any]] = (), *, auth_required: bool = True
) -> dict[str, Any]:
    """The whole OpenAPI document; ``extra_paths`` are merged in (later ones win).

    ``auth_required``: whether this server is configured with API keys; without, the
    bearer scheme is documented as optional, which is what the server does.
    """
    paths: dict[str, Any] = {}
    for op in OPS:
        paths.setdefault(op.path, {})[op.method] = op.operation()
    paths["/api/openapi.json"] = {"get": {
        "operationId": "openapi", "summary": "This document", "tags": ["meta"],
        "security": [], "parameters": [],
        "responses": {"200": json_content({"type": "object"}, "OpenAPI 3.0")},
    }}  # fmt: skip
    paths |= probe_paths() | otlp_paths() | graph_paths()
    for extra in extra_paths:
        paths |= extra
    trace = SCHEMAS["Trace"]
    detail = trace | {
        "required": sorted([*trace["required"], "spans", "logs"]),
        "properties": trace["properties"] | {"spans": {"type": "array", "items": ref("Span")},
                                             "logs": {"type": "array", "items": ref("Log")}},
    }  # fmt: skip
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "otelctx",
            "version": VERSION,
            "description": "Self-hosted OpenTelemetry backend. Times are RFC 3339 (UTC)"
            " plus *_unix_nano integers; durations *_ms; rates are fractions 0..1. Errors"
            ' are {"error": message}. Unknown or repeated query parameters are a 400.',
        },
        "paths": paths,
        "components": {
            "schemas": SCHEMAS | {"TraceDetail": detail},
            "responses": {name: json_content(ref("Error"), text) for name, text in ERRORS.items()},
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "API_KEY or a key of API_TENANT_KEYS_FILE, needed on /api/*"
                " (except /api/health and /api/openapi.json) and /v1/* when keys are set.",
            }},
        },
        "security": [{"bearer": []}] if auth_required else [{"bearer": []}, {}],
    }  # fmt: skip
