"""The service graph end to end: a synthetic 3-tier system exported with the real
OpenTelemetry SDK into a real server, read back through the graph API.

frontend -> orders -> payments, three TracerProviders (one per service, as three
processes would have) joined by W3C trace-context propagation through a carrier dict,
as over HTTP. Every other checkout fails in payments ("card declined"), which makes its
callers fail too; payments logs an ERROR for each failure. ``SimpleSpanProcessor``
exports each span when it ends, so children reach the server before their parents.

Test rules: one ``otelctx serve`` subprocess per backend (localhost, port 0) shared by
the module, loop intervals shortened through their environment variables; each test
uses its own tenant, so tests do not see each other. The graph is built asynchronously
after the commit, so reads poll (``eventually``) up to a generous deadline — a wait for
correctness, never an assertion about speed.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http._log_exporter import (
    OTLPLogExporter as HttpLogExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode, format_trace_id, use_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from tests import backends
from tests.conftest import ServerProcess, start_server

pytestmark = pytest.mark.timeout(120)

ENV = {
    "GRAPHRAG_ANOMALY_INTERVAL": "200ms",
    "GRAPHRAG_REFRESH_INTERVAL": "1s",
    "GRAPHRAG_SNAPSHOT_INTERVAL": "500ms",
}
DEADLINE_S = 20.0
T = TypeVar("T")


@pytest.fixture(scope="module", params=backends.BACKENDS)
def srv(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    backends.require(request.param)
    server = start_server(tmp_path_factory.mktemp("e2e-graph"), env=ENV, driver=request.param)
    try:
        yield server
    finally:
        server.stop()


def get(srv: ServerProcess, path: str, tenant: str) -> tuple[int, Any]:
    status, body = srv.get(path, {"X-Tenant-ID": tenant})
    return status, json.loads(body)


def ok(srv: ServerProcess, path: str, tenant: str) -> Any:
    status, body = get(srv, path, tenant)
    assert status == 200, (path, status, body)
    return body


def eventually(check: Callable[[], T], what: str) -> T:
    """``check()``'s value once it returns without an AssertionError."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {DEADLINE_S} s: {what}") from None
            time.sleep(0.1)


@dataclass
class System:
    """Three services, each with its own providers, exporting to one tenant."""

    tenant: str
    providers: list[Any]
    tracers: dict[str, Any]
    payments_log: Any

    def checkout(self, n: int, *, fail: bool) -> str:
        prop = TraceContextTextMapPropagator()
        with self.tracers["frontend"].start_as_current_span(
            "GET /checkout", kind=SpanKind.SERVER
        ) as front:
            carrier: dict[str, str] = {}
            prop.inject(carrier)  # the HTTP call to orders
            with self.tracers["orders"].start_as_current_span(
                "POST /orders", context=prop.extract(carrier), kind=SpanKind.SERVER
            ) as orders:
                carrier = {}
                prop.inject(carrier)  # the HTTP call to payments
                with self.tracers["payments"].start_as_current_span(
                    "charge", context=prop.extract(carrier), kind=SpanKind.SERVER
                ) as pay:
                    if fail:
                        pay.set_status(Status(StatusCode.ERROR, "card declined"))
                        with use_span(pay):
                            self.payments_log.emit(
                                body=f"payment gateway refused card 4242 for order {n}",
                                severity_number=SeverityNumber.ERROR, severity_text="ERROR",
                            )  # fmt: skip
                if fail:
                    orders.set_status(Status(StatusCode.ERROR, "payment failed"))
            if fail:
                front.set_status(Status(StatusCode.ERROR, "checkout failed"))
        return format_trace_id(front.get_span_context().trace_id)

    def close(self) -> None:
        for p in self.providers:
            p.shutdown()


def make_system(srv: ServerProcess, tenant: str) -> System:
    headers = {"x-tenant-id": tenant}
    providers: list[Any] = []
    tracers = {}
    for name in ("frontend", "orders", "payments"):
        tp = TracerProvider(resource=Resource.create({"service.name": name}))
        # the services export different ways, as real ones do
        exporter: Any = (
            GrpcSpanExporter(endpoint=srv.grpc_endpoint, insecure=True, headers=headers)
            if name == "orders"
            else HttpSpanExporter(endpoint=f"{srv.http_base}/v1/traces", headers=headers)
        )
        tp.add_span_processor(SimpleSpanProcessor(exporter))
        providers.append(tp)
        tracers[name] = tp.get_tracer(f"e2e.{name}")
    lp = LoggerProvider(resource=Resource.create({"service.name": "payments"}))
    lp.add_log_record_processor(SimpleLogRecordProcessor(
        HttpLogExporter(endpoint=f"{srv.http_base}/v1/logs", headers=headers)))  # fmt: skip
    providers.append(lp)
    return System(tenant, providers, tracers, lp.get_logger("e2e.payments"))


