"""Pure OTLP request decoding: body bytes → model records plus what was rejected.

    decode_traces(body, encoding, policy) -> Decoded[SpanRecord]
    decode_logs(body, encoding, policy)   -> Decoded[LogRecord]
    decode_metrics(body, encoding, policy) -> Decoded[MetricPoint]

The body is already decompressed. Both encodings go through the same upb message and
the same mapping (``traces.py``, ``logs.py``, ``metrics.py``); OTLP/JSON is first turned
into that message by ``otlpjson.py``.

Error handling: a body that cannot be decoded raises ``DecodeError`` (HTTP 400 / gRPC
INVALID_ARGUMENT) and nothing else. Individual items that are invalid or filtered out do
not fail the request; they are counted in ``Decoded`` and described in its ``message``
for the ``partial_success`` of the response. An empty body is an empty request.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from google.protobuf.message import DecodeError as ProtobufDecodeError  # type: ignore[import-untyped, unused-ignore]
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelctx.model import LogRecord, MetricPoint, Signal, SpanRecord
from otelctx.otlp import otlpjson
from otelctx.otlp.errors import DecodeError
from otelctx.otlp.logs import logs_from
from otelctx.otlp.metrics import points_from
from otelctx.otlp.policy import IngestPolicy
from otelctx.otlp.tally import Tally
from otelctx.otlp.traces import spans_from

R = TypeVar("R")
M = TypeVar("M")


class Encoding(enum.Enum):
    PROTOBUF = "protobuf"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class Decoded(Generic[R]):
    """The records of one request and what was refused.

    ``rejected == invalid + filtered``; both are reported in ``partial_success``.
    ``message`` is ``""`` when nothing was rejected.
    """

    records: list[R]
    rejected: int
    invalid: int
    filtered: int
    message: str


def decode_traces(body: bytes, encoding: Encoding, policy: IngestPolicy) -> Decoded[SpanRecord]:
    tally = Tally("span", "spans")
    request = _parse(body, encoding, ExportTraceServiceRequest, Signal.TRACES, tally)
    return _result(spans_from(request, policy, tally), tally)


def decode_logs(body: bytes, encoding: Encoding, policy: IngestPolicy) -> Decoded[LogRecord]:
    tally = Tally("log record", "log records")
    request = _parse(body, encoding, ExportLogsServiceRequest, Signal.LOGS, tally)
    return _result(logs_from(request, policy, tally), tally)


def decode_metrics(body: bytes, encoding: Encoding, policy: IngestPolicy) -> Decoded[MetricPoint]:
    tally = Tally("data point", "data points")
    request = _parse(body, encoding, ExportMetricsServiceRequest, Signal.METRICS, tally)
    return _result(points_from(request, policy, tally), tally)


def _parse(
    body: bytes, encoding: Encoding, message_type: type[M], signal: Signal, tally: Tally
) -> M:
    if not body:
        return message_type()
    if encoding is Encoding.JSON:
        return otlpjson.parse(body, message_type, signal, tally.reject)
    from_string: Callable[[bytes], Any] = message_type.FromString  # type: ignore[attr-defined]
    try:
        message: M = from_string(body)
    except ProtobufDecodeError as exc:
        raise DecodeError(
            f"request body is not a valid {message_type.__name__} protobuf: {exc}"
        ) from None
    return message


def _result(records: list[R], tally: Tally) -> Decoded[R]:
    filtered = tally.filtered
    return Decoded(
        records=records,
        rejected=tally.invalid + filtered,
        invalid=tally.invalid,
        filtered=filtered,
        message=tally.message(),
    )
