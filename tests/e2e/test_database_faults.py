"""The database misbehaving: unreachable at start, wrong database, restarted while running.

The restart test stops and starts this machine's PostgreSQL cluster (it needs
pg_ctlcluster and the rights to use it, as CI has); PostgreSQL is started again whatever
happens.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from tests import backends
from tests.conftest import start_server
from tests.e2e.test_durability import _request

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
SECRET = "s3cretPW"


def serve_once(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "otelctx", "serve", "--grpc-port", "0", "--http-port", "0"],
        env={**os.environ, "LISTEN_HOST": "127.0.0.1", **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("driver", "dsn"),
    [
        ("postgres", f"postgresql://postgres:{SECRET}@127.0.0.1:1/test"),
        ("mysql", f"mysql://root:{SECRET}@127.0.0.1:1/test"),
    ],
)
def test_unreachable_database_at_start_retries_then_exits_1(driver: str, dsn: str) -> None:
    t0 = time.monotonic()
    done = serve_once({"DB_DRIVER": driver, "DB_DSN": dsn, "DB_CONNECT_TIMEOUT": "3s"})
    elapsed = time.monotonic() - t0
    assert done.returncode == 1
    assert 2.5 <= elapsed < 30, "retried for about DB_CONNECT_TIMEOUT"
    assert "gave up after DB_CONNECT_TIMEOUT=3s" in done.stderr
    assert "retrying in" in done.stderr
    assert SECRET not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("driver", ["postgres", "mysql"])
def test_unknown_database_fails_at_once_without_secrets(driver: str) -> None:
    backends.require(driver)
    host = "127.0.0.1:5432" if driver == "postgres" else "127.0.0.1:3306"
    user = "postgres" if driver == "postgres" else "root"
    dsn = f"{driver}://{user}:{SECRET}@{host}/otelctx_no_such_db"
    t0 = time.monotonic()
    done = serve_once({"DB_DRIVER": driver, "DB_DSN": dsn, "DB_CONNECT_TIMEOUT": "30s"})
    assert done.returncode == 1
    assert time.monotonic() - t0 < 20, "not retried"
    lines = [ln for ln in done.stderr.splitlines() if "cannot start" in ln]
    assert len(lines) == 1 and "otelctx_no_such_db" in lines[0]
    assert SECRET not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr


def _wait_for(srv_get, ready: bool, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, body = srv_get("/ready")
        if (status == 200) == ready:
            return
        time.sleep(0.5)
    raise AssertionError(f"/ready did not become {'200' if ready else '503'}: {body!r}")


@pytest.mark.timeout(300)
def test_postgres_restart_while_running(tmp_path: Path) -> None:
    backends.require("postgres")
    if shutil.which("pg_ctlcluster") is None or not os.path.isdir("/etc/postgresql"):
        pytest.skip("needs this machine's PostgreSQL cluster (pg_ctlcluster)")
    srv = start_server(tmp_path, driver="postgres", env={"DLQ_REPLAY_INTERVAL": "1s"})
    channel = grpc.insecure_channel(srv.grpc_endpoint)
    export = channel.unary_unary(TRACE_EXPORT, request_serializer=lambda b: b,
                                 response_deserializer=lambda b: b)  # fmt: skip
    acked: set[str] = set()
    try:
        body, ids = _request(1, 0, spans=50)
        export(body, timeout=10)
        acked.update(ids)
        backends.pg_cluster("stop")
        try:
            _wait_for(srv.get, ready=False)
            body, ids = _request(1, 1, spans=50)
            export(body, timeout=30)  # acknowledged: written to the DLQ
            acked.update(ids)
            _, metrics = srv.get("/metrics/prometheus")
            assert b"otelcontext_dlq_enqueued_total 1.0" in metrics
            assert b'otelcontext_db_up{driver="postgres"} 0.0' in metrics
        finally:
            backends.pg_cluster("start")
        _wait_for(srv.get, ready=True)
        for seq in range(2, 5):
            body, ids = _request(1, seq, spans=50)
            export(body, timeout=30)
            acked.update(ids)
        deadline = time.monotonic() + 60  # the replay task stores the DLQ batch
        while time.monotonic() < deadline:
            rows = backends.query("postgres", srv.db_path, "SELECT span_id FROM spans")
            if acked <= {r["span_id"] for r in rows}:
                break
            time.sleep(0.5)
        assert acked <= {r["span_id"] for r in rows}
        status, body = srv.get("/ready")
        assert status == 200 and json.loads(body)["database"] == "ok"
    finally:
        channel.close()
        srv.stop()


@pytest.mark.timeout(120)
def test_pool_gauges_report_the_configured_pool(tmp_path: Path) -> None:
    backends.require("postgres")
    srv = start_server(tmp_path, driver="postgres",
                       env={"DB_MAX_OPEN_CONNS": "7", "DB_MAX_IDLE_CONNS": "2"})  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        gauges: dict[str, float] = {}
        while time.monotonic() < deadline and gauges.get("max_open") != 7:
            time.sleep(0.5)
            _, text = srv.get("/metrics/prometheus")
            gauges = {
                line.split()[0].removeprefix("otelcontext_db_pool_"): float(line.split()[1])
                for line in text.decode().splitlines()
                if line.startswith("otelcontext_db_pool_")
            }
        assert gauges["max_open"] == 7
        assert 1 <= gauges["open_connections"] <= 7
        assert gauges["in_use"] + gauges["idle"] == gauges["open_connections"]
        assert gauges["wait_count"] >= 0 and gauges["wait_duration_seconds"] >= 0
    finally:
        srv.stop()
