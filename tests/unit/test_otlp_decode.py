"""otelctx.otlp decoding: every field of every signal survives, in protobuf and OTLP/JSON.

Requests are built with the ``opentelemetry-proto`` classes (what SDK exporters send) or
written by hand as OTLP/JSON the way the specification shows it (hex ids, integer enums,
64-bit integers as strings). Pure functions: no sockets, no event loop.
"""

from __future__ import annotations

import base64
import contextlib
import math
import time
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as PbLogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from otelctx.model import (
    LogRecord,
    MetricPoint,
    MetricType,
    Scope,
    SpanKind,
    SpanRecord,
    StatusCode,
)
from otelctx.otlp import (
    DecodeError,
    Encoding,
    IngestPolicy,
    decode_logs,
    decode_metrics,
    decode_traces,
)

POLICY = IngestPolicy(tenant=None)
TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")
PARENT_ID = bytes.fromhex("eee19b7ec3c1b173")
T0 = 1_544_712_660_000_000_000
DECODERS = (decode_traces, decode_logs, decode_metrics)


# ----------------------------------------------------------------------------- builders


def any_pb(value: Any) -> AnyValue:
    """Python value → AnyValue (the inverse of the decoder's mapping, bytes aside)."""
    result = AnyValue()
    if value is None:
        pass
    elif isinstance(value, bool):
        result.bool_value = value
    elif isinstance(value, int):
        result.int_value = value
    elif isinstance(value, float):
        result.double_value = value
    elif isinstance(value, str):
        result.string_value = value
    elif isinstance(value, bytes):
        result.bytes_value = value
    elif isinstance(value, list):
        result.array_value.values.extend(any_pb(v) for v in value)
    elif isinstance(value, dict):
        result.kvlist_value.values.extend(kv_list(value))
    else:
        raise TypeError(value)
    return result


def kv_list(attributes: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_pb(v)) for k, v in attributes.items()]


def any_json(value: Any) -> dict[str, Any]:
    """Python value → OTLP/JSON AnyValue, as the spec writes it."""
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        if math.isinf(value):
            return {"doubleValue": "Infinity" if value > 0 else "-Infinity"}
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode()}
    if isinstance(value, list):
        return {"arrayValue": {"values": [any_json(v) for v in value]}}
    return {"kvlistValue": {"values": kv_json(value)}}


def kv_json(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": any_json(v)} for k, v in attributes.items()]


def traces_request(
    spans: list[Span],
    resource: dict[str, Any] | None = None,
    scope: tuple[str, str, dict[str, Any]] = ("", "", {}),
) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        kv_list({"service.name": "svc"} if resource is None else resource)
    )
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name, scope_spans.scope.version = scope[0], scope[1]
    scope_spans.scope.attributes.extend(kv_list(scope[2]))
    scope_spans.spans.extend(spans)
    return request


def make_span(
    trace_id: bytes = TRACE_ID, span_id: bytes = SPAN_ID, name: str = "op", **fields: Any
) -> Span:
    return Span(trace_id=trace_id, span_id=span_id, name=name, **fields)


