"""The simulator's requests, read back by otelctx's own decoder (what the server sees)."""

from __future__ import annotations

from collections import Counter

from loadtest.build import RequestBuilder
from loadtest.shape import ERROR_MESSAGE, TraceShaper
from loadtest.transport.base import (
    Acked,
    Signal,
    parse_export_response,
    parse_rpc_status,
    retry_delay_of,
)
from otelctx.model import MetricType, SpanKind, StatusCode
from otelctx.model import Signal as ServerSignal
from otelctx.otlp import (
    Encoding,
    IngestPolicy,
    decode_logs,
    decode_metrics,
    decode_traces,
    export_response,
    retry_info,
    status_body,
)

RUN = b"runid!"
NOW = 1_700_000_000_000_000_000
POLICY = IngestPolicy(tenant="acme")


def _spans(index: int = 4, services: int = 10, n: int = 400) -> list:  # type: ignore[type-arg]
    return TraceShaper(index, services, RUN, seed=1).batch(n, NOW, 1_000_000_000)


def test_trace_requests_decode_into_the_planned_spans() -> None:
    planned = _spans()
    req = RequestBuilder().traces(planned)
    decoded = decode_traces(req.body, Encoding.PROTOBUF, POLICY)
    assert decoded.rejected == 0
    assert req.items == len(planned) == len(decoded.records)
    by_id = {(r.trace_id, r.span_id): r for r in decoded.records}
    for p in planned:
        r = by_id[(p.trace_id.hex(), p.span_id.hex())]
        assert r.tenant_id == "acme"
        assert r.service_name == f"loadsim-svc-{p.service:03d}"
        assert r.parent_span_id == p.parent_span_id.hex()
        assert (r.start_time_unix_nano, r.end_time_unix_nano) == (p.start_ns, p.end_ns)
        assert r.kind == SpanKind(int(p.kind))
        assert r.attributes["loadsim.seq"] == p.seq
        assert r.attributes["http.route"].startswith("/")
        if p.error:
            assert r.status_code is StatusCode.ERROR
            assert r.status_message == ERROR_MESSAGE
            assert r.attributes["http.response.status_code"] == 500
            assert [e.name for e in r.events] == ["exception"]
            assert r.events[0].attributes["exception.message"] == "fake failure"
            assert r.events[0].time_unix_nano == p.end_ns
        else:
            assert r.status_code is StatusCode.UNSET
            assert r.events == ()


def test_spans_are_counted_under_the_service_they_belong_to() -> None:
    planned = _spans(index=9, services=10)
    req = RequestBuilder().traces(planned)
    expected = Counter(f"loadsim-svc-{p.service:03d}" for p in planned)
    assert dict(req.by_service) == dict(expected)
    assert set(expected) == {"loadsim-svc-009", "loadsim-svc-000"}  # the wrap-around edge
    decoded = decode_traces(req.body, Encoding.PROTOBUF, POLICY)
    assert Counter(r.service_name for r in decoded.records) == expected


def test_log_requests_carry_n_records_per_span_correlated_to_it() -> None:
    planned = _spans(n=60)
    req = RequestBuilder().logs(planned, 3)
    decoded = decode_logs(req.body, Encoding.PROTOBUF, POLICY)
    assert req.items == len(decoded.records) == 3 * len(planned)
    assert sum(n for _, n in req.by_service) == req.items
    errors = {(p.trace_id.hex(), p.span_id.hex()) for p in planned if p.error}
    for rec in decoded.records:
        is_error = (rec.trace_id, rec.span_id) in errors
        assert rec.severity_text == ("ERROR" if is_error else "INFO")


def test_metric_requests_are_cumulative_sums_per_operation() -> None:
    req = RequestBuilder().metrics(2, NOW - 10**9, NOW, [5, 4, 4, 4, 3], 1)
    decoded = decode_metrics(req.body, Encoding.PROTOBUF, POLICY)
    assert req.items == len(decoded.records) == 6
    points = {(p.name, p.attributes.get("operation")): p for p in decoded.records}
    assert points[("loadsim.spans", "GET /api/items")].value == 5
    assert points[("loadsim.errors", None)].value == 1
    assert {p.metric_type for p in decoded.records} == {MetricType.SUM}
    assert {p.service_name for p in decoded.records} == {"loadsim-svc-002"}


def test_responses_of_the_server_are_read_back() -> None:
    ok = export_response(ServerSignal.TRACES, 0, "", Encoding.PROTOBUF)
    assert parse_export_response(Signal.TRACES, ok) == Acked(0, "")
    assert parse_export_response(Signal.TRACES, b"") == Acked(0, "")
    partial = export_response(ServerSignal.LOGS, 3, "3 too old", Encoding.PROTOBUF)
    assert parse_export_response(Signal.LOGS, partial) == Acked(3, "3 too old")
    partial = export_response(ServerSignal.METRICS, 2, "x", Encoding.PROTOBUF)
    assert parse_export_response(Signal.METRICS, partial).rejected == 2
    refused = status_body(14, "queue full", Encoding.PROTOBUF, retry_after_s=1.5)
    assert parse_rpc_status(refused) == ("queue full", 1.5)
    assert parse_rpc_status(status_body(3, "bad", Encoding.PROTOBUF)) == ("bad", None)
    assert parse_rpc_status(b"\xff\xff") == ("", None)
    assert retry_delay_of([retry_info(0.25)]) == 0.25
    assert retry_delay_of(None) is None


def test_grpc_and_http_paths_name_the_otlp_services() -> None:
    assert Signal.TRACES.grpc_path == (
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
    )
    assert Signal.LOGS.grpc_path.endswith("logs.v1.LogsService/Export")
    assert Signal.METRICS.http_path == "/v1/metrics"
