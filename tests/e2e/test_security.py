"""API security against real ``otelctx serve`` processes: API keys (HTTP and gRPC), tenant
binding, the per-IP rate limit, X-Forwarded-For, and the database health gate.

Test rules: servers listen on 127.0.0.1 with port 0, one per module fixture, stopped by it
(the recovery tests at the end run the real app in process, to add a failing route);
data goes in through the real OpenTelemetry SDK exporters (gRPC and HTTP) with
``headers={"authorization": "Bearer ..."}``, except where the wire itself is the subject
(raw ``http.client`` / grpcio). Counters are read from ``/metrics/prometheus`` before and
after, and compared exactly. Rate-limit assertions never assume a speed: they check the
token-bucket bound ``allowed <= burst + rate * elapsed`` for the time the requests took.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
import trio
from google.rpc.status_pb2 import Status
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import format_trace_id
from prometheus_client.parser import text_string_to_metric_families
from quart import Quart, Response
from quart import request as quart_request
from quart import websocket as quart_websocket
from quart.testing import WebsocketResponseError

from otelctx.api import create_app
from otelctx.api.context import request_tenant
from otelctx.config import Settings
from otelctx.deps import Deps, Readiness
from otelctx.ingest.admission import Admission, Submission
from otelctx.ingest.decoding import Decoder
from otelctx.ingest.service import Ingest
from otelctx.nurseries.writer import WriterState
from otelctx.storage import open_storage
from otelctx.storage.base import StorageUnavailable
from otelctx.telemetry import create_metrics
from tests import backends
from tests.conftest import ServerProcess, start_server

pytestmark = pytest.mark.timeout(120)

ADMIN_KEY = "admin-k3y-0123456789"  # API_KEY: not bound to a tenant
ACME_KEY = "acme-k3y-0123456789"
GLOBEX_KEY = "globex-k3y-0123456789=="
TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
UNKNOWN_TRACE = "0123456789abcdef0123456789abcdef"
EXPORT_TIMEOUT_S = 10
HTTP_TIMEOUT_S = 10
UNAUTHENTICATED, PERMISSION_DENIED = 16, 7


# -- helpers ----------------------------------------------------------------------------


def request(
    srv: ServerProcess,
    path: str,
    headers: dict[str, str] | None = None,
    method: str = "GET",
    body: bytes | None = None,
    conn: http.client.HTTPConnection | None = None,
) -> tuple[int, dict[str, str], bytes]:
    own = conn is None
    c = conn or http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=HTTP_TIMEOUT_S)
    try:
        c.request(method, path, body=body, headers=headers or {})
        resp = c.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        if own:
            c.close()


def bearer(key: str, tenant: str | None = None) -> dict[str, str]:
    headers = {"authorization": f"Bearer {key}"}
    if tenant is not None:
        headers["x-tenant-id"] = tenant
    return headers


def metrics(srv: ServerProcess) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    status, body = srv.get("/metrics/prometheus")  # public: no key needed
    assert status == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def metric(srv: ServerProcess, name: str, **labels: str) -> float:
    return metrics(srv).get((name, frozenset(labels.items())), 0.0)


def auth_failures(srv: ServerProcess) -> dict[str, float]:
    return {
        reason: metric(srv, "otelcontext_api_auth_failures_total", reason=reason)
        for reason in ("missing_header", "bad_scheme", "bad_key")
    }


def make_spans(service: str, resource: dict[str, str] | None = None) -> tuple[list[Any], str]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, **(resource or {})})
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("e2e.security").start_as_current_span("GET /secure") as span:
        trace_id = format_trace_id(span.get_span_context().trace_id)
    spans: list[ReadableSpan] = list(memory.get_finished_spans())
    provider.shutdown()
    return spans, trace_id


def export(
    srv: ServerProcess, transport: str, spans: list[Any], headers: dict[str, str] | None
) -> SpanExportResult:
    exporter: Any
    if transport == "grpc":
        exporter = GrpcSpanExporter(endpoint=srv.grpc_endpoint, insecure=True,
                                    headers=headers, timeout=EXPORT_TIMEOUT_S)  # fmt: skip
    else:
        exporter = HttpSpanExporter(endpoint=f"{srv.http_base}/v1/traces",
                                    headers=headers, timeout=EXPORT_TIMEOUT_S)  # fmt: skip
    try:
        result: SpanExportResult = exporter.export(spans)
        return result
    finally:
        exporter.shutdown()


def trace_status(srv: ServerProcess, trace_id: str, headers: dict[str, str]) -> int:
    return request(srv, f"/api/traces/{trace_id}", headers)[0]


def grpc_export_raw(srv: ServerProcess, metadata: list[tuple[str, str]]) -> grpc.RpcError | None:
    with grpc.insecure_channel(srv.grpc_endpoint) as channel:
        call = channel.unary_unary(TRACE_EXPORT, request_serializer=lambda b: b,
                                   response_deserializer=lambda b: b)  # fmt: skip
        try:
            call(b"", metadata=metadata, timeout=EXPORT_TIMEOUT_S)
        except grpc.RpcError as err:
            return err
    return None


# -- API keys and tenant binding --------------------------------------------------------


@pytest.fixture(scope="module", params=backends.BACKENDS)
def keyed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    backends.require(request.param)
    tmp = tmp_path_factory.mktemp("security-keys")
    keys = tmp / "tenant-keys"
    keys.write_text(f"# one key per tenant\n{ACME_KEY}=acme\n{GLOBEX_KEY}: globex\n")
    env = {
        "API_KEY": ADMIN_KEY,
        "API_TENANT_KEYS_FILE": str(keys),
        "OTLP_TRUST_RESOURCE_TENANT": "true",
        "API_RATE_LIMIT_RPS": "0",
    }
    server = start_server(tmp, env=env, driver=request.param)
    try:
        yield server
    finally:
        assert server.stop() == 0, server.log_text()


PROTECTED = [("GET", f"/api/traces/{UNKNOWN_TRACE}"), ("GET", "/api/no/such/route"),
             ("POST", "/v1/traces")]  # fmt: skip
BAD_CREDENTIALS = [
    ({}, "missing_header"),
    ({"authorization": f"Basic {ACME_KEY}"}, "bad_scheme"),
    ({"authorization": "Bearer not-a-key"}, "bad_key"),
    ({"authorization": f"Bearer {ACME_KEY}x"}, "bad_key"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize(("headers", "reason"), BAD_CREDENTIALS)
def test_protected_routes_answer_401_and_count_the_reason(
    keyed: ServerProcess, method: str, path: str, headers: dict[str, str], reason: str
) -> None:
    before = auth_failures(keyed)
    body = b"" if method == "POST" else None
    ctype = {"content-type": "application/x-protobuf"} if method == "POST" else {}
    status, resp_headers, resp_body = request(keyed, path, {**headers, **ctype}, method, body)
    assert status == 401, resp_body
    assert resp_headers["www-authenticate"] == "Bearer"
    if path.startswith("/v1/"):  # OTLP's own error format
        assert Status.FromString(resp_body).code == UNAUTHENTICATED
    else:
        assert json.loads(resp_body) == {"error": "unauthorized"}
    after = auth_failures(keyed)
    assert {r: after[r] - before[r] for r in after} == {
        r: 1.0 if r == reason else 0.0 for r in after
    }


def test_probes_and_metrics_need_no_key(keyed: ServerProcess) -> None:
    for path in ("/live", "/ready", "/metrics/prometheus"):
        assert request(keyed, path)[0] == 200, path
    for path in ("/api/health", "/api/openapi.json"):  # public, whether present yet or not
        assert request(keyed, path)[0] != 401, path


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_a_bound_key_exports_into_its_tenant_only(keyed: ServerProcess, transport: str) -> None:
    spans, trace_id = make_spans(f"bound-{transport}")
    assert export(keyed, transport, spans, bearer(ACME_KEY)) == SpanExportResult.SUCCESS
    assert trace_status(keyed, trace_id, bearer(ACME_KEY)) == 200
    assert trace_status(keyed, trace_id, bearer(GLOBEX_KEY)) == 404
    assert trace_status(keyed, trace_id, bearer(ADMIN_KEY, "acme")) == 200
    assert trace_status(keyed, trace_id, bearer(ADMIN_KEY, "globex")) == 404
    assert trace_status(keyed, trace_id, bearer(ADMIN_KEY)) == 404  # DEFAULT_TENANT


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_a_bound_key_naming_another_tenant_is_refused(keyed: ServerProcess, transport: str) -> None:
    spans, trace_id = make_spans(f"mismatch-{transport}")
    before = metric(keyed, "otelcontext_api_tenant_mismatch_total", transport=transport)
    result = export(keyed, transport, spans, bearer(ACME_KEY, "globex"))
    assert result == SpanExportResult.FAILURE
    after = metric(keyed, "otelcontext_api_tenant_mismatch_total", transport=transport)
    assert after - before == 1  # refused once: not retried
    for tenant in ("acme", "globex", "default"):
        assert trace_status(keyed, trace_id, bearer(ADMIN_KEY, tenant)) == 404


def test_grpc_tenant_mismatch_is_permission_denied(keyed: ServerProcess) -> None:
    err = grpc_export_raw(keyed, [("authorization", f"Bearer {ACME_KEY}"),
                                  ("x-tenant-id", "globex")])  # fmt: skip
    assert err is not None and err.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_a_bound_key_may_name_its_own_tenant(keyed: ServerProcess, transport: str) -> None:
    spans, trace_id = make_spans(f"same-{transport}")
    assert export(keyed, transport, spans, bearer(ACME_KEY, "acme")) == SpanExportResult.SUCCESS
    assert trace_status(keyed, trace_id, bearer(ACME_KEY, "acme")) == 200


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_a_bound_key_wins_over_the_resource_tenant(keyed: ServerProcess, transport: str) -> None:
    # OTLP_TRUST_RESOURCE_TENANT=true: the unbound key's data follows tenant.id ...
    spans, trace_id = make_spans(f"resource-{transport}", {"tenant.id": "globex"})
    assert export(keyed, transport, spans, bearer(ADMIN_KEY)) == SpanExportResult.SUCCESS
    assert trace_status(keyed, trace_id, bearer(GLOBEX_KEY)) == 200
    # ... a bound key's data never does.
    spans, trace_id = make_spans(f"resource-bound-{transport}", {"tenant.id": "globex"})
    assert export(keyed, transport, spans, bearer(ACME_KEY)) == SpanExportResult.SUCCESS
    assert trace_status(keyed, trace_id, bearer(ACME_KEY)) == 200
    assert trace_status(keyed, trace_id, bearer(GLOBEX_KEY)) == 404


def test_api_reads_with_a_bound_key_cannot_name_another_tenant(keyed: ServerProcess) -> None:
    before = metric(keyed, "otelcontext_api_tenant_mismatch_total", transport="http")
    status, _, body = request(keyed, f"/api/traces/{UNKNOWN_TRACE}", bearer(ACME_KEY, "globex"))
    assert (status, json.loads(body)) == (403, {"error": "tenant mismatch"})
    assert metric(keyed, "otelcontext_api_tenant_mismatch_total", transport="http") == before + 1


def test_vacuum_needs_the_operator_key(keyed: ServerProcess) -> None:
    # whole-database upkeep concerns every tenant: a key bound to one may not run it
    status, _, body = request(keyed, "/api/admin/vacuum", bearer(ACME_KEY), "POST", b"")
    assert status == 403, body
    assert "operator key" in json.loads(body)["error"]
    status, _, body = request(keyed, "/api/admin/vacuum", bearer(ADMIN_KEY), "POST", b"")
    assert (status, json.loads(body)) == (200, {"status": "ok"})


def test_an_invalid_tenant_header_is_400_on_the_api(keyed: ServerProcess) -> None:
    status, _, body = request(keyed, f"/api/traces/{UNKNOWN_TRACE}",
                              bearer(ADMIN_KEY, "t" * 200))  # fmt: skip
    assert status == 400
    assert json.loads(body)["error"].startswith("invalid X-Tenant-ID header")


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_exporting_without_a_key_fails_once_and_is_not_retried(
    keyed: ServerProcess, transport: str
) -> None:
    spans, trace_id = make_spans(f"nokey-{transport}")
    before = auth_failures(keyed)
    assert export(keyed, transport, spans, None) == SpanExportResult.FAILURE
    assert auth_failures(keyed)["missing_header"] - before["missing_header"] == 1
    assert trace_status(keyed, trace_id, bearer(ADMIN_KEY)) == 404


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ([], "missing_header"),
        ([("authorization", f"Basic {ACME_KEY}")], "bad_scheme"),
        ([("authorization", "Bearer nope")], "bad_key"),
    ],
)
def test_grpc_bad_credentials_are_unauthenticated(
    keyed: ServerProcess, metadata: list[tuple[str, str]], reason: str
) -> None:
    before = auth_failures(keyed)[reason]
    err = grpc_export_raw(keyed, metadata)
    assert err is not None and err.code() == grpc.StatusCode.UNAUTHENTICATED
    assert auth_failures(keyed)[reason] == before + 1


# -- rate limit ---------------------------------------------------------------------------

RATE = 5  # API_RATE_LIMIT_RPS of the limited servers; burst = rate


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(tmp_path_factory.mktemp("security-limit"),
                          env={"API_RATE_LIMIT_RPS": str(RATE)})  # fmt: skip
    try:
        yield server
    finally:
        assert server.stop() == 0, server.log_text()


@pytest.fixture(scope="module")
def trusting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {"API_RATE_LIMIT_RPS": str(RATE), "TRUST_PROXY_HEADERS": "true"}
    server = start_server(tmp_path_factory.mktemp("security-trust"), env=env)
    try:
        yield server
    finally:
        assert server.stop() == 0, server.log_text()


def burst(
    srv: ServerProcess, n: int, path: str, headers: Callable[[int], dict[str, str]],
    method: str = "GET", body: bytes | None = None,
) -> tuple[list[tuple[int, dict[str, str], bytes]], float]:  # fmt: skip
    """``n`` requests on one keep-alive connection, and the seconds they took."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=HTTP_TIMEOUT_S)
    try:
        t0 = time.monotonic()
        out = [request(srv, path, headers(i), method, body, conn) for i in range(n)]
        return out, time.monotonic() - t0
    finally:
        conn.close()