def run(srv: ServerProcess, n: int = 20) -> tuple[str, System, list[str]]:
    tenant = f"graph-{uuid.uuid4().hex[:8]}"
    system = make_system(srv, tenant)
    traces = [system.checkout(i, fail=i % 2 == 0) for i in range(n)]
    return tenant, system, traces


def test_the_three_tier_system_end_to_end(srv: ServerProcess) -> None:
    tenant, system, traces = run(srv)

    def service_map() -> Any:
        body = ok(srv, "/api/graph/service-map", tenant)
        edges = {(e["source"], e["target"]): e for e in body["edges"]}
        assert set(edges) == {("frontend", "orders"), ("orders", "payments")}
        assert edges[("orders", "payments")]["call_count"] == 20
        assert edges[("frontend", "orders")]["call_count"] == 20
        return body

    body = eventually(service_map, "CALLS edges for every checkout")
    nodes = {n["name"]: n for n in body["nodes"]}
    # the real status came through the live path
    assert nodes["payments"]["span_count"] == 20 and nodes["payments"]["error_count"] == 10
    assert nodes["payments"]["called_by"] == ["orders"]
    assert [op["name"] for op in nodes["payments"]["operations"]] == ["charge"]

    chains = ok(srv, "/api/graph/error-chains?service=frontend", tenant)["chains"]
    assert len(chains) == 10
    for chain in chains:
        root = chain["root_cause"]
        assert (root["service_name"], root["operation_name"]) == ("payments", "charge")
        assert root["error_message"] == "card declined"
        assert [s["service_name"] for s in chain["span_chain"]] == [
            "frontend", "orders", "payments",
        ]  # fmt: skip
    failed_trace = traces[0]
    [chain0] = [c for c in chains if c["trace_id"] == failed_trace]
    templates = [lc["template"] for lc in chain0["correlated_logs"]]
    assert "payment gateway refused card <NUM> for order <NUM>" in templates

    impact = ok(srv, "/api/graph/impact?service=payments&depth=5", tenant)
    assert [(a["service_name"], a["depth"]) for a in impact["affected"]] == [
        ("orders", 1), ("frontend", 2),
    ]  # fmt: skip

    causes = ok(srv, "/api/graph/root-cause?service=frontend", tenant)["causes"]
    assert (causes[0]["service_name"], causes[0]["operation_name"]) == ("payments", "charge")
    assert causes[0]["chain_count"] == 10

    deps = ok(srv, f"/api/graph/dependency-chain/{failed_trace}", tenant)
    assert [(s["service_name"], s["depth"]) for s in deps["spans"]] == [
        ("frontend", 0), ("orders", 1), ("payments", 2),
    ]  # fmt: skip
    assert deps["spans"][2]["status_code"] == "STATUS_CODE_ERROR"

    path = ok(srv, "/api/graph/shortest-path?from=frontend&to=payments", tenant)
    assert path["path"] == ["frontend", "orders", "payments"] and path["hops"] == 2

    def anomaly() -> list[Any]:
        found = ok(srv, "/api/graph/anomalies", tenant)["anomalies"]
        spikes = [a for a in found if a["type"] == "error_spike"]
        assert {a["service_name"] for a in spikes} == {"frontend", "orders", "payments"}
        return spikes

    spikes = eventually(anomaly, "an error-spike anomaly per failing service")
    assert all(a["active"] and a["severity"] == "critical" for a in spikes)

    def one_investigation() -> Any:
        found = ok(srv, "/api/investigations", tenant)["investigations"]
        assert len(found) == 1
        return found[0]

    inv = eventually(one_investigation, "an investigation of the spike")
    assert (inv["root_service"], inv["root_operation"]) == ("payments", "charge")
    assert inv["trigger_service"] == "payments" and inv["error_message"] == "card declined"
    assert inv["affected_services"] == ["payments", "orders", "frontend"]
    assert [s["service_name"] for s in inv["causal_chain"]] == ["frontend", "orders", "payments"]
    assert set(inv["trace_ids"]) <= set(traces)
    assert ok(srv, f"/api/investigations/{inv['id']}", tenant) == inv

    # more failures inside the cooldown: the anomalies go on, no second investigation
    second_round = time.time_ns()
    for i in range(10):
        system.checkout(100 + i, fail=True)
    system.close()

    def ticked_after_second_round() -> None:
        found = ok(srv, "/api/graph/anomalies?service=payments", tenant)["anomalies"]
        assert found and found[0]["last_seen_unix_nano"] > second_round + 1_000_000_000

    eventually(ticked_after_second_round, "anomaly ticks after the second round")
    assert len(ok(srv, "/api/investigations", tenant)["investigations"]) == 1
    assert len(ok(srv, "/api/investigations?service=payments&severity=critical", tenant)[
        "investigations"]) == 1  # fmt: skip
    assert ok(srv, "/api/investigations?status=resolved", tenant)["investigations"] == []

    system_graph = ok(srv, "/api/system/graph", tenant)
    assert system_graph["system"]["total_services"] == 3
    assert {n["id"] for n in system_graph["nodes"]} == {"frontend", "orders", "payments"}

    def a_snapshot() -> Any:
        snap = ok(srv, "/api/graph/snapshots", tenant)
        assert snap["service_count"] == 3
        return snap

    snap = eventually(a_snapshot, "a topology snapshot")
    assert {(e["from"], e["to"]) for e in snap["edges"] if e["type"] == "CALLS"} == {
        ("frontend", "orders"), ("orders", "payments"),
    }  # fmt: skip

    _, metrics = srv.get("/metrics/prometheus")
    assert b'otelcontext_graphrag_events_dropped_total{signal="span"} 0.0' in metrics
    created = re.search(rb"^otelcontext_graphrag_investigations_created_total (\S+)$", metrics,
                        re.MULTILINE)  # fmt: skip
    assert created is not None and float(created.group(1)) >= 1
    ready = json.loads(srv.get("/ready")[1])
    assert ready["graphrag"]["state"] == "ok"


