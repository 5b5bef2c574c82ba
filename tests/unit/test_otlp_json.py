"""The OTLP/JSON converter against the reference, ``json_format.ParseDict``.

Documents are generated from the OTLP descriptors themselves, with every field of the
right JSON type (numbers or strings for 64-bit integers, enum names or numbers, either
key spelling), so the reference accepts them. The one intended difference: ids are hex
in OTLP/JSON and base64 in protojson, so the reference gets them re-encoded.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor as FD
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from otelctx.model import Signal
from otelctx.otlp import DecodeError
from otelctx.otlp.otlpjson import to_protobuf

REQUESTS = {
    Signal.TRACES: ExportTraceServiceRequest,
    Signal.LOGS: ExportLogsServiceRequest,
    Signal.METRICS: ExportMetricsServiceRequest,
}
ID_KEYS = {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}
MAX_DEPTH = 7


def _integers(low: int, high: int) -> st.SearchStrategy[Any]:
    numbers = st.integers(low, high)
    return numbers | numbers.map(str)


SCALARS: dict[int, st.SearchStrategy[Any]] = {
    FD.TYPE_STRING: st.text(max_size=8),
    FD.TYPE_BOOL: st.booleans(),
    FD.TYPE_DOUBLE: st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["Infinity", "-Infinity", "1.5", "-2e3"]),
    FD.TYPE_INT32: _integers(-(2**31), 2**31 - 1),
    FD.TYPE_SINT32: _integers(-(2**31), 2**31 - 1),
    FD.TYPE_UINT32: _integers(0, 2**32 - 1),
    FD.TYPE_FIXED32: _integers(0, 2**32 - 1),
    FD.TYPE_INT64: _integers(-(2**63), 2**63 - 1),
    FD.TYPE_SFIXED64: _integers(-(2**63), 2**63 - 1),
    FD.TYPE_UINT64: _integers(0, 2**64 - 1),
    FD.TYPE_FIXED64: _integers(0, 2**64 - 1),
}


def _value(field: Any, depth: int) -> st.SearchStrategy[Any]:
    if field.type == FD.TYPE_MESSAGE:
        return _message(field.message_type, depth + 1)
    if field.type == FD.TYPE_ENUM:
        names = [value.name for value in field.enum_type.values]
        return st.sampled_from(names) | st.integers(0, 30)
    if field.type == FD.TYPE_BYTES:
        raw = st.binary(max_size=17)
        return (
            raw.map(bytes.hex)
            if field.name.endswith("_id")
            else raw.map(lambda b: base64.b64encode(b).decode())
        )
    return SCALARS[field.type]


def _message(descriptor: Any, depth: int) -> st.SearchStrategy[dict[str, Any]]:
    fields = [f for f in descriptor.fields if f.name != "exemplars"]
    if depth >= MAX_DEPTH:  # stop recursion: scalars only
        fields = [f for f in fields if f.type != FD.TYPE_MESSAGE]

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        document: dict[str, Any] = {}
        used_oneofs: set[str] = set()
        for field in (
            draw(st.lists(st.sampled_from(fields), unique=True, max_size=5)) if fields else []
        ):
            oneof = field.containing_oneof
            if oneof is not None:
                if oneof.name in used_oneofs:
                    continue
                used_oneofs.add(oneof.name)
            key = draw(st.sampled_from([field.json_name, field.name]))
            value = _value(field, depth)
            if field.is_repeated:
                document[key] = draw(st.lists(value, max_size=2))
            else:
                document[key] = draw(value)
        return document

    return build()


def _reference_document(document: Any) -> Any:
    """Hex ids → base64, for protojson."""
    if isinstance(document, list):
        return [_reference_document(item) for item in document]
    if isinstance(document, dict):
        return {
            key: base64.b64encode(bytes.fromhex(value)).decode()
            if key in ID_KEYS and isinstance(value, str)
            else _reference_document(value)
            for key, value in document.items()
        }
    return document


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data(), signal=st.sampled_from(Signal))
def test_schema_valid_documents_convert_like_parse_dict(
    data: st.DataObject, signal: Signal
) -> None:
    request_type = REQUESTS[signal]
    document = data.draw(_message(request_type.DESCRIPTOR, 0))
    expected = json_format.ParseDict(
        _reference_document(document), request_type(), ignore_unknown_fields=True
    )
    rejected: list[str] = []
    converted = to_protobuf(
        orjson.dumps(document), signal, lambda n, reason: rejected.append(reason)
    )
    assert rejected == []
    assert request_type.FromString(converted) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "1.5"}]}]}]}',
         "Span.startTimeUnixNano must be a uint64, got a string"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": -1}]}]}]}',
         "Span.startTimeUnixNano must be a uint64 in [0, 18446744073709551615], got a number"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]}',
         "Span.name must be a string, got a number"),
        (b'{"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": '
         b'{"boolValue": "true"}}]}}]}',
         "AnyValue.boolValue must be a boolean, got a string"),
        (b'{"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": '
         b'{"bytesValue": "***"}}]}}]}',
         "AnyValue.bytesValue must be base64 text, got a string"),
        (b'{"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": '
         b'{"doubleValue": true}}]}}]}',
         "AnyValue.doubleValue must be a number, got a boolean"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": 1.5}]}]}]}',
         "Span.kind must be an enum number or name, got a number"),
        (b'{"resourceSpans": {"a": 1}}',
         "ExportTraceServiceRequest.resourceSpans must be a list, got an object"),
    ],
)  # fmt: skip
def test_wrong_types_are_named(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError) as caught:
        to_protobuf(body, Signal.TRACES, lambda n, reason: None)
    assert str(caught.value) == f"request body is not valid OTLP/JSON: {message}"


def test_nesting_is_bounded() -> None:
    levels = 120  # 240 nested messages, written by hand: orjson.dumps stops at 255 levels
    value = '{"arrayValue": {"values": [' * levels + '{"stringValue": "leaf"}' + "]}}" * levels
    body = '{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": ' + value + "}]}]}]}"
    with pytest.raises(DecodeError, match="deeper than 100 levels"):
        to_protobuf(body.encode(), Signal.LOGS, lambda n, reason: None)


def test_unknown_enum_name_is_ignored_like_an_unknown_field() -> None:
    span = b'{"kind": "SPAN_KIND_NEW", "name": "x"}'
    body = b'{"resourceSpans": [{"scopeSpans": [{"spans": [' + span + b"]}]}]}"
    request = ExportTraceServiceRequest.FromString(
        to_protobuf(body, Signal.TRACES, lambda n, r: None)
    )
    span = request.resource_spans[0].scope_spans[0].spans[0]
    assert (span.kind, span.name) == (0, "x")