def most_allowed(elapsed: float) -> float:
    return RATE + RATE * elapsed


def test_api_over_the_limit_gets_429_while_otlp_and_probes_never_do(
    limited: ServerProcess,
) -> None:
    before = metric(limited, "otelcontext_api_rate_limited_total")
    answers, elapsed = burst(limited, 3 * RATE, f"/api/traces/{UNKNOWN_TRACE}", lambda _: {})
    refused = [a for a in answers if a[0] == 429]
    allowed = [a for a in answers if a[0] != 429]
    assert refused, "nothing was rate limited"
    assert len(allowed) <= most_allowed(elapsed)
    assert {a[0] for a in allowed} == {404}
    for _, headers, body in refused:
        assert json.loads(body) == {"error": "rate limit exceeded"}
        assert int(headers["retry-after"]) >= 1
    assert metric(limited, "otelcontext_api_rate_limited_total") - before == len(refused)

    # The same client, its bucket empty: OTLP ingest and the probes are never throttled.
    protobuf = {"content-type": "application/x-protobuf"}
    answers, _ = burst(limited, 3 * RATE, "/v1/traces", lambda _: protobuf, "POST", b"")
    assert [a[0] for a in answers] == [200] * (3 * RATE)
    for path in ("/live", "/ready", "/metrics/prometheus"):
        answers, _ = burst(limited, 3 * RATE, path, lambda _: {})
        assert [a[0] for a in answers] == [200] * (3 * RATE), path