def test_one_tenant_never_sees_another_tenants_graph(srv: ServerProcess) -> None:
    tenant, system, traces = run(srv)
    system.close()
    def investigation() -> Any:
        found = ok(srv, "/api/investigations", tenant)["investigations"]
        assert len(found) == 1  # an AssertionError: eventually() asks again
        return found[0]

    inv = eventually(investigation, "tenant A's investigation")
    other = f"other-{uuid.uuid4().hex[:8]}"
    assert ok(srv, "/api/graph/service-map", other)["nodes"] == []
    assert ok(srv, "/api/graph/service-map", other)["edges"] == []
    assert ok(srv, "/api/graph/anomalies", other)["anomalies"] == []
    assert ok(srv, "/api/investigations", other)["investigations"] == []
    system_graph = ok(srv, "/api/system/graph", other)
    assert system_graph["nodes"] == [] and system_graph["system"]["total_services"] == 0
    for path in (
        f"/api/investigations/{inv['id']}",
        f"/api/graph/dependency-chain/{traces[0]}",
        "/api/graph/error-chains?service=payments",
        "/api/graph/impact?service=payments",
        "/api/graph/root-cause?service=payments",
        "/api/graph/correlated?service=payments",
        "/api/graph/shortest-path?from=frontend&to=payments",
        "/api/graph/snapshots",
    ):
        status, body = get(srv, path, other)
        assert status == 404, (path, body)
        assert set(body) == {"error"}
    # and tenant A still sees its own
    assert ok(srv, f"/api/investigations/{inv['id']}", tenant)["id"] == inv["id"]


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/api/graph/error-chains", "service is required"),
        ("/api/graph/error-chains?service=", "service is required"),
        ("/api/graph/anomalies?since=", "since must be an RFC 3339"),
        ("/api/graph/anomalies?service=", "service must be 1..255 characters"),
        ("/api/graph/error-chains?service=a&since=yesterday", "since must be an RFC 3339"),
        ("/api/graph/error-chains?service=a&since=2026-01-01T00:00:00", "with a zone"),
        ("/api/graph/error-chains?service=a&limit=0", "limit must be an integer in 1..100"),
        ("/api/graph/impact?service=a&depth=11", "depth must be an integer in 1..10"),
        ("/api/graph/impact?service=a&depth=two", "depth must be an integer in 1..10"),
        ("/api/graph/impact?service=" + "x" * 256, "service must be 1..255 characters"),
        ("/api/graph/impact?service=a&depth=", "depth must be an integer in 1..10"),
        ("/api/graph/root-cause?service=a&since=%202026-01-01T00:00:00Z", "since must be"),
        ("/api/graph/shortest-path?from=a", "to is required"),
        ("/api/graph/anomalies?since=-5", "since must be"),
        ("/api/graph/snapshots?at=soon", "at must be"),
        ("/api/graph/dependency-chain/xyz", "trace_id must be 32 hex characters"),
        ("/api/investigations?limit=101", "limit must be an integer in 1..100"),
        ("/api/investigations?severity=urgent", "severity must be one of"),
        ("/api/investigations?status=open", "status must be one of"),
    ],
)
def test_bad_parameters_are_400_with_a_reason(
    srv: ServerProcess, path: str, fragment: str
) -> None:
    status, body = get(srv, path, "bad-params")
    assert status == 400, body
    assert fragment in body["error"]


def test_an_invalid_tenant_header_is_400(srv: ServerProcess) -> None:
    status, body = srv.get("/api/graph/service-map", {"X-Tenant-ID": "a\x7fb"})
    assert status == 400 and b"X-Tenant-ID" in body
