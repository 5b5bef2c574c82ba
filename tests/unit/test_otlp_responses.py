"""Export responses and google.rpc.Status bodies, as OTLP exporters read them."""

from __future__ import annotations

import orjson
import pytest
from google.protobuf import json_format
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from otelctx.model import Signal
from otelctx.otlp import (
    Encoding,
    export_response,
    grpc_status_details_bin,
    retry_info,
    status_body,
)

RESPONSES = [
    (Signal.TRACES, ExportTraceServiceResponse, "rejected_spans", "rejectedSpans"),
    (Signal.LOGS, ExportLogsServiceResponse, "rejected_log_records", "rejectedLogRecords"),
    (Signal.METRICS, ExportMetricsServiceResponse, "rejected_data_points", "rejectedDataPoints"),
]


@pytest.mark.parametrize(("signal", "response_type", "field", "json_field"), RESPONSES)
def test_fully_accepted(signal: Signal, response_type: type, field: str, json_field: str) -> None:
    body = export_response(signal, 0, "", Encoding.PROTOBUF)
    assert not response_type.FromString(body).HasField("partial_success")
    assert export_response(signal, 0, "", Encoding.JSON) == b"{}"


@pytest.mark.parametrize(("signal", "response_type", "field", "json_field"), RESPONSES)
def test_partial_success(signal: Signal, response_type: type, field: str, json_field: str) -> None:
    message = "2 rejected: trace_id must be 16 bytes (got 3)"
    response = response_type.FromString(export_response(signal, 2, message, Encoding.PROTOBUF))
    assert response.HasField("partial_success")
    assert getattr(response.partial_success, field) == 2
    assert response.partial_success.error_message == message

    body = export_response(signal, 2, message, Encoding.JSON)
    assert orjson.loads(body) == {"partialSuccess": {json_field: "2", "errorMessage": message}}
    parsed = json_format.Parse(body, response_type())  # valid protojson for the real class
    assert getattr(parsed.partial_success, field) == 2


def test_warning_without_rejections_is_still_reported() -> None:
    body = export_response(Signal.TRACES, 0, "heads up", Encoding.PROTOBUF)
    response = ExportTraceServiceResponse.FromString(body)
    assert response.HasField("partial_success")
    assert (response.partial_success.rejected_spans, response.partial_success.error_message) == (
        0,
        "heads up",
    )
    assert orjson.loads(export_response(Signal.TRACES, 0, "heads up", Encoding.JSON)) == {
        "partialSuccess": {"errorMessage": "heads up"}
    }


def test_status_body_protobuf() -> None:
    status = Status.FromString(status_body(3, "bad body", Encoding.PROTOBUF))
    assert (status.code, status.message, list(status.details)) == (3, "bad body", [])


def test_status_body_protobuf_with_retry_info() -> None:
    status = Status.FromString(status_body(14, "busy", Encoding.PROTOBUF, retry_after_s=1.5))
    assert (status.code, status.message) == (14, "busy")
    [detail] = status.details
    info = RetryInfo()
    assert detail.Unpack(info)
    assert (info.retry_delay.seconds, info.retry_delay.nanos) == (1, 500_000_000)


def test_status_body_json() -> None:
    assert orjson.loads(status_body(3, "bad body", Encoding.JSON)) == {
        "code": 3,
        "message": "bad body",
    }
    body = status_body(14, "busy", Encoding.JSON, retry_after_s=2)
    assert orjson.loads(body) == {
        "code": 14,
        "message": "busy",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}],
    }
    status = json_format.Parse(body, Status())  # protojson, Any details included
    info = RetryInfo()
    assert status.details[0].Unpack(info)
    assert info.retry_delay.seconds == 2


def test_retry_info() -> None:
    info = retry_info(0.25)
    assert (info.retry_delay.seconds, info.retry_delay.nanos) == (0, 250_000_000)


def test_grpc_status_details_bin() -> None:
    status = Status.FromString(grpc_status_details_bin(14, "overloaded", 3.0))
    assert (status.code, status.message) == (14, "overloaded")
    info = RetryInfo()
    assert status.details[0].Unpack(info)
    assert info.retry_delay.seconds == 3
    bare = Status.FromString(grpc_status_details_bin(8, "too large", None))
    assert (bare.code, bare.message, len(bare.details)) == (8, "too large", 0)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_retry_delay_must_be_finite_and_non_negative(bad: float) -> None:
    with pytest.raises(ValueError, match="retry_after_s"):
        retry_info(bad)