def typed(value: Any) -> Any:
    """A comparison form that tells True from 1 and 1 from 1.0."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


ALL_VALUES: dict[str, Any] = {
    "s": "text",
    "b": True,
    "i": -(2**63),
    "d": 2.5,
    "arr": ["x", 1, False, [2.0]],
    "kv": {"inner": {"deep": "yes"}, "n": 7},
    "bytes": b"\x00\xffbin",
    "unset": None,
    "empty": "",
}
ALL_VALUES_DECODED = {**ALL_VALUES, "bytes": base64.b64encode(b"\x00\xffbin").decode()}


# ----------------------------------------------------------------------------- traces


def test_span_keeps_every_field() -> None:
    span = make_span(
        parent_span_id=PARENT_ID,
        trace_state="rojo=00f067aa0ba902b7",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=T0,
        end_time_unix_nano=T0 + 1_500_000,
        attributes=kv_list(ALL_VALUES),
        status=Status(code=Status.STATUS_CODE_ERROR, message="boom"),
        events=[
            Span.Event(time_unix_nano=T0 + 10, name="exception", attributes=kv_list({"a": 1})),
            Span.Event(time_unix_nano=T0 + 20, name="retry"),
        ],
        links=[
            Span.Link(
                trace_id=bytes(range(16)),
                span_id=bytes(range(8)),
                trace_state="k=v",
                attributes=kv_list({"link.kind": "follows"}),
            )
        ],
    )
    request = traces_request(
        [span],
        resource={"service.name": "checkout", "host.name": "h1", "k8s.pod.uid": 42},
        scope=("io.opentelemetry.flask", "1.2.3", {"scope.attr": True}),
    )
    decoded = decode_traces(request.SerializeToString(), Encoding.PROTOBUF, POLICY)
    assert (decoded.rejected, decoded.invalid, decoded.filtered, decoded.message) == (0, 0, 0, "")
    [record] = decoded.records
    assert record.tenant_id == "default"
    assert record.trace_id == "5b8efff798038103d269b633813fc60c"
    assert record.span_id == "eee19b7ec3c1b174"
    assert record.parent_span_id == "eee19b7ec3c1b173"
    assert record.service_name == "checkout"
    assert record.name == "op"
    assert record.kind is SpanKind.CLIENT
    assert (record.start_time_unix_nano, record.end_time_unix_nano) == (T0, T0 + 1_500_000)
    assert record.duration_ns == 1_500_000
    assert record.status_code is StatusCode.ERROR
    assert record.status_message == "boom"
    assert record.trace_state == "rojo=00f067aa0ba902b7"
    assert typed(record.attributes) == typed(ALL_VALUES_DECODED)
    assert typed(record.resource) == typed(
        {"service.name": "checkout", "host.name": "h1", "k8s.pod.uid": 42}
    )
    assert record.scope == Scope("io.opentelemetry.flask", "1.2.3", {"scope.attr": True})
    assert [(e.time_unix_nano, e.name, e.attributes) for e in record.events] == [
        (T0 + 10, "exception", {"a": 1}),
        (T0 + 20, "retry", {}),
    ]
    [link] = record.links
    assert link.trace_id == bytes(range(16)).hex()
    assert link.span_id == bytes(range(8)).hex()
    assert (link.trace_state, link.attributes) == ("k=v", {"link.kind": "follows"})


def test_root_span_defaults() -> None:
    request = traces_request([make_span()], resource={})
    [record] = decode_traces(request.SerializeToString(), Encoding.PROTOBUF, POLICY).records
    assert record.parent_span_id == ""
    assert record.kind is SpanKind.UNSPECIFIED
    assert record.status_code is StatusCode.UNSET
    assert record.status_message == ""
    assert record.service_name == "unknown_service"
    assert (record.events, record.links, record.attributes) == ((), (), {})


def test_repeated_attribute_key_keeps_last_value() -> None:
    span = make_span(attributes=[*kv_list({"k": 1}), *kv_list({"k": "two"})])
    [record] = decode_traces(
        traces_request([span]).SerializeToString(), Encoding.PROTOBUF, POLICY
    ).records
    assert record.attributes == {"k": "two"}


def test_attribute_values_are_not_shared_mutably_between_spans() -> None:
    attrs = kv_list({"list": [1, 2], "map": {"a": 1}, "s": "same"})
    spans = [make_span(span_id=bytes([i + 1]) * 8, attributes=attrs) for i in range(2)]
    first, second = decode_traces(
        traces_request(spans).SerializeToString(), Encoding.PROTOBUF, POLICY
    ).records
    assert first.attributes == second.attributes
    assert first.attributes["list"] is not second.attributes["list"]
    assert first.attributes["map"] is not second.attributes["map"]


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"trace_id": b"\x01\x02\x03"}, "trace_id must be 16 bytes (got 3)"),
        ({"trace_id": b""}, "trace_id must be 16 bytes (got 0)"),
        ({"trace_id": bytes(16)}, "trace_id must not be all zeros"),
        ({"span_id": b"\x01" * 9}, "span_id must be 8 bytes (got 9)"),
        ({"span_id": bytes(8)}, "span_id must not be all zeros"),
        ({"parent_span_id": b"\x01" * 4}, "parent_span_id must be empty or 8 bytes (got 4)"),
        ({"name": ""}, "span name is empty"),
        ({"kind": 9}, "span kind 9 is not a SpanKind"),
        ({"status": Status(code=5)}, "status code 5 is not a Status.StatusCode"),
    ],
)
def test_invalid_span_is_rejected_and_others_kept(fields: dict[str, Any], reason: str) -> None:
    good = make_span(name="good")
    bad = make_span(**{"name": "bad", **fields})
    request = traces_request([good, bad, good])
    decoded = decode_traces(request.SerializeToString(), Encoding.PROTOBUF, POLICY)
    assert [r.name for r in decoded.records] == ["good", "good"]
    assert (decoded.rejected, decoded.invalid, decoded.filtered) == (1, 1, 0)
    assert decoded.message == f"1 span rejected: {reason}"


def test_rejection_message_counts_and_lists_first_reasons() -> None:
    bad = [make_span(trace_id=b"abc") for _ in range(2)] + [make_span(name="")]
    decoded = decode_traces(traces_request(bad).SerializeToString(), Encoding.PROTOBUF, POLICY)
    assert decoded.records == []
    assert decoded.message == (
        "3 spans rejected: trace_id must be 16 bytes (got 3), span name is empty"
    )


def test_garbage_protobuf_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="not a valid ExportTraceServiceRequest protobuf"):
        decode_traces(b"\xff\xff\xff\xff garbage", Encoding.PROTOBUF, POLICY)


def test_malformed_attribute_is_a_decode_error() -> None:
    # Span.attributes (field 9) holding a KeyValue whose key claims 5 bytes but has 1.
    span = make_span().SerializeToString() + b"\x4a\x03" + b"\x0a\x05a"
    scope_spans = _field(2, span)  # ScopeSpans.spans
    resource_spans = _field(2, scope_spans)  # ResourceSpans.scope_spans
    body = _field(1, resource_spans)  # ExportTraceServiceRequest.resource_spans
    with pytest.raises(DecodeError, match="not a valid ExportTraceServiceRequest protobuf"):
        decode_traces(body, Encoding.PROTOBUF, POLICY)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (payload shorter than 16 KiB)."""
    size = len(payload)
    length = bytes([size]) if size < 0x80 else bytes([size & 0x7F | 0x80, size >> 7])
    return bytes([number << 3 | 2]) + length + payload


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize("encoding", list(Encoding))
def test_empty_body_is_an_empty_request(decode: Any, encoding: Encoding) -> None:
    decoded = decode(b"", encoding, POLICY)
    assert (decoded.records, decoded.rejected, decoded.message) == ([], 0, "")


# ----------------------------------------------------------------------------- OTLP/JSON

