"""Bounded admission: a full queue refuses with retryable answers and loses nothing acked."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from tests.conftest import start_server
from tests.e2e.test_durability import _request, _stored_span_ids

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.mark.timeout(120)
def test_full_queue_answers_retryable_and_keeps_every_ack(tmp_path: Path) -> None:
    srv = start_server(tmp_path, env={"INGEST_QUEUE_MAX_ITEMS": "1000"})
    acked: list[str] = []
    grpc_refusals: list[tuple[grpc.StatusCode, float]] = []
    http_refusals: list[tuple[int, str | None]] = []
    lock = threading.Lock()

    def grpc_client(n: int) -> None:
        channel = grpc.insecure_channel(srv.grpc_endpoint)
        export = channel.unary_unary(TRACE_EXPORT, request_serializer=lambda b: b,
                                     response_deserializer=lambda b: b)  # fmt: skip
        for seq in range(15):
            body, ids = _request(n, seq, spans=600)
            try:
                export(body, timeout=10)
            except grpc.RpcError as err:
                delay = -1.0
                for key, value in err.trailing_metadata() or ():
                    if key == "grpc-status-details-bin":
                        st = status_pb2.Status.FromString(value)
                        for detail in st.details:
                            info = error_details_pb2.RetryInfo()
                            if detail.Unpack(info):
                                delay = info.retry_delay.ToTimedelta().total_seconds()
                with lock:
                    grpc_refusals.append((err.code(), delay))
                continue
            with lock:
                acked.extend(ids)
        channel.close()

    def http_client(n: int) -> None:
        for seq in range(15):
            body, ids = _request(n, seq, spans=600)
            req = urllib.request.Request(
                srv.http_base + "/v1/traces", data=body, method="POST",
                headers={"Content-Type": "application/x-protobuf"},
            )  # fmt: skip
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    resp.read()
            except urllib.error.HTTPError as err:
                with lock:
                    http_refusals.append((err.code, err.headers.get("Retry-After")))
                continue
            with lock:
                acked.extend(ids)

    threads = [threading.Thread(target=grpc_client, args=(i,)) for i in range(6)]
    threads += [threading.Thread(target=http_client, args=(100 + i,)) for i in range(6)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert grpc_refusals and http_refusals, "the queue bound was never reached"
        assert {code for code, _ in grpc_refusals} == {grpc.StatusCode.UNAVAILABLE}
        assert all(delay > 0 for _, delay in grpc_refusals), "RetryInfo missing"
        assert {code for code, _ in http_refusals} == {503}
        assert all(ra is not None and int(ra) >= 1 for _, ra in http_refusals)
        time.sleep(0.2)
        stored = _stored_span_ids(srv.db_path)
        assert set(acked) <= stored
        assert len(stored) == len(set(acked)), "refused exports must not be stored"
        _, metrics = srv.get("/metrics/prometheus")
        assert b'otelcontext_ingest_rejected_items_total{reason="overload",signal="traces"}' in (
            metrics
        )
    finally:
        srv.stop()


@pytest.mark.timeout(120)
def test_ready_turns_503_while_the_queue_is_nearly_full(tmp_path: Path) -> None:
    """A slow database (SQLite busy behind an exclusive lock) lets the queue fill up."""
    import json
    import sqlite3

    srv = start_server(tmp_path, env={"INGEST_QUEUE_MAX_ITEMS": "1000"})
    lock = sqlite3.connect(srv.db_path, timeout=30)
    try:
        lock.execute("BEGIN EXCLUSIVE")  # the writer's commit now waits (busy_timeout 5 s)
        channel = grpc.insecure_channel(srv.grpc_endpoint)
        export = channel.unary_unary(TRACE_EXPORT, request_serializer=lambda b: b,
                                     response_deserializer=lambda b: b)  # fmt: skip
        body, _ = _request(1, 0, spans=990)
        future = export.future(body, timeout=60)
        deadline = time.monotonic() + 10
        status, payload = srv.get("/ready")
        while status == 200 and time.monotonic() < deadline:
            time.sleep(0.05)
            status, payload = srv.get("/ready")
        assert status == 503
        assert json.loads(payload)["ingest_queue_fullness"] > 0.95
        lock.rollback()  # the database is free again: the writer drains the queue
        future.result(timeout=60)
        deadline = time.monotonic() + 10
        while srv.get("/ready")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert srv.get("/ready")[0] == 200
        channel.close()
    finally:
        lock.close()
        srv.stop()