def test_x_forwarded_for_is_ignored_unless_trusted(limited: ServerProcess) -> None:
    # Every request claims another client; untrusted, they all share the peer's bucket.
    answers, elapsed = burst(limited, 3 * RATE, "/api/nothing",
                             lambda i: {"x-forwarded-for": f"198.51.100.{i + 1}"})  # fmt: skip
    allowed = [a for a in answers if a[0] != 429]
    assert len(allowed) <= most_allowed(elapsed)
    assert len(allowed) < len(answers)


def test_x_forwarded_for_names_the_client_when_trusted(trusting: ServerProcess) -> None:
    # Each claimed client has its own full bucket ...
    answers, _ = burst(trusting, 3 * RATE, "/api/nothing",
                       lambda i: {"x-forwarded-for": f"198.51.100.{i + 1}, 10.0.0.1"})  # fmt: skip
    assert [a[0] for a in answers] == [404] * (3 * RATE)
    # ... and one client is limited however many proxies it comes through.
    answers, elapsed = burst(trusting, 3 * RATE, "/api/nothing",
                             lambda i: {"x-forwarded-for": f"203.0.113.7, 10.0.0.{i}"})  # fmt: skip
    allowed = [a for a in answers if a[0] != 429]
    assert len(allowed) <= most_allowed(elapsed)
    assert len(allowed) < len(answers)