SPEC_JSON = {
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "x"}}]},
            "scopeSpans": [
                {
                    "scope": {"name": "my.library", "version": "1.0.0", "attributes": []},
                    "spans": [
                        {
                            "traceId": "5b8efff798038103d269b633813fc60c",
                            "spanId": "eee19b7ec3c1b174",
                            "parentSpanId": "eee19b7ec3c1b173",
                            "name": "I'm a server span",
                            "startTimeUnixNano": "1544712660000000000",
                            "endTimeUnixNano": 1544712661000000000,
                            "kind": 2,
                            "status": {"code": 2, "message": "bad"},
                            "attributes": [
                                {"key": "my.span.attr", "value": {"stringValue": "some value"}},
                                {"key": "n", "value": {"intValue": "42"}},
                                {"key": "bin", "value": {"bytesValue": "AP8="}},
                            ],
                            "events": [{"timeUnixNano": "1544712660500000000", "name": "ev"}],
                            "links": [
                                {
                                    "traceId": "0102030405060708090a0b0c0d0e0f10",
                                    "spanId": "0102030405060708",
                                    "attributes": [],
                                }
                            ],
                            "someFutureField": {"ignored": True},
                        }
                    ],
                }
            ],
        }
    ]
}


def test_spec_json_hex_ids_are_stored_exactly() -> None:
    decoded = decode_traces(orjson.dumps(SPEC_JSON), Encoding.JSON, POLICY)
    assert decoded.rejected == 0
    [record] = decoded.records
    assert record.trace_id == "5b8efff798038103d269b633813fc60c"
    assert record.span_id == "eee19b7ec3c1b174"
    assert record.parent_span_id == "eee19b7ec3c1b173"
    assert record.service_name == "x"
    assert record.kind is SpanKind.SERVER
    assert (record.status_code, record.status_message) == (StatusCode.ERROR, "bad")
    assert record.start_time_unix_nano == 1_544_712_660_000_000_000
    assert record.end_time_unix_nano == 1_544_712_661_000_000_000
    assert record.attributes == {"my.span.attr": "some value", "n": 42, "bin": "AP8="}
    assert record.scope == Scope("my.library", "1.0.0", {})
    assert [(e.time_unix_nano, e.name) for e in record.events] == [(1544712660500000000, "ev")]
    assert record.links[0].trace_id == "0102030405060708090a0b0c0d0e0f10"
    assert record.links[0].span_id == "0102030405060708"


def test_json_accepts_snake_case_enum_names_and_uppercase_hex() -> None:
    document = {
        "resource_spans": [
            {
                "scope_spans": [
                    {
                        "spans": [
                            {
                                "trace_id": "5B8EFFF798038103D269B633813FC60C",
                                "span_id": "eee19b7ec3c1b174",
                                "name": "op",
                                "kind": "SPAN_KIND_CONSUMER",
                                "status": {"code": "STATUS_CODE_OK"},
                                "start_time_unix_nano": 5,
                            }
                        ]
                    }
                ]
            }
        ]
    }
    [record] = decode_traces(orjson.dumps(document), Encoding.JSON, POLICY).records
    assert record.trace_id == "5b8efff798038103d269b633813fc60c"
    assert (record.kind, record.status_code) == (SpanKind.CONSUMER, StatusCode.OK)
    assert record.start_time_unix_nano == 5


