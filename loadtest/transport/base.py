"""The transport interface and what an export attempt can come to.

An attempt ends in exactly one ``Outcome``:

- ``Acked``: the server acknowledged the request (``rejected`` items it reported in
  ``partial_success``, normally 0);
- ``Refused``: a retryable refusal, with the delay the server asked for if any;
- ``Failed``: anything else; ``retryable`` for transport trouble (connection refused or
  reset, TLS, a timeout), not for a non-retryable status (bad request, unauthenticated,
  internal).

Transports translate their library's exceptions into these outcomes at the boundary:
``export`` raises only ``trio.Cancelled`` (and bugs). Timeouts are the caller's, with
``trio.move_on_after`` around the call; a transport cut off mid-request discards its
connection and opens a new one on the next call.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol

from google.protobuf.message import DecodeError
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status as RpcStatus
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse


class Signal(enum.Enum):
    TRACES = "traces"
    LOGS = "logs"
    METRICS = "metrics"

    @property
    def grpc_path(self) -> str:
        service = {"traces": "trace.v1.TraceService", "logs": "logs.v1.LogsService",
                   "metrics": "metrics.v1.MetricsService"}[self.value]  # fmt: skip
        return f"/opentelemetry.proto.collector.{service}/Export"

    @property
    def http_path(self) -> str:
        return f"/v1/{self.value}"


@dataclass(frozen=True, slots=True)
class Acked:
    rejected: int = 0
    message: str = ""


@dataclass(frozen=True, slots=True)
class Refused:
    delay_s: float | None
    message: str


@dataclass(frozen=True, slots=True)
class Failed:
    message: str
    retryable: bool


Outcome = Acked | Refused | Failed


class Transport(Protocol):
    """One simulated service's connection to the server."""

    async def export(self, signal: Signal, body: bytes) -> Outcome: ...

    async def aclose(self) -> None: ...


_RESPONSES: dict[Signal, tuple[Any, str]] = {
    Signal.TRACES: (ExportTraceServiceResponse, "rejected_spans"),
    Signal.LOGS: (ExportLogsServiceResponse, "rejected_log_records"),
    Signal.METRICS: (ExportMetricsServiceResponse, "rejected_data_points"),
}


def parse_export_response(signal: Signal, body: bytes) -> Acked:
    """The ``partial_success`` of a protobuf Export*ServiceResponse (empty body: none)."""
    response_type, field = _RESPONSES[signal]
    try:
        response: Any = response_type.FromString(body)
    except DecodeError:
        return Acked(0, "undecodable export response")
    partial = response.partial_success
    rejected = int(getattr(partial, field))
    return Acked(rejected, partial.error_message)


def parse_rpc_status(body: bytes) -> tuple[str, float | None]:
    """Message and RetryInfo delay (seconds) of a serialized ``google.rpc.Status``."""
    try:
        status = RpcStatus.FromString(body)
    except DecodeError:
        return "", None
    delay: float | None = None
    for detail in status.details:
        info = RetryInfo()
        if detail.Unpack(info):
            delay = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return status.message, delay


def retry_delay_of(details: object) -> float | None:
    """The RetryInfo delay among decoded status details (grpclib gives a list)."""
    if not isinstance(details, list | tuple):
        return None
    for detail in details:
        if isinstance(detail, RetryInfo):
            return float(detail.retry_delay.seconds + detail.retry_delay.nanos / 1e9)
    return None