# -- the database health gate -------------------------------------------------------------


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_db_gate_turns_the_api_503_while_ingest_goes_on(tmp_path: Path) -> None:
    srv = start_server(tmp_path, env={"DB_HEALTH_INTERVAL": "200ms", "API_RATE_LIMIT_RPS": "0"})
    hidden = srv.db_path.with_name("hidden.db")
    try:
        assert trace_status(srv, UNKNOWN_TRACE, {}) == 404
        assert metric(srv, "otelcontext_db_up", driver="sqlite") == 1
        os.rename(srv.db_path, hidden)  # ping() finds no database file
        wait_for("the gate to close", lambda: trace_status(srv, UNKNOWN_TRACE, {}) == 503)
        status, headers, body = request(srv, f"/api/traces/{UNKNOWN_TRACE}")
        assert (status, json.loads(body)) == (503, {"error": "database unavailable"})
        assert int(headers["retry-after"]) >= 1
        assert "database unavailable for 3 pings in a row" in srv.log_text()
        assert metric(srv, "otelcontext_db_up", driver="sqlite") == 0
        assert metric(srv, "otelcontext_api_db_unavailable_total") >= 2
        assert request(srv, "/live")[0] == 200
        # Ingest is not gated: it is acknowledged (committed or in the dead-letter queue).
        spans, trace_id = make_spans("during-outage")
        assert export(srv, "http", spans, None) == SpanExportResult.SUCCESS
        grpc_spans, grpc_trace_id = make_spans("during-outage-grpc")
        assert export(srv, "grpc", grpc_spans, None) == SpanExportResult.SUCCESS

        os.rename(hidden, srv.db_path)
        wait_for("the gate to open", lambda: trace_status(srv, trace_id, {}) == 200)
        assert trace_status(srv, grpc_trace_id, {}) == 200
        assert metric(srv, "otelcontext_db_up", driver="sqlite") == 1
    finally:
        if hidden.exists():
            os.rename(hidden, srv.db_path)
        assert srv.stop() == 0, srv.log_text()