def test_json_and_protobuf_give_the_same_records() -> None:
    span = make_span(
        parent_span_id=PARENT_ID,
        kind=Span.SPAN_KIND_PRODUCER,
        start_time_unix_nano=T0,
        end_time_unix_nano=T0 + 1,
        attributes=kv_list(ALL_VALUES),
        status=Status(code=1, message="fine"),
        events=[Span.Event(time_unix_nano=T0, name="e", attributes=kv_list({"x": [1, "a"]}))],
    )
    request = traces_request([span], scope=("lib", "2", {"a": 1.5}))
    from_protobuf = decode_traces(request.SerializeToString(), Encoding.PROTOBUF, POLICY)
    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": kv_json({"service.name": "svc"})},
                "scopeSpans": [
                    {
                        "scope": {"name": "lib", "version": "2", "attributes": kv_json({"a": 1.5})},
                        "spans": [
                            {
                                "traceId": TRACE_ID.hex(),
                                "spanId": SPAN_ID.hex(),
                                "parentSpanId": PARENT_ID.hex(),
                                "name": "op",
                                "kind": 4,
                                "startTimeUnixNano": str(T0),
                                "endTimeUnixNano": str(T0 + 1),
                                "attributes": kv_json(ALL_VALUES),
                                "status": {"code": 1, "message": "fine"},
                                "events": [
                                    {
                                        "timeUnixNano": str(T0),
                                        "name": "e",
                                        "attributes": kv_json({"x": [1, "a"]}),
                                    }
                                ],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    from_json = decode_traces(orjson.dumps(document), Encoding.JSON, POLICY)
    assert typed(from_json.records[0].attributes) == typed(from_protobuf.records[0].attributes)
    assert from_json == from_protobuf


def test_json_id_that_is_not_hex_rejects_only_that_span() -> None:
    document = orjson.loads(orjson.dumps(SPEC_JSON))
    spans = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    bad = dict(spans[0], traceId="zz8efff798038103d269b633813fc60c", name="bad")
    spacey = dict(spans[0], spanId="ee e1 9b 7e c3 c1 b1 74", name="spacey")
    bad_link = dict(spans[0], links=[{"traceId": "xyz", "spanId": "0102030405060708"}])
    spans.extend([bad, spacey, bad_link])
    decoded = decode_traces(orjson.dumps(document), Encoding.JSON, POLICY)
    assert [r.name for r in decoded.records] == ["I'm a server span"]
    assert (decoded.rejected, decoded.invalid) == (3, 3)
    assert decoded.message == (
        "3 spans rejected: trace_id is not a hex string, span_id is not a hex string, "
        "link trace_id is not a hex string"
    )


def test_json_three_byte_trace_id_is_rejected_with_partial_message() -> None:
    document = orjson.loads(orjson.dumps(SPEC_JSON))
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["traceId"] = "abcdef"
    decoded = decode_traces(orjson.dumps(document), Encoding.JSON, POLICY)
    assert decoded.records == []
    assert decoded.message == "1 span rejected: trace_id must be 16 bytes (got 3)"


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (
            b'{"resourceSpans": 5}',
            "not valid OTLP/JSON: ExportTraceServiceRequest.resourceSpans must be a list, got a",
        ),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": 5}]}]}', "OTLP/JSON"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [7]}]}]}', "OTLP/JSON"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": [2]}]}]}]}', "OTLP/JSON"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": 12}]}]}]}', "OTLP/JSON"),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"endTimeUnixNano": "x"}]}]}]}', "JSON"),
    ],
)
def test_malformed_json_is_a_decode_error(body: bytes, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        decode_traces(body, Encoding.JSON, POLICY)


def test_json_unknown_top_level_fields_are_ignored() -> None:
    decoded = decode_traces(b'{"somethingNew": [1, 2]}', Encoding.JSON, POLICY)
    assert (decoded.records, decoded.rejected) == ([], 0)


# ----------------------------------------------------------------------------- filters, tenants


def _resource_spans(*services: str | None, tenant: Any = None) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    for index, service in enumerate(services):
        resource: dict[str, Any] = {} if service is None else {"service.name": service}
        if tenant is not None:
            resource["tenant.id"] = tenant
        part = traces_request([make_span(name=f"op{index}")] * 2, resource=resource)
        request.resource_spans.extend(part.resource_spans)
    return request


def test_excluded_services_are_dropped_and_reported() -> None:
    policy = IngestPolicy(tenant=None, excluded_services=frozenset({"noisy"}))
    request = _resource_spans("api", "noisy", "noisy")
    decoded = decode_traces(request.SerializeToString(), Encoding.PROTOBUF, policy)
    assert {r.service_name for r in decoded.records} == {"api"}
    assert (decoded.rejected, decoded.invalid, decoded.filtered) == (4, 0, 4)
    assert decoded.message == "4 spans dropped by INGEST_EXCLUDED_SERVICES"


def test_allowed_services_keep_only_those_and_exclusion_wins() -> None:
    policy = IngestPolicy(
        tenant=None,
        allowed_services=frozenset({"api", "db"}),
        excluded_services=frozenset({"db"}),
    )
    request = _resource_spans("api", "db", "web", None)
    decoded = decode_traces(request.SerializeToString(), Encoding.PROTOBUF, policy)
    assert {r.service_name for r in decoded.records} == {"api"}
    assert decoded.filtered == 6
    assert decoded.message == (
        "2 spans dropped by INGEST_EXCLUDED_SERVICES; 4 spans dropped by INGEST_ALLOWED_SERVICES"
    )


def test_unknown_service_can_be_allowed() -> None:
    policy = IngestPolicy(tenant=None, allowed_services=frozenset({"unknown_service"}))
    request = _resource_spans(None)
    decoded = decode_traces(request.SerializeToString(), Encoding.PROTOBUF, policy)
    assert [r.service_name for r in decoded.records] == ["unknown_service"] * 2


def test_invalid_and_filtered_are_both_reported() -> None:
    policy = IngestPolicy(tenant=None, excluded_services=frozenset({"noisy"}))
    request = _resource_spans("noisy")
    request.resource_spans.extend(traces_request([make_span(trace_id=b"abc")]).resource_spans)
    decoded = decode_traces(request.SerializeToString(), Encoding.PROTOBUF, policy)
    assert (decoded.rejected, decoded.invalid, decoded.filtered) == (3, 1, 2)
    assert decoded.message == (
        "1 span rejected: trace_id must be 16 bytes (got 3); "
        "2 spans dropped by INGEST_EXCLUDED_SERVICES"
    )


@pytest.mark.parametrize(
    ("policy", "resource_tenant", "expected"),
    [
        (IngestPolicy(tenant="bound"), "other", "bound"),
        (IngestPolicy(tenant="bound", trust_resource_tenant=True), "other", "bound"),
        (IngestPolicy(tenant=None), "other", "default"),
        (IngestPolicy(tenant=None, default_tenant="acme"), "other", "acme"),
        (IngestPolicy(tenant=None, trust_resource_tenant=True), "  other ", "other"),
        (IngestPolicy(tenant=None, trust_resource_tenant=True), "", "default"),
        (IngestPolicy(tenant=None, trust_resource_tenant=True), 17, "default"),
        (IngestPolicy(tenant=None, trust_resource_tenant=True), None, "default"),
    ],
)
def test_tenant_resolution(policy: IngestPolicy, resource_tenant: Any, expected: str) -> None:
    request = _resource_spans("api", tenant=resource_tenant)
    decoded = decode_traces(request.SerializeToString(), Encoding.PROTOBUF, policy)
    assert {r.tenant_id for r in decoded.records} == {expected}


@pytest.mark.parametrize("bad", ["evil\x00tenant", "a\u202eb", "x" * 129, "line\u2028sep"])
def test_invalid_resource_tenant_rejects_that_resource(bad: str) -> None:
    policy = IngestPolicy(tenant=None, trust_resource_tenant=True)
    request = _resource_spans("api", tenant=bad)
    request.resource_spans.extend(_resource_spans("web", tenant="good").resource_spans)
    decoded = decode_traces(request.SerializeToString(), Encoding.PROTOBUF, policy)
    assert {(r.tenant_id, r.service_name) for r in decoded.records} == {("good", "web")}
    assert (decoded.rejected, decoded.invalid) == (2, 2)
    assert decoded.message.startswith("2 spans rejected: resource attribute tenant.id: tenant id")
    assert bad not in decoded.message


# ----------------------------------------------------------------------------- logs


def logs_request(records: list[PbLogRecord], resource: dict[str, Any] | None = None) -> bytes:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.extend(
        kv_list({"service.name": "svc"} if resource is None else resource)
    )
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = "logger"
    scope_logs.scope.version = "9"
    scope_logs.log_records.extend(records)
    return request.SerializeToString()


def test_log_record_keeps_every_field() -> None:
    log = PbLogRecord(
        time_unix_nano=T0,
        observed_time_unix_nano=T0 + 5,
        severity_number=17,
        severity_text="ERROR",
        body=any_pb({"msg": "hello", "list": [1, 2.5]}),
        attributes=kv_list(ALL_VALUES),
        trace_id=TRACE_ID,
        span_id=SPAN_ID,
        flags=1,
    )
    decoded = decode_logs(
        logs_request([log], {"service.name": "api", "x": 1}), Encoding.PROTOBUF, POLICY
    )
    [record] = decoded.records
    assert record == LogRecord(
        tenant_id="default",
        service_name="api",
        time_unix_nano=T0,
        observed_time_unix_nano=T0 + 5,
        severity_number=17,
        severity_text="ERROR",
        body={"msg": "hello", "list": [1, 2.5]},
        attributes=ALL_VALUES_DECODED,
        resource={"service.name": "api", "x": 1},
        scope=Scope("logger", "9", {}),
        trace_id=TRACE_ID.hex(),
        span_id=SPAN_ID.hex(),
        flags=1,
    )
    assert typed(record.attributes) == typed(ALL_VALUES_DECODED)


@pytest.mark.parametrize(
    "body", ["plain text", 42, 1.5, True, None, ["a", 1], {"k": {"n": None}}, b"\x01\x02"]
)
def test_log_body_of_any_type(body: Any) -> None:
    log = PbLogRecord(time_unix_nano=T0, body=any_pb(body))
    [record] = decode_logs(logs_request([log]), Encoding.PROTOBUF, POLICY).records
    expected = base64.b64encode(body).decode() if isinstance(body, bytes) else body
    assert typed(record.body) == typed(expected)
    assert (record.trace_id, record.span_id) == ("", "")


def test_log_time_falls_back_to_observed_then_now() -> None:
    only_observed = PbLogRecord(observed_time_unix_nano=T0, body=any_pb("a"))
    neither = PbLogRecord(body=any_pb("b"))
    before = time.time_ns()
    first, second = decode_logs(
        logs_request([only_observed, neither]), Encoding.PROTOBUF, POLICY
    ).records
    after = time.time_ns()
    assert (first.time_unix_nano, first.observed_time_unix_nano) == (T0, T0)
    assert before <= second.time_unix_nano == second.observed_time_unix_nano <= after


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"trace_id": b"\x01" * 5}, "trace_id must be empty or 16 bytes (got 5)"),
        ({"span_id": b"\x01" * 7}, "span_id must be empty or 8 bytes (got 7)"),
    ],
)
def test_invalid_log_ids_are_rejected(fields: dict[str, Any], reason: str) -> None:
    records = [PbLogRecord(time_unix_nano=1), PbLogRecord(time_unix_nano=2, **fields)]
    decoded = decode_logs(logs_request(records), Encoding.PROTOBUF, POLICY)
    assert [r.time_unix_nano for r in decoded.records] == [1]
    assert decoded.message == f"1 log record rejected: {reason}"


