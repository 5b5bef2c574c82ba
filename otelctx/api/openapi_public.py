"""OpenAPI paths of the routes outside the query API: the probes, the Prometheus
metrics and the OTLP/HTTP receiver (pure data, used by :mod:`otelctx.api.openapi`)."""

from __future__ import annotations

from typing import Any

from otelctx.api.openapi_schemas import TENANT, json_content, param, ref

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_SIGNALS = ("traces", "logs", "metrics")


def probe_paths() -> dict[str, Any]:
    public: dict[str, Any] = {"tags": ["probes"], "security": []}
    ready = (
        "Every service started, the database answers and the ingest queue and the DLQ"
        " are at most 95% full."
    )
    prometheus = {"description": "Prometheus text format", "content": {"text/plain": {
        "schema": {"type": "string"}}}}  # fmt: skip
    return {
        "/live": {"get": public | {
            "operationId": "live", "summary": "The process runs",
            "responses": {"200": json_content(ref("Live"), "Alive")},
        }},
        "/ready": {"get": public | {
            "operationId": "ready", "summary": "Ready to serve",
            "responses": {
                "200": json_content(ref("Ready"), ready),
                "503": json_content(ref("Ready"), "Not ready (the body says why)."),
            },
        }},
        "/metrics/prometheus": {"get": public | {
            "operationId": "prometheus", "summary": "Prometheus metrics",
            "responses": {"200": prometheus},
        }},
    }  # fmt: skip


def otlp_paths() -> dict[str, Any]:
    status = {"application/x-protobuf": _BINARY,
              "application/json": {"schema": ref("RpcStatus")}}  # fmt: skip
    answers = {
        "200": {"description": "Stored (committed, or fsynced to the DLQ)", "content": {
            "application/x-protobuf": _BINARY,
            "application/json": {"schema": ref("ExportResponse")}}},
        "400": {"description": "Undecodable body", "content": status},
        "401": {"$ref": "#/components/responses/Unauthorized"},
        "403": {"$ref": "#/components/responses/Forbidden"},
        "413": {"description": "Body too large after decompression", "content": status},
        "415": {"description": "Unsupported Content-Type or Content-Encoding",
                "content": status},
        "503": {"description": "Overloaded or database unavailable: retry after Retry-After",
                "content": status},
    }  # fmt: skip
    tenant = param("X-Tenant-ID", TENANT, "Tenant; absent or blank: DEFAULT_TENANT (a key"
                   " bound to a tenant uses that one).", where="header")  # fmt: skip
    return {
        f"/v1/{signal}": {"post": {
            "operationId": f"export{signal.capitalize()}",
            "summary": f"OTLP/HTTP export ({signal})",
            "tags": ["otlp"],
            "description": "OTLP/HTTP: protobuf or JSON, optionally gzip or deflate"
            " (Content-Encoding). Other methods answer 405.",
            "parameters": [tenant],
            "requestBody": {"required": True, "content": {
                "application/x-protobuf": _BINARY,
                "application/json": {"schema": {"type": "object"}}}},
            "responses": answers,
        }}
        for signal in _SIGNALS
    }  # fmt: skip
