"""Pure OTLP request decoding: body bytes → model records plus what was rejected.

    decode_traces(body, encoding, policy) -> Decoded[SpanRecord]
    decode_logs(body, encoding, policy)   -> Decoded[LogRecord]
    decode_metrics(body, encoding, policy) -> Decoded[MetricPoint]

The body is already decompressed. Both encodings go through the same parse (the
``schema.py`` classes, upb) and the same mapping (``traces.py``, ``logs.py``,
``metrics.py``); OTLP/JSON is first turned into protobuf bytes by ``otlpjson.py``.

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

from google.protobuf.message import DecodeError as ProtobufDecodeError

from otelctx.model import LogRecord, MetricPoint, Signal, SpanRecord
from otelctx.otlp import otlpjson
from otelctx.otlp.errors import DecodeError
from otelctx.otlp.logs import logs_from
from otelctx.otlp.metrics import points_from
from otelctx.otlp.policy import IngestPolicy
from otelctx.otlp.schema import REQUEST_CLASSES
from otelctx.otlp.tally import Tally
from otelctx.otlp.traces import spans_from

R = TypeVar("R")


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
    return _decode(body, encoding, policy, Signal.TRACES, Tally("span", "spans"), spans_from)


def decode_logs(body: bytes, encoding: Encoding, policy: IngestPolicy) -> Decoded[LogRecord]:
    tally = Tally("log record", "log records")
    return _decode(body, encoding, policy, Signal.LOGS, tally, logs_from)


def decode_metrics(body: bytes, encoding: Encoding, policy: IngestPolicy) -> Decoded[MetricPoint]:
    tally = Tally("data point", "data points")
    return _decode(body, encoding, policy, Signal.METRICS, tally, points_from)


def _decode(
    body: bytes,
    encoding: Encoding,
    policy: IngestPolicy,
    signal: Signal,
    tally: Tally,
    records_from: Callable[[Any, IngestPolicy, Tally], list[R]],
) -> Decoded[R]:
    request_class = REQUEST_CLASSES[signal]
    if encoding is Encoding.JSON and body:
        body = otlpjson.to_protobuf(body, signal, tally.reject)
    try:
        # Attributes are parsed lazily (schema.py), so their errors surface while mapping.
        request = request_class.FromString(body)
        records = records_from(request, policy, tally)
    except ProtobufDecodeError as exc:
        name = request_class.DESCRIPTOR.name
        raise DecodeError(f"request body is not a valid {name} protobuf: {exc}") from None
    return _result(records, tally)


def _result(records: list[R], tally: Tally) -> Decoded[R]:
    filtered = tally.filtered
    return Decoded(
        records=records,
        rejected=tally.invalid + filtered,
        invalid=tally.invalid,
        filtered=filtered,
        message=tally.message(),
    )