def test_severity_gate() -> None:
    policy = IngestPolicy(tenant=None, min_severity=13)  # WARN
    cases = [
        (9, "", False),
        (13, "", True),
        (21, "", True),
        (0, "warning", True),
        (0, "Error", True),
        (0, "CRITICAL", True),
        (0, "debug", False),
        (0, "trace", False),
        (0, "", False),  # no severity at all counts as INFO
        (0, "notice", False),
        (10, "ERROR", False),  # the number wins over the text
    ]
    records = [
        PbLogRecord(time_unix_nano=i + 1, severity_number=n, severity_text=text)
        for i, (n, text, _) in enumerate(cases)
    ]
    decoded = decode_logs(logs_request(records), Encoding.PROTOBUF, policy)
    kept = {r.time_unix_nano for r in decoded.records}
    assert kept == {i + 1 for i, (_, _, keep) in enumerate(cases) if keep}
    dropped = sum(1 for *_, keep in cases if not keep)
    assert (decoded.filtered, decoded.invalid) == (dropped, 0)
    assert decoded.message == f"{dropped} log records dropped by INGEST_MIN_SEVERITY"


def test_logs_json_hex_ids() -> None:
    document = {
        "resourceLogs": [
            {
                "resource": {"attributes": kv_json({"service.name": "web"})},
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": "1544712660300000000",
                                "severityNumber": "SEVERITY_NUMBER_WARN",
                                "severityText": "Warning",
                                "traceId": TRACE_ID.hex(),
                                "spanId": SPAN_ID.hex(),
                                "body": {"stringValue": "Example log record"},
                                "attributes": kv_json({"bool": True}),
                            },
                            {"traceId": "nothex!", "body": {"stringValue": "bad"}},
                        ]
                    }
                ],
            }
        ]
    }
    decoded = decode_logs(orjson.dumps(document), Encoding.JSON, POLICY)
    [record] = decoded.records
    assert (record.trace_id, record.span_id) == (TRACE_ID.hex(), SPAN_ID.hex())
    assert (record.severity_number, record.severity_text) == (13, "Warning")
    assert (record.body, record.attributes, record.service_name) == (
        "Example log record",
        {"bool": True},
        "web",
    )
    assert decoded.message == "1 log record rejected: trace_id is not a hex string"


# ----------------------------------------------------------------------------- metrics


def metrics_request(metrics: list[Metric], resource: dict[str, Any] | None = None) -> bytes:
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.attributes.extend(
        kv_list({"service.name": "svc"} if resource is None else resource)
    )
    scope_metrics = resource_metrics.scope_metrics.add()
    scope_metrics.scope.name = "meter"
    scope_metrics.metrics.extend(metrics)
    return request.SerializeToString()


