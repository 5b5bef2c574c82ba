"""Decoding in worker processes: same results as in the server, and a dead worker loses nothing."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import grpc
import pytest

from otelctx.ingest.decoding import INLINE_BODY_BYTES
from tests.conftest import start_server
from tests.e2e.test_durability import _request, _stored_span_ids

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _children(pid: int) -> list[int]:
    """The decode workers of server ``pid`` (multiprocessing's spawned children)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cmdline = (stat.parent / "cmdline").read_bytes()
        if int(fields[1]) == pid and b"spawn_main" in cmdline:
            out.append(int(stat.parent.name))
    return out


@pytest.mark.timeout(120)
@pytest.mark.parametrize("workers", ["0", "2"])
def test_exports_are_stored_with_and_without_workers(tmp_path: Path, workers: str) -> None:
    srv = start_server(tmp_path, env={"INGEST_DECODE_WORKERS": workers})
    try:
        assert len(_children(srv.proc.pid)) == int(workers)
        channel = grpc.insecure_channel(srv.grpc_endpoint)
        export = channel.unary_unary(TRACE_EXPORT, request_serializer=lambda b: b,
                                     response_deserializer=lambda b: b)  # fmt: skip
        sent: set[str] = set()
        for seq in range(10):
            body, ids = _request(1, seq, spans=1500 if seq % 2 else 3)
            assert (len(body) >= INLINE_BODY_BYTES) == bool(seq % 2)  # worker and inline sizes
            export(body, timeout=10)
            sent.update(ids)
        channel.close()
        assert _stored_span_ids(srv.db_path) == sent
    finally:
        srv.stop()


@pytest.mark.timeout(120)
def test_a_killed_decode_worker_does_not_fail_exports(tmp_path: Path) -> None:
    srv = start_server(tmp_path, env={"INGEST_DECODE_WORKERS": "1"})
    try:
        (worker,) = _children(srv.proc.pid)
        os.kill(worker, signal.SIGKILL)
        time.sleep(0.2)
        channel = grpc.insecure_channel(srv.grpc_endpoint)
        export = channel.unary_unary(TRACE_EXPORT, request_serializer=lambda b: b,
                                     response_deserializer=lambda b: b)  # fmt: skip
        sent: set[str] = set()
        for seq in range(5):
            body, ids = _request(2, seq, spans=1500)
            assert len(body) >= INLINE_BODY_BYTES  # a worker's size
            export(body, timeout=20)
            sent.update(ids)
        channel.close()
        assert _stored_span_ids(srv.db_path) == sent
        status, _ = srv.get("/ready")
        assert status == 200
    finally:
        srv.stop()
