"""Encoding of OTLP export responses and ``google.rpc.Status`` error bodies.

Responses use the request's encoding. OTLP/JSON output follows protojson: lowerCamelCase
keys, fields with zero values omitted, and int64 counts rendered as JSON **strings**
(``{"partialSuccess":{"rejectedSpans":"2","errorMessage":"…"}}``); a fully accepted
request answers ``{}``.

Error bodies are ``google.rpc.Status`` with the gRPC code number (3 INVALID_ARGUMENT,
8 RESOURCE_EXHAUSTED, 14 UNAVAILABLE …). A retryable rejection carries a
``google.rpc.RetryInfo`` detail so OTLP exporters back off for that long.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from otelctx.model import JSONValue, Signal
from otelctx.otlp.decode import Encoding

RETRY_INFO_TYPE_URL = "type.googleapis.com/google.rpc.RetryInfo"

# signal → (response message, partial_success field, its protojson name)
_EXPORT_RESPONSES: dict[Signal, tuple[Any, str, str]] = {
    Signal.TRACES: (ExportTraceServiceResponse, "rejected_spans", "rejectedSpans"),
    Signal.LOGS: (ExportLogsServiceResponse, "rejected_log_records", "rejectedLogRecords"),
    Signal.METRICS: (ExportMetricsServiceResponse, "rejected_data_points", "rejectedDataPoints"),
}


def export_response(signal: Signal, rejected: int, message: str, encoding: Encoding) -> bytes:
    """The Export*ServiceResponse; ``partial_success`` only when something is reported."""
    response_type, field, json_field = _EXPORT_RESPONSES[signal]
    if encoding is Encoding.JSON:
        partial: dict[str, JSONValue] = {}
        if rejected:
            partial[json_field] = str(rejected)
        if message:
            partial["errorMessage"] = message
        return orjson.dumps({"partialSuccess": partial} if partial else {})
    response = response_type()
    if rejected or message:
        partial_success = response.partial_success
        setattr(partial_success, field, rejected)
        partial_success.error_message = message
    serialized: bytes = response.SerializeToString()
    return serialized


def status_body(
    code: int, message: str, encoding: Encoding, *, retry_after_s: float | None = None
) -> bytes:
    """A ``google.rpc.Status`` error body, with RetryInfo when ``retry_after_s`` is given.

    JSON: ``{"code":3,"message":"…"}`` plus, when retryable,
    ``"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.500s"}]``.
    """
    if encoding is Encoding.JSON:
        document: dict[str, JSONValue] = {"code": code, "message": message}
        if retry_after_s is not None:
            delay: str = retry_info(retry_after_s).retry_delay.ToJsonString()
            document["details"] = [{"@type": RETRY_INFO_TYPE_URL, "retryDelay": delay}]
        return orjson.dumps(document)
    return grpc_status_details_bin(code, message, retry_after_s)


def grpc_status_details_bin(code: int, message: str, retry_after_s: float | None) -> bytes:
    """A serialized ``google.rpc.Status`` for the ``grpc-status-details-bin`` trailer."""
    status = Status(code=code, message=message)
    if retry_after_s is not None:
        status.details.add().Pack(retry_info(retry_after_s))
    serialized: bytes = status.SerializeToString()
    return serialized


def retry_info(retry_after_s: float) -> RetryInfo:
    """A ``google.rpc.RetryInfo`` asking the client to wait ``retry_after_s``.

    ``ValueError`` for a negative or non-finite delay (a caller bug)."""
    if not math.isfinite(retry_after_s) or retry_after_s < 0:
        raise ValueError(
            f"retry_after_s must be a finite, non-negative number of seconds, got {retry_after_s!r}"
        )
    seconds, nanos = divmod(round(retry_after_s * 1_000_000_000), 1_000_000_000)
    info = RetryInfo()
    info.retry_delay.seconds = seconds
    info.retry_delay.nanos = nanos
    return info