def _metric(**fields: Any) -> Metric:
    return Metric(name="m", description="what", unit="ms", **fields)


def _one_point(metric: Metric) -> MetricPoint:
    decoded = decode_metrics(metrics_request([metric]), Encoding.PROTOBUF, POLICY)
    assert decoded.rejected == 0
    [point] = decoded.records
    assert (point.name, point.description, point.unit) == ("m", "what", "ms")
    assert (point.service_name, point.tenant_id, point.scope.name) == ("svc", "default", "meter")
    return point


def test_gauge_points() -> None:
    metric = _metric(
        gauge={
            "data_points": [
                {
                    "as_int": 7,
                    "time_unix_nano": T0,
                    "start_time_unix_nano": T0 - 1,
                    "attributes": kv_list({"host": "a"}),
                },
                {"as_double": 0.25, "time_unix_nano": T0},
                {"time_unix_nano": T0, "flags": 1},
            ]
        }
    )
    points = decode_metrics(metrics_request([metric]), Encoding.PROTOBUF, POLICY).records
    assert [(p.metric_type, p.value, type(p.value)) for p in points] == [
        (MetricType.GAUGE, 7.0, float),
        (MetricType.GAUGE, 0.25, float),
        (MetricType.GAUGE, None, type(None)),
    ]
    first = points[0]
    assert (first.time_unix_nano, first.start_time_unix_nano) == (T0, T0 - 1)
    assert first.attributes == {"host": "a"}
    assert (first.count, first.sum, first.min, first.max, first.data) == (None,) * 4 + ({},)
    assert points[2].data == {"flags": 1}


def test_sum_point() -> None:
    metric = _metric(
        sum={
            "data_points": [{"as_double": 3.5, "time_unix_nano": T0}],
            "aggregation_temporality": 2,
            "is_monotonic": True,
        }
    )
    point = _one_point(metric)
    assert (point.metric_type, point.value) == (MetricType.SUM, 3.5)
    assert (point.aggregation_temporality, point.is_monotonic) == (2, True)


def test_histogram_point_with_and_without_min_max() -> None:
    full = {
        "count": 6,
        "sum": 12.5,
        "min": 0.5,
        "max": 9.0,
        "bucket_counts": [1, 2, 3],
        "explicit_bounds": [1.0, 5.0],
        "time_unix_nano": T0,
    }
    metric = _metric(histogram={"data_points": [full, {"count": 0}], "aggregation_temporality": 1})
    points = decode_metrics(metrics_request([metric]), Encoding.PROTOBUF, POLICY).records
    first, bare = points
    assert first.metric_type is MetricType.HISTOGRAM
    assert (first.count, first.sum, first.min, first.max) == (6, 12.5, 0.5, 9.0)
    assert first.data == {"bucket_counts": [1, 2, 3], "explicit_bounds": [1.0, 5.0]}
    assert first.aggregation_temporality == 1
    assert (bare.count, bare.sum, bare.min, bare.max) == (0, None, None, None)
    assert bare.value is None


def test_exponential_histogram_point() -> None:
    metric = _metric(
        exponential_histogram={
            "data_points": [
                {
                    "count": 10,
                    "sum": 40.0,
                    "min": 1.0,
                    "max": 8.0,
                    "scale": -2,
                    "zero_count": 1,
                    "zero_threshold": 0.001,
                    "positive": {"offset": -3, "bucket_counts": [4, 5]},
                    "negative": {"offset": 2, "bucket_counts": [0]},
                }
            ],
            "aggregation_temporality": 2,
        }
    )
    point = _one_point(metric)
    assert point.metric_type is MetricType.EXPONENTIAL_HISTOGRAM
    assert (point.count, point.sum, point.min, point.max) == (10, 40.0, 1.0, 8.0)
    assert point.data == {
        "scale": -2,
        "zero_count": 1,
        "zero_threshold": 0.001,
        "positive": {"offset": -3, "bucket_counts": [4, 5]},
        "negative": {"offset": 2, "bucket_counts": [0]},
    }
    assert point.aggregation_temporality == 2


def test_summary_point() -> None:
    metric = _metric(
        summary={
            "data_points": [
                {
                    "count": 3,
                    "sum": 6.0,
                    "quantile_values": [
                        {"quantile": 0.5, "value": 2.0},
                        {"quantile": 0.99, "value": 3.0},
                    ],
                }
            ]
        }
    )
    point = _one_point(metric)
    assert point.metric_type is MetricType.SUMMARY
    assert (point.count, point.sum, point.min, point.max) == (3, 6.0, None, None)
    assert point.data == {
        "quantiles": [{"quantile": 0.5, "value": 2.0}, {"quantile": 0.99, "value": 3.0}]
    }


def test_metric_without_name_rejects_its_points_and_without_data_has_none() -> None:
    nameless = Metric(name="", gauge={"data_points": [{"as_int": 1}, {"as_int": 2}]})
    dataless = Metric(name="empty")
    good = Metric(name="ok", gauge={"data_points": [{"as_int": 1}]})
    decoded = decode_metrics(metrics_request([nameless, dataless, good]), Encoding.PROTOBUF, POLICY)
    assert [p.name for p in decoded.records] == ["ok"]
    assert decoded.message == "2 data points rejected: metric name is empty"


def test_metrics_filter_counts_data_points() -> None:
    policy = IngestPolicy(tenant=None, excluded_services=frozenset({"svc"}))
    metric = Metric(name="m", sum={"data_points": [{"as_int": 1}] * 3})
    decoded = decode_metrics(metrics_request([metric, metric]), Encoding.PROTOBUF, policy)
    assert (decoded.records, decoded.filtered) == ([], 6)
    assert decoded.message == "6 data points dropped by INGEST_EXCLUDED_SERVICES"


