"""End to end with the real OpenTelemetry Python SDK exporters.

Test rules: one ``otelctx serve`` subprocess per module (localhost, port 0), shared by
every test here; tests keep apart through unique service names and the SDK's random
trace ids. Every export goes through a real OTLP exporter (gRPC and HTTP, plain and
gzip) except where the SDK cannot produce the data (summary points) or where the wire
format itself is the subject (OTLP/JSON). An export is acknowledged only after commit,
so what ``export()`` reports as SUCCESS is read back at once, through the HTTP API
where one exists and from the SQLite file otherwise.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import (
    OTLPLogExporter as GrpcLogExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import (
    OTLPLogExporter as HttpLogExporter,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.metrics import Observation
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Metric,
    ResourceMetrics,
    ScopeMetrics,
    Summary,
    SummaryDataPoint,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource as PbResource
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult
from opentelemetry.sdk.metrics.view import (
    ExplicitBucketHistogramAggregation,
    ExponentialBucketHistogramAggregation,
    View,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    Link,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    format_span_id,
    format_trace_id,
)
from prometheus_client.parser import text_string_to_metric_families

from tests import backends
from tests.conftest import ServerProcess, start_server

pytestmark = pytest.mark.timeout(30)

# (transport, gzip): every signal is sent every way an SDK user can configure.
WAYS = [("grpc", False), ("grpc", True), ("http", False), ("http", True)]
WAY_IDS = ["grpc", "grpc-gzip", "http", "http-gzip"]

EXPORT_TIMEOUT_S = 10

# OTLP AggregationTemporality.CUMULATIVE (what InMemoryMetricReader produces by default)
CUMULATIVE = 2


# -- fixtures and helpers ---------------------------------------------------------------


@pytest.fixture(scope="module", params=backends.BACKENDS)
def srv(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    backends.require(request.param)
    server = start_server(tmp_path_factory.mktemp("e2e-exporters"), driver=request.param)
    try:
        yield server
    finally:
        server.stop()


def _grpc_compression(gzip: bool) -> grpc.Compression:
    return grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression


def _http_compression(gzip: bool) -> Compression:
    return Compression.Gzip if gzip else Compression.NoCompression


def span_exporter(srv: ServerProcess, transport: str, gzip: bool) -> Any:
    if transport == "grpc":
        return GrpcSpanExporter(
            endpoint=srv.grpc_endpoint,
            insecure=True,
            compression=_grpc_compression(gzip),
            timeout=EXPORT_TIMEOUT_S,
        )
    return HttpSpanExporter(
        endpoint=f"{srv.http_base}/v1/traces",
        compression=_http_compression(gzip),
        timeout=EXPORT_TIMEOUT_S,
    )


def log_exporter(srv: ServerProcess, transport: str, gzip: bool) -> Any:
    if transport == "grpc":
        return GrpcLogExporter(
            endpoint=srv.grpc_endpoint,
            insecure=True,
            compression=_grpc_compression(gzip),
            timeout=EXPORT_TIMEOUT_S,
        )
    return HttpLogExporter(
        endpoint=f"{srv.http_base}/v1/logs",
        compression=_http_compression(gzip),
        timeout=EXPORT_TIMEOUT_S,
    )


def metric_exporter(srv: ServerProcess, transport: str, gzip: bool) -> Any:
    if transport == "grpc":
        return GrpcMetricExporter(
            endpoint=srv.grpc_endpoint,
            insecure=True,
            compression=_grpc_compression(gzip),
            timeout=EXPORT_TIMEOUT_S,
        )
    return HttpMetricExporter(
        endpoint=f"{srv.http_base}/v1/metrics",
        compression=_http_compression(gzip),
        timeout=EXPORT_TIMEOUT_S,
    )


@pytest.fixture
def exporters() -> Iterator[Callable[[Any], Any]]:
    """Register exporters to shut down (closing their channels/sessions) after the test."""
    made: list[Any] = []

    def track(exporter: Any) -> Any:
        made.append(exporter)
        return exporter

    yield track
    for exporter in made:
        exporter.shutdown()


def get_json(srv: ServerProcess, path: str) -> tuple[int, Any]:
    status, body = srv.get(path)
    return status, json.loads(body)


def db_rows(srv: ServerProcess, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return backends.query(srv.driver, srv.db_path, sql, params)


def post(srv: ServerProcess, path: str, body: bytes, content_type: str) -> tuple[int, str, bytes]:
    req = urllib.request.Request(
        srv.http_base + path, data=body, method="POST", headers={"Content-Type": content_type}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read()


def tracer_provider(resource: dict[str, Any]) -> tuple[TracerProvider, InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create(resource))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


def name_of(transport: str, gzip: bool) -> str:
    return f"{transport}{'-gzip' if gzip else ''}"


# -- traces -----------------------------------------------------------------------------

LINKED_TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
LINKED_SPAN_ID = 0xB7AD6B7169203331


def make_checkout_trace(
    frontend: str, backend: str
) -> tuple[list[ReadableSpan], dict[str, ReadableSpan]]:
    """frontend SERVER → frontend CLIENT → backend SERVER (ERROR), as the SDK records them."""
    fe_provider, fe_memory = tracer_provider(
        {"service.name": frontend, "deployment.environment": "e2e", "host.cpu.count": 8}
    )
    be_provider, be_memory = tracer_provider({"service.name": backend, "region": "eu-west-1"})
    fe_tracer = fe_provider.get_tracer("e2e.frontend", "1.2.3")
    be_tracer = be_provider.get_tracer("e2e.backend", "4.5.6")
    linked = SpanContext(
        trace_id=LINKED_TRACE_ID, span_id=LINKED_SPAN_ID, is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED), trace_state=TraceState([("vendor", "v1")]),
    )  # fmt: skip
    root_attributes = {
        "http.route": "/checkout",
        "http.status_code": 500,
        "cart.total": 99.95,
        "user.premium": True,
        "cart.items": ["book", "pen", "lamp"],
    }
    root_links = [Link(linked, {"link.reason": "batch", "link.index": 3})]
    with (
        fe_tracer.start_as_current_span(
            "GET /checkout", kind=SpanKind.SERVER, attributes=root_attributes, links=root_links
        ),
        fe_tracer.start_as_current_span("POST backend/charge", kind=SpanKind.CLIENT),
        be_tracer.start_as_current_span("charge", kind=SpanKind.SERVER) as charge,
    ):
        charge.add_event("retry", {"attempt": 2, "reason": "timeout"})
        charge.set_status(Status(StatusCode.ERROR, "card declined: insufficient funds"))
    spans = [*fe_memory.get_finished_spans(), *be_memory.get_finished_spans()]
    fe_provider.shutdown()
    be_provider.shutdown()
    return spans, {s.name: s for s in spans}


@pytest.mark.parametrize(("transport", "gzip"), WAYS, ids=WAY_IDS)
def test_traces_round_trip(
    srv: ServerProcess, exporters: Callable[[Any], Any], transport: str, gzip: bool
) -> None:
    way = name_of(transport, gzip)
    frontend, backend = f"frontend-{way}", f"payments-{way}"
    spans, by_name = make_checkout_trace(frontend, backend)
    root, charge = by_name["GET /checkout"], by_name["charge"]
    client = by_name["POST backend/charge"]
    trace_id = format_trace_id(root.context.trace_id)
    exporter = exporters(span_exporter(srv, transport, gzip))

    assert exporter.export(spans) == SpanExportResult.SUCCESS

    status, detail = get_json(srv, f"/api/traces/{trace_id}")
    assert status == 200, detail
    assert detail["trace_id"] == trace_id
    assert detail["root_service"] == frontend
    assert detail["root_operation"] == "GET /checkout"
    assert detail["span_count"] == 3
    assert detail["error_count"] == 1
    assert detail["status"] == "STATUS_CODE_ERROR"
    assert sorted(detail["services"]) == sorted([frontend, backend])
    start = min(s.start_time for s in spans)
    end = max(s.end_time for s in spans)
    assert detail["start_time_unix_nano"] == start
    assert detail["duration_ms"] == pytest.approx((end - start) / 1e6)

    got = {s["span_id"]: s for s in detail["spans"]}
    assert set(got) == {format_span_id(s.context.span_id) for s in spans}
    g_root = got[format_span_id(root.context.span_id)]
    g_client = got[format_span_id(client.context.span_id)]
    g_charge = got[format_span_id(charge.context.span_id)]

    # parent/child across the two services
    assert g_root["parent_span_id"] == ""
    assert g_client["parent_span_id"] == g_root["span_id"]
    assert g_charge["parent_span_id"] == g_client["span_id"]
    assert {s["trace_id"] for s in detail["spans"]} == {trace_id}
    assert (g_root["service_name"], g_client["service_name"], g_charge["service_name"]) == (
        frontend, frontend, backend,
    )  # fmt: skip
    assert (g_root["kind"], g_client["kind"], g_charge["kind"]) == (
        "SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_SERVER",
    )  # fmt: skip
    assert g_charge["operation_name"] == "charge"

    # times exactly as the SDK recorded them
    assert g_charge["start_time_unix_nano"] == charge.start_time
    assert g_charge["end_time_unix_nano"] == charge.end_time
    assert g_charge["duration_ms"] == pytest.approx((charge.end_time - charge.start_time) / 1e6)

    # attributes of every type keep their type
    assert g_root["attributes"] == {
        "http.route": "/checkout",
        "http.status_code": 500,
        "cart.total": 99.95,
        "user.premium": True,
        "cart.items": ["book", "pen", "lamp"],
    }
    assert isinstance(g_root["attributes"]["http.status_code"], int)
    assert g_root["attributes"]["user.premium"] is True

    # resource and scope, per service
    assert g_root["resource"]["service.name"] == frontend
    assert g_root["resource"]["deployment.environment"] == "e2e"
    assert g_root["resource"]["host.cpu.count"] == 8
    assert g_root["resource"]["telemetry.sdk.language"] == "python"
    assert g_charge["resource"]["service.name"] == backend
    assert g_charge["resource"]["region"] == "eu-west-1"
    assert g_root["scope"]["name"] == "e2e.frontend"
    assert g_root["scope"]["version"] == "1.2.3"
    assert (g_charge["scope"]["name"], g_charge["scope"]["version"]) == ("e2e.backend", "4.5.6")

    # error status, exactly
    assert g_charge["status_code"] == "STATUS_CODE_ERROR"
    assert g_charge["status_message"] == "card declined: insufficient funds"
    assert g_root["status_code"] == "STATUS_CODE_UNSET"

    # event
    [event] = g_charge["events"]
    assert event["name"] == "retry"
    assert event["attributes"] == {"attempt": 2, "reason": "timeout"}
    assert event["timestamp_unix_nano"] == charge.events[0].timestamp

    # link
    [link] = g_root["links"]
    assert link["trace_id"] == format_trace_id(LINKED_TRACE_ID)
    assert link["span_id"] == format_span_id(LINKED_SPAN_ID)
    # (the Python SDK does not send a link's trace_state; the OTLP/JSON test covers it)
    assert link["attributes"] == {"link.reason": "batch", "link.index": 3}
    assert g_charge["links"] == []


@pytest.mark.parametrize(("transport", "gzip"), WAYS, ids=WAY_IDS)
def test_exporting_the_same_spans_twice_stores_them_once(
    srv: ServerProcess, exporters: Callable[[Any], Any], transport: str, gzip: bool
) -> None:
    way = name_of(transport, gzip)
    spans, by_name = make_checkout_trace(f"retry-fe-{way}", f"retry-be-{way}")
    trace_id = format_trace_id(by_name["GET /checkout"].context.trace_id)
    exporter = exporters(span_exporter(srv, transport, gzip))

    assert exporter.export(spans) == SpanExportResult.SUCCESS
    _, first = get_json(srv, f"/api/traces/{trace_id}")
    assert exporter.export(spans) == SpanExportResult.SUCCESS  # a client retry
    assert exporter.export(spans[:1]) == SpanExportResult.SUCCESS  # a partial retry
    status, again = get_json(srv, f"/api/traces/{trace_id}")

    assert status == 200
    assert first["span_count"] == 3
    assert again["span_count"] == 3
    assert again["error_count"] == 1
    assert len(again["spans"]) == 3
    assert again["root_service"] == f"retry-fe-{way}"
    [row] = db_rows(srv, "SELECT count(*) AS n FROM spans WHERE trace_id = ?", (trace_id,))
    stored = row["n"]
    assert stored == 3


def test_unknown_trace_is_404(srv: ServerProcess) -> None:
    status, body = get_json(srv, "/api/traces/" + "ab" * 16)
    assert status == 404
    assert body == {"error": "trace not found"}


# -- logs -------------------------------------------------------------------------------


@pytest.mark.parametrize(("transport", "gzip"), WAYS, ids=WAY_IDS)
def test_logs_round_trip(
    srv: ServerProcess, exporters: Callable[[Any], Any], transport: str, gzip: bool
) -> None:
    service = f"logs-{name_of(transport, gzip)}"
    resource = {"service.name": service, "k8s.pod.name": "pod-7", "replica": 2}
    tracer_prov, span_memory = tracer_provider(resource)
    log_memory = InMemoryLogRecordExporter()
    logger_prov = LoggerProvider(resource=Resource.create(resource))
    logger_prov.add_log_record_processor(SimpleLogRecordProcessor(log_memory))
    logger = logger_prov.get_logger("e2e.logs", "0.9.1")

    ts_error = 1_700_000_000_123_456_789
    observed_error = 1_700_000_000_223_456_789
    ts_json = 1_700_000_001_000_000_001
    structured = {"order": {"id": 42, "lines": ["a", "b"]}, "paid": False, "total": 12.5}
    with tracer_prov.get_tracer("e2e.logs").start_as_current_span("checkout") as span:
        ctx = span.get_span_context()
        logger.emit(
            timestamp=ts_error,
            observed_timestamp=observed_error,
            severity_number=SeverityNumber.ERROR,
            severity_text="ERROR",
            body="payment failed for order 42",
            attributes={"order.id": 42, "amount": 12.5, "retry": True, "tags": ["pay", "eu"],
                        "user": "ann"},
        )  # fmt: skip
    logger.emit(
        timestamp=ts_json,
        severity_number=SeverityNumber.WARN,
        severity_text="WARN",
        body=structured,
        attributes={"kind": "structured"},
    )
    trace_id, span_id = format_trace_id(ctx.trace_id), format_span_id(ctx.span_id)
    log_records = log_memory.get_finished_logs()
    assert len(log_records) == 2

    span_exp = exporters(span_exporter(srv, transport, gzip))
    log_exp = exporters(log_exporter(srv, transport, gzip))
    assert span_exp.export(span_memory.get_finished_spans()) == SpanExportResult.SUCCESS
    assert log_exp.export(log_records) == LogRecordExportResult.SUCCESS
    tracer_prov.shutdown()
    logger_prov.shutdown()

    rows = db_rows(srv, "SELECT * FROM logs WHERE service_name = ? ORDER BY timestamp", (service,))
    assert len(rows) == 2
    error, structured_row = rows

    assert error["severity_number"] == 17
    assert error["severity_text"] == "ERROR"
    assert error["body"] == "payment failed for order 42"
    assert error["body_is_json"] == 0
    assert json.loads(error["attributes"]) == {
        "order.id": 42, "amount": 12.5, "retry": True, "tags": ["pay", "eu"], "user": "ann",
    }  # fmt: skip
    stored_resource = json.loads(error["resource"])
    assert stored_resource["service.name"] == service
    assert stored_resource["k8s.pod.name"] == "pod-7"
    assert stored_resource["replica"] == 2
    assert json.loads(error["scope"])["name"] == "e2e.logs"
    assert json.loads(error["scope"])["version"] == "0.9.1"
    assert error["trace_id"] == trace_id
    assert error["span_id"] == span_id
    # W3C trace flags of the span (the SDK sets sampled and random: 0x03)
    assert error["flags"] == int(ctx.trace_flags) != 0
    assert error["timestamp"] == ts_error
    assert error["observed_timestamp"] == observed_error

    assert structured_row["severity_number"] == 13
    assert structured_row["severity_text"] == "WARN"
    assert structured_row["body_is_json"] == 1
    assert json.loads(structured_row["body"]) == structured
    assert structured_row["trace_id"] == ""
    assert structured_row["span_id"] == ""
    assert structured_row["timestamp"] == ts_json
    # the SDK stamps the observed time itself when none is given: it is kept, not invented
    assert structured_row["observed_timestamp"] == log_records[1].log_record.observed_timestamp

    # the log inside the span is part of the trace
    status, detail = get_json(srv, f"/api/traces/{trace_id}")
    assert status == 200, detail
    [log] = detail["logs"]
    assert log["body"] == "payment failed for order 42"
    assert log["severity_text"] == "ERROR"
    assert log["severity_number"] == 17
    assert log["service_name"] == service
    assert (log["trace_id"], log["span_id"]) == (trace_id, span_id)
    assert log["timestamp_unix_nano"] == ts_error
    assert log["timestamp"] == "2023-11-14T22:13:20.123456789Z"
    assert log["attributes"]["tags"] == ["pay", "eu"]
    assert log["resource"]["k8s.pod.name"] == "pod-7"


# -- metrics ----------------------------------------------------------------------------


def make_metrics(service: str) -> Any:
    reader = InMemoryMetricReader()
    provider = MeterProvider(
        resource=Resource.create({"service.name": service, "team": "core"}),
        metric_readers=[reader],
        views=[
            View(instrument_name="e2e.latency",
                 aggregation=ExplicitBucketHistogramAggregation(boundaries=[10, 100, 1000])),
            View(instrument_name="e2e.latency.exp",
                 aggregation=ExponentialBucketHistogramAggregation()),
        ],
    )  # fmt: skip
    meter = provider.get_meter("e2e.meter", "2.0.0")
    requests = meter.create_counter("e2e.requests", unit="{request}", description="served")
    requests.add(3, {"route": "/a"})
    requests.add(4, {"route": "/a"})
    requests.add(5, {"route": "/b"})
    depth = meter.create_up_down_counter("e2e.queue.depth", unit="{item}")
    depth.add(10, {"queue": "orders"})
    depth.add(-3, {"queue": "orders"})
    meter.create_gauge("e2e.temperature", unit="Cel").set(21.5, {"room": "lab"})
    meter.create_observable_gauge(
        "e2e.pool.size", callbacks=[lambda _options: [Observation(7, {"pool": "db"})]]
    )
    latency = meter.create_histogram("e2e.latency", unit="ms")
    for value in (5, 50, 500, 5000):
        latency.record(value, {"route": "/a"})
    exp = meter.create_histogram("e2e.latency.exp", unit="ms")
    for value in (1, 2, 4, 8):
        exp.record(value, {"route": "/b"})
    data = reader.get_metrics_data()
    provider.shutdown()
    return data


def points(srv: ServerProcess, service: str, name: str) -> list[dict[str, Any]]:
    return db_rows(
        srv,
        "SELECT * FROM metric_points WHERE service_name = ? AND name = ? ORDER BY attributes",
        (service, name),
    )


@pytest.mark.parametrize(("transport", "gzip"), WAYS, ids=WAY_IDS)
def test_metrics_round_trip(
    srv: ServerProcess, exporters: Callable[[Any], Any], transport: str, gzip: bool
) -> None:
    service = f"metrics-{name_of(transport, gzip)}"
    data = make_metrics(service)
    exporter = exporters(metric_exporter(srv, transport, gzip))

    assert exporter.export(data) == MetricExportResult.SUCCESS

    # counter: a monotonic cumulative sum per attribute set
    a, b = points(srv, service, "e2e.requests")
    assert (json.loads(a["attributes"]), a["value"]) == ({"route": "/a"}, 7)
    assert (json.loads(b["attributes"]), b["value"]) == ({"route": "/b"}, 5)
    assert a["metric_type"] == "sum"
    assert a["is_monotonic"] == 1
    assert a["temporality"] == CUMULATIVE
    assert a["unit"] == "{request}"
    assert a["description"] == "served"
    assert a["time"] > 0 and 0 < a["start_time"] <= a["time"]
    resource = json.loads(a["resource"])
    assert (resource["service.name"], resource["team"]) == (service, "core")
    assert json.loads(a["scope"])["name"] == "e2e.meter"
    assert json.loads(a["scope"])["version"] == "2.0.0"

    # up-down counter: a non-monotonic sum
    [depth] = points(srv, service, "e2e.queue.depth")
    assert depth["metric_type"] == "sum"
    assert depth["is_monotonic"] == 0
    assert depth["value"] == 7
    assert json.loads(depth["attributes"]) == {"queue": "orders"}

    # gauges, synchronous and observable
    [temperature] = points(srv, service, "e2e.temperature")
    assert temperature["metric_type"] == "gauge"
    assert temperature["value"] == 21.5
    assert temperature["unit"] == "Cel"
    assert json.loads(temperature["attributes"]) == {"room": "lab"}
    [pool] = points(srv, service, "e2e.pool.size")
    assert (pool["metric_type"], pool["value"]) == ("gauge", 7)
    assert json.loads(pool["attributes"]) == {"pool": "db"}

    # explicit-bucket histogram
    [hist] = points(srv, service, "e2e.latency")
    assert hist["metric_type"] == "histogram"
    assert (hist["count"], hist["sum"], hist["min"], hist["max"]) == (4, 5555, 5, 5000)
    assert json.loads(hist["data"]) == {
        "bucket_counts": [1, 1, 1, 1], "explicit_bounds": [10.0, 100.0, 1000.0],
    }  # fmt: skip
    assert json.loads(hist["attributes"]) == {"route": "/a"}
    assert hist["temporality"] == CUMULATIVE

    # exponential histogram
    [ehist] = points(srv, service, "e2e.latency.exp")
    assert ehist["metric_type"] == "exponential_histogram"
    assert (ehist["count"], ehist["sum"], ehist["min"], ehist["max"]) == (4, 15, 1, 8)
    edata = json.loads(ehist["data"])
    [sdk_point] = [
        m.data.data_points[0]
        for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
        if m.name == "e2e.latency.exp"
    ]  # fmt: skip
    assert edata["scale"] == sdk_point.scale
    assert edata["zero_count"] == 0
    assert edata["positive"]["offset"] == sdk_point.positive.offset
    assert edata["positive"]["bucket_counts"] == list(sdk_point.positive.bucket_counts)
    assert sum(edata["positive"]["bucket_counts"]) == 4
    assert json.loads(ehist["attributes"]) == {"route": "/b"}

    all_rows = db_rows(srv, "SELECT count(*) AS n FROM metric_points WHERE service_name = ?",
                       (service,))  # fmt: skip
    assert all_rows[0]["n"] == 7


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def test_summary_points_are_stored(srv: ServerProcess) -> None:
    service = "summary-protobuf"
    request = ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(
                resource=PbResource(attributes=[_kv("service.name", service)]),
                scope_metrics=[
                    ScopeMetrics(
                        metrics=[
                            Metric(
                                name="e2e.rpc.latency",
                                unit="s",
                                summary=Summary(
                                    data_points=[
                                        SummaryDataPoint(
                                            start_time_unix_nano=1_700_000_000_000_000_000,
                                            time_unix_nano=1_700_000_060_000_000_000,
                                            count=120,
                                            sum=33.5,
                                            quantile_values=[
                                                SummaryDataPoint.ValueAtQuantile(
                                                    quantile=0.5, value=0.2
                                                ),
                                                SummaryDataPoint.ValueAtQuantile(
                                                    quantile=0.99, value=1.75
                                                ),
                                            ],
                                            attributes=[_kv("rpc.method", "Charge")],
                                        )
                                    ]
                                ),
                            )
                        ]
                    )
                ],
            )
        ]
    )

    status, content_type, body = post(
        srv, "/v1/metrics", request.SerializeToString(), "application/x-protobuf"
    )

    assert status == 200, body
    assert content_type.startswith("application/x-protobuf")
    response = ExportMetricsServiceResponse.FromString(body)
    assert not response.HasField("partial_success")
    [row] = points(srv, service, "e2e.rpc.latency")
    assert row["metric_type"] == "summary"
    assert (row["count"], row["sum"]) == (120, 33.5)
    assert row["time"] == 1_700_000_060_000_000_000
    assert row["start_time"] == 1_700_000_000_000_000_000
    assert json.loads(row["data"])["quantiles"] == [
        {"quantile": 0.5, "value": 0.2}, {"quantile": 0.99, "value": 1.75},
    ]  # fmt: skip
    assert json.loads(row["attributes"]) == {"rpc.method": "Charge"}


# -- OTLP/JSON --------------------------------------------------------------------------

JSON_TRACE_ID = "5b8efff798038103d269b633813fc60c"
JSON_SPAN_ID = "eee19b7ec3c1b174"
JSON_PARENT_ID = "eee19b7ec3c1b173"
JSON_LINK_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
JSON_LINK_SPAN_ID = "00f067aa0ba902b7"


def test_otlp_json_hex_ids(srv: ServerProcess) -> None:
    # The example of the OTLP specification (examples/trace.json), lightly trimmed.
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "json-service"}}
                    ]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "my.library", "version": "1.0.0"},
                        "spans": [
                            {
                                "traceId": JSON_TRACE_ID,
                                "spanId": JSON_SPAN_ID,
                                "parentSpanId": JSON_PARENT_ID,
                                "name": "I'm a server span",
                                "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": "1544712661000000000",
                                "kind": 2,
                                "attributes": [
                                    {"key": "my.span.attr", "value": {"stringValue": "some value"}},
                                    {"key": "my.count", "value": {"intValue": "42"}},
                                ],
                                "status": {"code": 2, "message": "boom"},
                                "traceState": "vendor=v1",
                                "links": [
                                    {
                                        "traceId": JSON_LINK_TRACE_ID,
                                        "spanId": JSON_LINK_SPAN_ID,
                                        "traceState": "congo=t61rcWkgMzE",
                                        "attributes": [
                                            {
                                                "key": "link.kind",
                                                "value": {"stringValue": "follows"},
                                            }
                                        ],
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

    status, content_type, raw = post(
        srv, "/v1/traces", json.dumps(body).encode(), "application/json; charset=utf-8"
    )

    assert status == 200, raw
    assert content_type.startswith("application/json")
    response = json.loads(raw)
    assert "partialSuccess" not in response, response
    status, detail = get_json(srv, f"/api/traces/{JSON_TRACE_ID}")
    assert status == 200, detail
    [span] = detail["spans"]
    assert span["trace_id"] == JSON_TRACE_ID
    assert span["span_id"] == JSON_SPAN_ID
    assert span["parent_span_id"] == JSON_PARENT_ID
    assert span["kind"] == "SPAN_KIND_SERVER"
    assert span["service_name"] == "json-service"
    assert span["start_time_unix_nano"] == 1544712660000000000
    assert span["duration_ms"] == 1000
    assert span["attributes"] == {"my.span.attr": "some value", "my.count": 42}
    assert (span["status_code"], span["status_message"]) == ("STATUS_CODE_ERROR", "boom")
    assert span["scope"]["name"] == "my.library"
    assert span["trace_state"] == "vendor=v1"
    assert span["links"] == [
        {"trace_id": JSON_LINK_TRACE_ID, "span_id": JSON_LINK_SPAN_ID,
         "trace_state": "congo=t61rcWkgMzE", "attributes": {"link.kind": "follows"}},
    ]  # fmt: skip
    assert detail["root_operation"] == "I'm a server span"


# -- self-metrics -----------------------------------------------------------------------


def accepted(srv: ServerProcess) -> dict[tuple[str, str], float]:
    status, body = srv.get("/metrics/prometheus")
    assert status == 200
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == "otelcontext_ingest_accepted_items_total":
                out[(sample.labels["signal"], sample.labels["transport"])] = sample.value
    return out


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_prometheus_counts_accepted_items(
    srv: ServerProcess, exporters: Callable[[Any], Any], transport: str
) -> None:
    service = f"prom-{transport}"
    spans, _ = make_checkout_trace(service, f"{service}-backend")
    provider = LoggerProvider(resource=Resource.create({"service.name": service}))
    memory = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    provider.get_logger("e2e.prom").emit(body="one", severity_number=SeverityNumber.INFO)
    provider.get_logger("e2e.prom").emit(body="two", severity_number=SeverityNumber.INFO)
    metrics = make_metrics(service)
    other = "http" if transport == "grpc" else "grpc"
    before = accepted(srv)

    assert exporters(span_exporter(srv, transport, False)).export(spans) == (
        SpanExportResult.SUCCESS
    )
    assert exporters(log_exporter(srv, transport, False)).export(memory.get_finished_logs()) == (
        LogRecordExportResult.SUCCESS
    )
    assert exporters(metric_exporter(srv, transport, False)).export(metrics) == (
        MetricExportResult.SUCCESS
    )
    after = accepted(srv)

    def moved(signal: str, way: str) -> float:
        return after.get((signal, way), 0.0) - before.get((signal, way), 0.0)

    assert moved("traces", transport) == 3
    assert moved("logs", transport) == 2
    assert moved("metrics", transport) == 7
    assert (moved("traces", other), moved("logs", other), moved("metrics", other)) == (0, 0, 0)
