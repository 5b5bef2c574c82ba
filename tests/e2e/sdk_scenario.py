"""Telemetry with known numbers, sent through the real OpenTelemetry SDK exporters, and
a small client for the query API. Shared by the query API end-to-end tests.

The checkout scenario (one tenant): ``frontend`` → ``orders`` → ``payments``, the
child spans made in another service's TracerProvider from a context propagated with
W3C trace context headers, as between two processes. Trace ``i`` (0..11) starts at
``base + i * 10 s`` and lasts ``(i + 1) * 100 ms``; ``payments`` fails in traces 3, 7
and 11. Three more traces are ``orders``-only ``cron`` jobs of 10, 20 and 30 ms. Every
trace has an INFO log of ``orders`` with its ids; failing ones an ERROR log of
``payments``; one WARN log has no trace. ``orders`` reports a gauge three times,
``frontend`` a histogram of 1..100.

Export is acknowledged only after commit, so what an exporter reports as SUCCESS can
be queried at once.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricExportResult
from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode, format_trace_id
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from tests.conftest import ServerProcess

MS = 1_000_000
SECOND = 1_000_000_000
EXPORT_TIMEOUT_S = 30
CHUNK = 1000  # spans per export request


# -- the API client ----------------------------------------------------------------------


def call(
    srv: ServerProcess,
    path: str,
    params: Sequence[tuple[str, str]] | dict[str, Any] | None = None,
    *,
    tenant: str | None = "acme",
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    """(status, headers with lower-case names, decoded JSON body or the raw text)."""
    query = urllib.parse.urlencode(params or [], doseq=True)
    url = srv.http_base + path + (f"?{query}" if query else "")
    sent = dict(headers or {})
    if tenant is not None:
        sent["X-Tenant-ID"] = tenant
    req = urllib.request.Request(url, headers=sent, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, got, raw = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        status, got, raw = err.code, err.headers, err.read()
    names = {k.lower(): v for k, v in got.items()}
    try:
        return status, names, json.loads(raw)
    except ValueError:
        return status, names, raw.decode("utf-8", "replace")


def ok(srv: ServerProcess, path: str, params: Any = None, **kw: Any) -> Any:
    status, _, body = call(srv, path, params, **kw)
    assert status == 200, (path, params, status, body)
    return body


def refused(srv: ServerProcess, path: str, params: Any = None, **kw: Any) -> str:
    """The error message of a 400."""
    status, headers, body = call(srv, path, params, **kw)
    assert status == 400, (path, params, status, body)
    assert headers.get("content-type", "").startswith("application/json")
    assert set(body) == {"error"}, body
    return str(body["error"])


# -- exporting -------------------------------------------------------------------------


def export_spans(srv: ServerProcess, tenant: str, spans: Sequence[ReadableSpan]) -> None:
    exporter = OTLPSpanExporter(
        endpoint=srv.grpc_endpoint,
        insecure=True,
        headers=(("x-tenant-id", tenant),),
        timeout=EXPORT_TIMEOUT_S,
    )
    try:
        for i in range(0, len(spans), CHUNK):
            assert exporter.export(spans[i : i + CHUNK]) == SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()


def tracer(service: str) -> tuple[TracerProvider, InMemorySpanExporter, trace.Tracer]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory, provider.get_tracer("e2e.query", "1.0.0")


def export_root_traces(
    srv: ServerProcess, tenant: str, service: str, start_ns: int, durations_ns: Sequence[int],
    *, operation: str = "job", error_every: int = 0,
) -> list[str]:  # fmt: skip
    """One single-span trace per duration, 1 ms apart from ``start_ns``; trace ids."""
    provider, memory, t = tracer(service)
    for i, duration in enumerate(durations_ns):
        start = start_ns + i * MS
        span = t.start_span(operation, kind=SpanKind.INTERNAL, start_time=start)
        if error_every and i % error_every == error_every - 1:
            span.set_status(Status(StatusCode.ERROR, "failed"))
        span.end(end_time=start + duration)
    spans = list(memory.get_finished_spans())
    provider.shutdown()
    export_spans(srv, tenant, spans)
    return [format_trace_id(s.context.trace_id) for s in spans]


@dataclass
class CheckoutTrace:
    trace_id: str
    start_ns: int
    duration_ns: int
    root_service: str
    failed: bool
    services: list[str]


@dataclass
class Scenario:
    tenant: str
    base_ns: int
    traces: list[CheckoutTrace] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)  # what was emitted
    gauge_values: tuple[float, ...] = (5.0, 9.0, 7.0)
    histogram_values: tuple[int, ...] = tuple(range(1, 101))

    def ids(self, **match: Any) -> set[str]:
        return {t.trace_id for t in self.traces
                if all(getattr(t, k) == v for k, v in match.items())}  # fmt: skip


def _child_context(span: trace.Span) -> Any:
    """The context another process would extract from the HTTP headers of a call."""
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier, context=trace.set_span_in_context(span))
    return TraceContextTextMapPropagator().extract(carrier)


def export_checkout(srv: ServerProcess, tenant: str, base_ns: int) -> Scenario:
    sc = Scenario(tenant, base_ns)
    fe_p, fe_mem, fe = tracer("frontend")
    or_p, or_mem, orders = tracer("orders")
    pa_p, pa_mem, payments = tracer("payments")
    log_memory = InMemoryLogRecordExporter()
    loggers = {}
    for service in ("orders", "payments"):
        lp = LoggerProvider(resource=Resource.create({"service.name": service}))
        lp.add_log_record_processor(SimpleLogRecordProcessor(log_memory))
        loggers[service] = (lp, lp.get_logger("e2e.query"))

    def log(service: str, ts: int, severity: SeverityNumber, body: str, span: Any) -> None:
        ctx = trace.set_span_in_context(span) if span is not None else None
        loggers[service][1].emit(timestamp=ts, severity_number=severity,
                                 severity_text=severity.name, body=body, context=ctx)  # fmt: skip
        sc.logs.append({"service": service, "ts": ts, "severity": severity.value, "body": body,
                        "trace_id": format_trace_id(span.get_span_context().trace_id)
                        if span is not None else ""})  # fmt: skip

    for i in range(12):
        start, duration, failed = base_ns + i * 10 * SECOND, (i + 1) * 100 * MS, i % 4 == 3
        root = fe.start_span("GET /checkout", kind=SpanKind.SERVER, start_time=start,
                             attributes={"http.route": "/checkout", "retry": i % 2 == 0,
                                         "http.status_code": 500 if failed else 200})  # fmt: skip
        child = orders.start_span("POST /orders", context=_child_context(root),
                                  kind=SpanKind.SERVER, start_time=start + 5 * MS)  # fmt: skip
        charge = payments.start_span("charge", context=_child_context(child),
                                     kind=SpanKind.SERVER, start_time=start + 10 * MS)  # fmt: skip
        if failed:
            charge.set_status(Status(StatusCode.ERROR, "card declined"))
            log("payments", start + 20 * MS, SeverityNumber.ERROR,
                f"Card DECLINED for order {i}", charge)  # fmt: skip
        charge.end(end_time=start + 60 * MS)
        log("orders", start + 6 * MS, SeverityNumber.INFO, f"order {i} placed", child)
        child.end(end_time=start + duration - 5 * MS)
        root.end(end_time=start + duration)
        sc.traces.append(CheckoutTrace(
            format_trace_id(root.get_span_context().trace_id), start, duration, "frontend",
            failed, ["frontend", "orders", "payments"],
        ))  # fmt: skip
    for i in range(3):
        start, duration = base_ns + 125 * SECOND + i * SECOND, (i + 1) * 10 * MS
        cron = orders.start_span("cron", kind=SpanKind.INTERNAL, start_time=start)
        log("orders", start + MS, SeverityNumber.INFO, f"cron run {i}", cron)
        cron.end(end_time=start + duration)
        sc.traces.append(CheckoutTrace(format_trace_id(cron.get_span_context().trace_id),
                                       start, duration, "orders", False, ["orders"]))  # fmt: skip
    log("orders", base_ns + 130 * SECOND, SeverityNumber.WARN, "Slow query on orders_db", None)

    spans = [*fe_mem.get_finished_spans(), *or_mem.get_finished_spans(),
             *pa_mem.get_finished_spans()]  # fmt: skip
    for p in (fe_p, or_p, pa_p):
        p.shutdown()
    # children first: the service map must not depend on arrival order
    export_spans(srv, tenant, spans[::-1])
    _export_logs(srv, tenant, log_memory.get_finished_logs())
    for lp, _ in loggers.values():
        lp.shutdown()
    _export_metrics(srv, tenant, sc)
    return sc


def _export_logs(srv: ServerProcess, tenant: str, records: Any) -> None:
    exporter = OTLPLogExporter(
        endpoint=f"{srv.http_base}/v1/logs",
        headers={"X-Tenant-ID": tenant},
        timeout=EXPORT_TIMEOUT_S,
    )
    try:
        assert exporter.export(records) == LogRecordExportResult.SUCCESS
    finally:
        exporter.shutdown()


def _export_metrics(srv: ServerProcess, tenant: str, sc: Scenario) -> None:
    exporter = OTLPMetricExporter(
        endpoint=f"{srv.http_base}/v1/metrics",
        headers={"X-Tenant-ID": tenant},
        timeout=EXPORT_TIMEOUT_S,
    )
    try:
        reader = InMemoryMetricReader()
        provider = MeterProvider(
            metric_readers=[reader],
            resource=Resource.create({"service.name": "orders"}),
        )
        gauge = provider.get_meter("e2e.query").create_gauge("queue.depth")
        for value in sc.gauge_values:  # three collections: three points
            gauge.set(value, {"queue": "orders"})
            assert exporter.export(reader.get_metrics_data()) == MetricExportResult.SUCCESS
        provider.shutdown()

        reader = InMemoryMetricReader()
        bounds = [0, 5, 10, 25, 50, 75, 100, 250]
        provider = MeterProvider(
            metric_readers=[reader],
            resource=Resource.create({"service.name": "frontend"}),
            views=[View(instrument_name="http.server.duration",
                        aggregation=ExplicitBucketHistogramAggregation(boundaries=bounds))],
        )  # fmt: skip
        histogram = provider.get_meter("e2e.query").create_histogram("http.server.duration")
        for value in sc.histogram_values:
            histogram.record(value, {"route": "/checkout"})
        assert exporter.export(reader.get_metrics_data()) == MetricExportResult.SUCCESS
        provider.shutdown()
    finally:
        exporter.shutdown()
