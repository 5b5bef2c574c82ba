"""Durable acknowledgements across a graceful stop.

Clients keep exporting while the server receives SIGTERM. Every export that was
acknowledged must be in the database after a restart; every export that was not must
have been refused with a code an OTLP client retries.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from tests import backends
from tests.conftest import start_server

RETRYABLE_GRPC = {grpc.StatusCode.UNAVAILABLE}
RETRYABLE_HTTP = {429, 502, 503, 504}


def _request(client: int, seq: int, spans: int = 50) -> tuple[bytes, list[str]]:
    now = time.time_ns()
    span_ids = []
    out = []
    for i in range(spans):
        span_id = os.urandom(8)
        span_ids.append(span_id.hex())
        out.append(
            trace_pb2.Span(
                trace_id=os.urandom(16), span_id=span_id, name=f"op-{i % 5}",
                kind=trace_pb2.Span.SPAN_KIND_SERVER, start_time_unix_nano=now,
                end_time_unix_nano=now + 1_000_000,
            )
        )  # fmt: skip
    req = trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource_pb2.Resource(attributes=[common_pb2.KeyValue(
                    key="service.name",
                    value=common_pb2.AnyValue(string_value=f"durable-{client}"))]),
                scope_spans=[trace_pb2.ScopeSpans(spans=out)],
            )
        ]
    )  # fmt: skip
    return req.SerializeToString(), span_ids


class Outcomes:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked: list[str] = []
        self.refused: list[str] = []
        self.non_retryable: list[str] = []


def _grpc_client(endpoint: str, client: int, stop: threading.Event, out: Outcomes) -> None:
    channel = grpc.insecure_channel(endpoint)
    export = channel.unary_unary(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        request_serializer=lambda b: b,
        response_deserializer=trace_service_pb2.ExportTraceServiceResponse.FromString,
    )
    seq = 0
    while not stop.is_set():
        body, ids = _request(client, seq)
        seq += 1
        try:
            export(body, timeout=10)
        except grpc.RpcError as err:
            with out.lock:
                if err.code() in RETRYABLE_GRPC:
                    out.refused.extend(ids)
                else:
                    out.non_retryable.append(f"grpc {err.code()} {err.details()}")
            time.sleep(0.05)
            continue
        with out.lock:
            out.acked.extend(ids)
    channel.close()


def _http_client(base: str, client: int, stop: threading.Event, out: Outcomes) -> None:
    seq = 0
    while not stop.is_set():
        body, ids = _request(client, seq)
        seq += 1
        req = urllib.request.Request(
            base + "/v1/traces", data=body, method="POST",
            headers={"Content-Type": "application/x-protobuf"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                resp.read()
        except urllib.error.HTTPError as err:
            with out.lock:
                if err.code in RETRYABLE_HTTP:
                    out.refused.extend(ids)
                else:
                    out.non_retryable.append(f"http {err.code} {err.read()[:200]!r}")
            time.sleep(0.05)
            continue
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            # connection refused or reset: the client retries, as OTLP exporters do
            with out.lock:
                out.refused.extend(ids)
            time.sleep(0.05)
            continue
        with out.lock:
            out.acked.extend(ids)


def _stored_span_ids(db: Path) -> set[str]:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return {row[0] for row in conn.execute("SELECT span_id FROM spans")}
    finally:
        conn.close()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("driver", backends.BACKENDS)
def test_sigterm_while_exporting_loses_nothing_acknowledged(tmp_path: Path, driver: str) -> None:
    backends.require(driver)
    srv = start_server(tmp_path, driver=driver)
    out = Outcomes()
    stop = threading.Event()
    threads = [
        threading.Thread(target=_grpc_client, args=(srv.grpc_endpoint, i, stop, out))
        for i in range(4)
    ] + [
        threading.Thread(target=_http_client, args=(srv.http_base, 10 + i, stop, out))
        for i in range(4)
    ]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 20
        while len(out.acked) < 5_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(out.acked) >= 5_000, "clients did not get going"
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(timeout=40) == 0, srv.log_text()
        time.sleep(0.5)  # clients see the server gone
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    acked = set(out.acked)
    assert not out.non_retryable, out.non_retryable[:5]
    assert out.refused, "some exports should have met the stopped server"

    # the same database again, not reset
    env = {} if driver == "sqlite" else {"DB_DRIVER": driver, "DB_DSN": backends.dsn_for(driver)}
    restarted = start_server(tmp_path, env=env, db_path=srv.db_path)
    try:
        rows = backends.query(driver, srv.db_path, "SELECT span_id FROM spans")
        stored = {r["span_id"] for r in rows}
        missing = acked - stored
        assert not missing, f"{len(missing)} acknowledged spans lost of {len(acked)}"
        status, _ = restarted.get("/ready")
        assert status == 200
    finally:
        restarted.stop()