# -- recovery (in process: a failing route exists only in this test) ----------------------


@asynccontextmanager
async def app_in_process(tmp_path: Path, **settings: Any) -> AsyncIterator[tuple[Quart, Deps]]:
    """The real app factory on real SQLite storage, without sockets."""
    s = Settings(db_dsn=str(tmp_path / "otelctx.db"), dlq_path=str(tmp_path / "dlq"),
                 api_rate_limit_rps=0, **settings)  # fmt: skip
    metrics = create_metrics(s.db_driver)
    async with open_storage(s) as storage:
        send, _receive = trio.open_memory_channel[Submission](10)
        admission = Admission(s.ingest_queue_max_items, s.ingest_queue_max_bytes)
        ingest = Ingest(s, admission, send, metrics, Decoder(None, 0, metrics))
        deps = Deps(s, storage, metrics, ingest, WriterState(), Readiness(frozenset()))
        yield create_app(deps), deps


async def test_an_exception_in_a_route_is_500_internal_logged_by_route_template(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with app_in_process(tmp_path) as (app, deps):

        @app.get("/api/boom/<item>")
        async def boom(item: str) -> Response:
            raise RuntimeError("kaboom")

        response = await app.test_client().get("/api/boom/s3cret-item-id")
        assert response.status_code == 500
        assert await response.get_json() == {"error": "internal"}
        assert deps.metrics.internal_errors.labels("http")._value.get() == 1
    logged = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(logged) == 1
    assert "/api/boom/<item>" in logged[0].getMessage()
    assert "s3cret" not in logged[0].getMessage()


async def test_an_exception_outside_the_route_is_500_internal_too(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with app_in_process(tmp_path) as (app, deps):

        @app.get("/api/after/<item>")
        async def fine(item: str) -> Response:
            return Response("ok")

        @app.after_request
        async def broken(response: Response) -> Response:
            if quart_request.path.startswith("/api/after/"):
                raise RuntimeError("after_request failed")
            return response

        response = await app.test_client().get("/api/after/s3cret-item-id")
        assert response.status_code == 500
        assert await response.get_json() == {"error": "internal"}
        assert deps.metrics.internal_errors.labels("http")._value.get() == 1
    messages = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("/api/after/<item>" in m for m in messages), messages
    assert not any("s3cret" in m for m in messages)


async def test_routes_added_later_are_protected_too(tmp_path: Path) -> None:
    async with app_in_process(tmp_path, api_key=ADMIN_KEY) as (app, _deps):

        @app.get("/api/added-later")
        async def later() -> Response:
            return Response(request_tenant())

        client = app.test_client()
        response = await client.get("/api/added-later")
        assert response.status_code == 401
        response = await client.get("/api/added-later", headers=bearer(ADMIN_KEY, "acme"))
        assert (response.status_code, await response.get_data()) == (200, b"acme")


async def test_websocket_routes_added_later_are_protected_too(tmp_path: Path) -> None:
    async with app_in_process(tmp_path, api_key=ADMIN_KEY) as (app, _deps):

        @app.websocket("/api/live-tail")
        async def tail() -> None:
            await quart_websocket.send(request_tenant())

        client = app.test_client()
        refused: list[WebsocketResponseError] = []
        try:
            async with client.websocket("/api/live-tail") as ws:
                await ws.receive()
        except* WebsocketResponseError as group:  # raised inside the client's nursery
            refused.extend(e for e in group.exceptions if isinstance(e, WebsocketResponseError))
        assert len(refused) == 1
        assert refused[0].response.status_code == 401
        assert await refused[0].response.get_json() == {"error": "unauthorized"}
        async with client.websocket("/api/live-tail", headers=bearer(ADMIN_KEY, "acme")) as ws:
            assert await ws.receive() == "acme"


async def test_public_routes_get_no_tenant_without_a_key(tmp_path: Path) -> None:
    # /api/health is public; if it ever reads tenant data, it needs a key like the rest.
    async with app_in_process(tmp_path, api_key=ADMIN_KEY) as (app, deps):

        async def health() -> Response:
            return Response(request_tenant())

        app.view_functions["admin.health"] = health  # the real route, made to read a tenant
        client = app.test_client()
        response = await client.get("/api/health", headers={"x-tenant-id": "acme"})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert deps.metrics.api_auth_failures.labels("missing_header")._value.get() == 1
        response = await client.get("/api/health", headers=bearer(ADMIN_KEY, "acme"))
        assert (response.status_code, await response.get_data()) == (200, b"acme")


async def test_a_database_outage_inside_a_route_is_503(tmp_path: Path) -> None:
    async with app_in_process(tmp_path) as (app, _deps):

        @app.get("/api/outage")
        async def outage() -> Response:
            raise StorageUnavailable("sqlite: query failed: disk I/O error")

        response = await app.test_client().get("/api/outage")
        assert response.status_code == 503
        assert await response.get_json() == {"error": "database unavailable"}
        assert int(response.headers["Retry-After"]) >= 1


async def test_an_otlp_http_refusal_after_decoding_counts_each_item_once(
    tmp_path: Path,
) -> None:
    # The first export is admitted and waits for a commit that never comes (no writer
    # here); the second, of 30 spans, no longer fits after decoding: 503, its 30 spans
    # counted once as overload (not 30 + 1), the request once as "refused".
    from tests.e2e.test_bad_input import make_request, make_span

    async with app_in_process(tmp_path, ingest_queue_max_items=20) as (app, deps):
        client = app.test_client()
        headers = {"content-type": "application/x-protobuf"}

        async def first() -> None:
            body = make_request([make_span() for _ in range(5)]).SerializeToString()
            await client.post("/v1/traces", data=body, headers=headers)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(first)
            with trio.fail_after(10):
                while deps.ingest.admission.items == 0:  # noqa: ASYNC110 - plain state, no event to wait on
                    await trio.sleep(0.01)
            body = make_request([make_span() for _ in range(30)]).SerializeToString()
            response = await client.post("/v1/traces", data=body, headers=headers)
            assert response.status_code == 503
            nursery.cancel_scope.cancel()
        m = deps.metrics
        assert m.rejected.labels("traces", "overload")._value.get() == 30
        assert m.requests.labels("traces", "http", "refused")._value.get() == 1