def test_metrics_json() -> None:
    document = {
        "resourceMetrics": [
            {
                "resource": {"attributes": kv_json({"service.name": "svc"})},
                "scopeMetrics": [
                    {
                        "scope": {"name": "meter"},
                        "metrics": [
                            {
                                "name": "m",
                                "description": "what",
                                "unit": "ms",
                                "sum": {
                                    "aggregationTemporality": 2,
                                    "isMonotonic": True,
                                    "dataPoints": [
                                        {
                                            "asInt": "5",
                                            "timeUnixNano": str(T0),
                                            "exemplars": [
                                                {
                                                    "asDouble": 1.0,
                                                    "traceId": TRACE_ID.hex(),
                                                    "spanId": SPAN_ID.hex(),
                                                }
                                            ],
                                        }
                                    ],
                                },
                            },
                            {
                                "name": "m",
                                "description": "what",
                                "unit": "ms",
                                "histogram": {
                                    "dataPoints": [
                                        {
                                            "count": "2",
                                            "sum": 3,
                                            "bucketCounts": ["1", 1],
                                            "explicitBounds": [1],
                                        }
                                    ]
                                },
                            },
                        ],
                    }
                ],
            }
        ]
    }
    decoded = decode_metrics(orjson.dumps(document), Encoding.JSON, POLICY)
    assert decoded.rejected == 0
    total, histogram = decoded.records
    assert (total.value, total.is_monotonic, total.time_unix_nano) == (5.0, True, T0)
    assert (histogram.count, histogram.sum) == (2, 3.0)
    assert histogram.data == {"bucket_counts": [1, 1], "explicit_bounds": [1.0]}


# ----------------------------------------------------------------------------- properties

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(body=st.binary(max_size=2048), encoding=st.sampled_from(Encoding))
def test_arbitrary_bytes_only_ever_raise_decode_error(body: bytes, encoding: Encoding) -> None:
    for decode in DECODERS:
        with contextlib.suppress(DecodeError):
            decode(body, encoding, POLICY)


def _valid_bodies() -> list[bytes]:
    span = make_span(
        parent_span_id=PARENT_ID,
        attributes=kv_list(ALL_VALUES),
        events=[Span.Event(name="e", attributes=kv_list({"k": "v"}))],
        links=[Span.Link(trace_id=TRACE_ID, span_id=SPAN_ID, attributes=kv_list({"n": 1}))],
    )
    log = PbLogRecord(body=any_pb({"a": [1]}), attributes=kv_list(ALL_VALUES))
    metric = Metric(name="m", histogram={"data_points": [{"count": 1, "sum": 2.0}]})
    return [
        traces_request([span]).SerializeToString(),
        logs_request([log]),
        metrics_request([metric]),
    ]


VALID_BODIES = _valid_bodies()


@FUZZ
@given(data=st.data())
def test_corrupted_valid_requests_only_ever_raise_decode_error(data: st.DataObject) -> None:
    index = data.draw(st.integers(0, 2))
    body = bytearray(VALID_BODIES[index])
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(body) - 1))
        body[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(body)))
    with contextlib.suppress(DecodeError):
        DECODERS[index](bytes(body[:cut]), Encoding.PROTOBUF, POLICY)


json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
any_json_value = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=30,
)
OTLP_KEYS = [
    "resourceSpans", "resourceLogs", "resourceMetrics", "resource", "attributes",
    "scopeSpans", "scopeLogs", "scopeMetrics", "scope", "spans", "logRecords", "metrics",
    "traceId", "spanId", "parentSpanId", "name", "kind", "status", "code", "message",
    "events", "links", "key", "value", "stringValue", "intValue", "doubleValue",
    "boolValue", "arrayValue", "kvlistValue", "bytesValue", "values", "body",
    "severityNumber", "timeUnixNano", "gauge", "sum", "histogram", "summary",
    "exponentialHistogram", "dataPoints", "asInt", "asDouble", "exemplars", "positive",
    "bucketCounts", "quantileValues", "trace_id", "span_id",
]  # fmt: skip
otlp_shaped = st.recursive(
    json_leaves | st.sampled_from(["5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(OTLP_KEYS), children, max_size=5)
    ),
    max_leaves=40,
)


@FUZZ
@given(document=any_json_value | otlp_shaped)
def test_arbitrary_json_only_ever_raises_decode_error(document: Any) -> None:
    body = orjson.dumps(document)
    for decode in DECODERS:
        with contextlib.suppress(DecodeError):
            decode(body, Encoding.JSON, POLICY)


# Random valid spans: encode them as an SDK would (protobuf) and as the spec writes
# OTLP/JSON, decode, and get exactly the same records back.

texts = st.text(max_size=12)
attribute_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=8,
)
attribute_maps = st.dictionaries(texts, attribute_values, max_size=4)
uint64 = st.integers(0, 2**64 - 1)
span_times = st.integers(0, 2**63 - 1)  # beyond that a span is rejected (storable range)


def _hex_id(size: int, *, nonzero: bool) -> st.SearchStrategy[str]:
    ids = st.binary(min_size=size, max_size=size)
    if nonzero:
        ids = ids.filter(any)
    return ids.map(bytes.hex)


events = st.builds(lambda t, n, a: (t, n, a), uint64, texts, attribute_maps)
links = st.builds(
    lambda t, s, ts, a: (t, s, ts, a),
    _hex_id(16, nonzero=False),
    _hex_id(8, nonzero=False),
    texts,
    attribute_maps,
)


@st.composite
def span_records(draw: st.DrawFn) -> SpanRecord:
    from otelctx.model import SpanEvent, SpanLink

    service = draw(st.text(min_size=1, max_size=10))
    resource = {**draw(attribute_maps), "service.name": service}
    return SpanRecord(
        tenant_id="default",
        trace_id=draw(_hex_id(16, nonzero=True)),
        span_id=draw(_hex_id(8, nonzero=True)),
        parent_span_id=draw(st.just("") | _hex_id(8, nonzero=False)),
        service_name=service,
        name=draw(st.text(min_size=1, max_size=20)),
        kind=draw(st.sampled_from(SpanKind)),
        start_time_unix_nano=draw(span_times),
        end_time_unix_nano=draw(span_times),
        status_code=draw(st.sampled_from(StatusCode)),
        status_message=draw(texts),
        trace_state=draw(texts),
        attributes=draw(attribute_maps),
        resource=resource,
        scope=Scope(draw(texts), draw(texts), draw(attribute_maps)),
        events=tuple(SpanEvent(*e) for e in draw(st.lists(events, max_size=2))),
        links=tuple(SpanLink(*link) for link in draw(st.lists(links, max_size=2))),
    )


def _to_protobuf(records: list[SpanRecord]) -> bytes:
    request = ExportTraceServiceRequest()
    for record in records:
        span = Span(
            trace_id=bytes.fromhex(record.trace_id),
            span_id=bytes.fromhex(record.span_id),
            parent_span_id=bytes.fromhex(record.parent_span_id),
            name=record.name,
            kind=record.kind.value,
            start_time_unix_nano=record.start_time_unix_nano,
            end_time_unix_nano=record.end_time_unix_nano,
            status=Status(code=record.status_code.value, message=record.status_message),
            trace_state=record.trace_state,
            attributes=kv_list(record.attributes),
            events=[
                Span.Event(
                    time_unix_nano=e.time_unix_nano, name=e.name, attributes=kv_list(e.attributes)
                )
                for e in record.events
            ],
            links=[
                Span.Link(
                    trace_id=bytes.fromhex(link.trace_id),
                    span_id=bytes.fromhex(link.span_id),
                    trace_state=link.trace_state,
                    attributes=kv_list(link.attributes),
                )
                for link in record.links
            ],
        )
        scope = (record.scope.name, record.scope.version, record.scope.attributes)
        request.resource_spans.extend(
            traces_request([span], resource=record.resource, scope=scope).resource_spans
        )
    return request.SerializeToString()


def _to_json(records: list[SpanRecord]) -> bytes:
    def span_json(record: SpanRecord) -> dict[str, Any]:
        return {
            "traceId": record.trace_id,
            "spanId": record.span_id,
            "parentSpanId": record.parent_span_id,
            "name": record.name,
            "kind": record.kind.value,
            "startTimeUnixNano": str(record.start_time_unix_nano),
            "endTimeUnixNano": str(record.end_time_unix_nano),
            "status": {"code": record.status_code.value, "message": record.status_message},
            "traceState": record.trace_state,
            "attributes": kv_json(record.attributes),
            "events": [
                {
                    "timeUnixNano": str(e.time_unix_nano),
                    "name": e.name,
                    "attributes": kv_json(e.attributes),
                }
                for e in record.events
            ],
            "links": [
                {
                    "traceId": link.trace_id,
                    "spanId": link.span_id,
                    "traceState": link.trace_state,
                    "attributes": kv_json(link.attributes),
                }
                for link in record.links
            ],
        }

    document = {
        "resourceSpans": [
            {
                "resource": {"attributes": kv_json(record.resource)},
                "scopeSpans": [
                    {
                        "scope": {
                            "name": record.scope.name,
                            "version": record.scope.version,
                            "attributes": kv_json(record.scope.attributes),
                        },
                        "spans": [span_json(record)],
                    }
                ],
            }
            for record in records
        ]
    }
    return orjson.dumps(document)


@settings(max_examples=150, deadline=None)
@given(records=st.lists(span_records(), max_size=3))
def test_random_spans_round_trip_through_protobuf_and_json(records: list[SpanRecord]) -> None:
    from_protobuf = decode_traces(_to_protobuf(records), Encoding.PROTOBUF, POLICY)
    from_json = decode_traces(_to_json(records), Encoding.JSON, POLICY)
    assert from_protobuf.records == records
    assert from_json.records == records
    assert typed([r.attributes for r in from_protobuf.records]) == typed(
        [r.attributes for r in records]
    )
    assert typed([r.attributes for r in from_json.records]) == typed(
        [r.attributes for r in records]
    )
    assert from_protobuf.rejected == from_json.rejected == 0


def test_times_beyond_int64_reject_the_item_not_the_request() -> None:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord as PbLog
    from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs, ScopeLogs
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans

    from otelctx.otlp import IngestPolicy

    ok = Span(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, name="ok", start_time_unix_nano=1,
              end_time_unix_nano=2)  # fmt: skip
    far = Span(trace_id=b"\x01" * 16, span_id=b"\x03" * 8, name="far",
               start_time_unix_nano=1, end_time_unix_nano=2**63)  # fmt: skip
    req = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[ok, far])])]
    )
    got = decode_traces(req.SerializeToString(), Encoding.PROTOBUF, IngestPolicy(tenant=None))
    assert [s.name for s in got.records] == ["ok"]
    assert got.invalid == 1 and "2^63" in got.message
    logs = ExportLogsServiceRequest(resource_logs=[ResourceLogs(scope_logs=[ScopeLogs(
        log_records=[PbLog(time_unix_nano=2**64 - 1, severity_number=9)])])])  # fmt: skip
    got_logs = decode_logs(logs.SerializeToString(), Encoding.PROTOBUF, IngestPolicy(tenant=None))
    assert got_logs.records == [] and got_logs.invalid == 1
