"""The load simulator end to end: short runs against a real otelctx, checked with --verify.

Test rules: each test starts ``otelctx serve`` on port 0 (tests/conftest.py) on SQLite
and runs ``python -m loadtest`` as a subprocess, the way an operator would; the
simulator's own ``--verify`` reads the stored counts back through the service-map API,
and the tests read its output. Every subprocess has a timeout.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from tests.conftest import ServerProcess, start_server

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ["--services", "20", "--rate", "50", "--duration", "5s", "--warmup", "1s"]


def _simulate(
    srv: ServerProcess, *flags: str, protocol: str = "grpc", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    endpoint = (
        ["--endpoint", srv.grpc_endpoint, "--insecure"]
        if protocol == "grpc"
        else ["--protocol", "http", "--endpoint", srv.http_base]
    )
    return subprocess.run(
        [sys.executable, "-m", "loadtest", *endpoint, "--api-endpoint", srv.http_base, *flags],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


def _figure(output: str, label: str) -> int:
    m = re.search(rf"^{re.escape(label)}\s+(\d+)", output, re.MULTILINE)
    assert m, f"no {label!r} in:\n{output}"
    return int(m.group(1))


def _assert_clean(done: subprocess.CompletedProcess[str], expected_spans: int) -> None:
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "lost=0" in out.splitlines(), out
    sent, acked = _figure(out, "spans sent"), _figure(out, "spans acked")
    assert sent == acked
    assert expected_spans <= sent <= expected_spans + 20 * 3  # parents may overshoot by 3
    assert "permanent failures 0 exports (0 spans)" in out
    assert re.search(r"^\[T\+5s\] sent=\d+ acked=\d+ refused=\d+ errors=\d+ rate=\d+/s "
                     r"ack_p99=\d+ms$", out, re.MULTILINE), out  # fmt: skip


@pytest.mark.timeout(180)
def test_grpc_smoke_run_stores_every_acknowledged_span(tmp_path: Path) -> None:
    srv = start_server(tmp_path)
    try:
        done = _simulate(srv, *SMOKE, "--verify")
        _assert_clean(done, 20 * 50 * 5)
        # the edges from every service to the next are in the service map
        status, body = srv.get("/api/metrics/service-map")
        assert status == 200
        edges = {(e["source"], e["target"]) for e in orjson.loads(body)["edges"]}
        assert ("loadsim-svc-000", "loadsim-svc-001") in edges
        assert ("loadsim-svc-019", "loadsim-svc-000") in edges
    finally:
        srv.stop()


@pytest.mark.timeout(180)
def test_http_smoke_run_with_logs_metrics_and_a_tenant(tmp_path: Path) -> None:
    srv = start_server(tmp_path)
    try:
        done = _simulate(srv, *SMOKE, "--verify", "--tenant-id", "loadtest-smoke",
                         "--logs-per-span", "1", "--metrics-interval", "2s",
                         protocol="http")  # fmt: skip
        _assert_clean(done, 20 * 50 * 5)
        m = re.search(r"^logs sent/acked\s+(\d+) / (\d+)$", done.stdout, re.MULTILINE)
        assert m and m.group(1) == m.group(2) == str(_figure(done.stdout, "spans acked"))
        assert re.search(r"^points sent/acked\s+(\d+) / \1$", done.stdout, re.MULTILINE)
        # everything went to the tenant: the default tenant sees no loadsim service
        status, body = srv.get("/api/metrics/service-map")
        assert status == 200 and b"loadsim-svc" not in body
    finally:
        srv.stop()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_refusals_are_retried_and_nothing_acknowledged_is_lost(
    tmp_path: Path, protocol: str
) -> None:
    """A queue of 1,000 items and 20 services sending 1,500-span batches at the same
    instant: most first attempts are refused (RetryInfo / Retry-After) and retried."""
    srv = start_server(tmp_path, env={"INGEST_QUEUE_MAX_ITEMS": "1000"})
    try:
        done = _simulate(srv, "--services", "20", "--rate", "1500", "--duration", "2s",
                         "--warmup", "0", "--verify", protocol=protocol)  # fmt: skip
        out = done.stdout
        assert done.returncode == 0, out + done.stderr
        assert "lost=0" in out.splitlines()
        assert _figure(out, "refused attempts") > 0
        assert _figure(out, "retried attempts") == _figure(out, "refused attempts")
        assert _figure(out, "spans acked") == _figure(out, "spans sent")
        assert "permanent failures 0 exports (0 spans)" in out
    finally:
        srv.stop()


@pytest.mark.timeout(180)
def test_sigint_stops_launching_flushes_and_summarises(tmp_path: Path) -> None:
    srv = start_server(tmp_path)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "loadtest", "--endpoint", srv.grpc_endpoint, "--insecure",
             "--api-endpoint", srv.http_base, "--services", "10", "--duration", "60s",
             "--warmup", "0", "--verify"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        time.sleep(4)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=90)
        assert time.monotonic() - t0 < 30, "a signal must end the run long before --duration"
        assert proc.returncode == 0, out + err
        assert "SIGINT: stop launching" in out
        assert "(interrupted)" in out
        assert "lost=0" in out.splitlines()
        assert 0 < _figure(out, "spans acked") == _figure(out, "spans sent") < 10 * 50 * 60
    finally:
        srv.stop()


@pytest.mark.timeout(240)
def test_run_local_starts_a_server_and_prints_the_healthy_markers(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DB_DRIVER", None)
    done = subprocess.run(
        [sys.executable, "-m", "loadtest.run_local", "--services", "5", "--duration", "2s",
         "--warmup", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=200, env=env,
    )  # fmt: skip
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    assert "lost=0" in out.splitlines()
    for marker in ("refused exports", "DLQ batches enqueued", "retention failures",
                   "DB pool", "server CPU", "server peak RSS"):  # fmt: skip
        assert re.search(rf"^{re.escape(marker)}.*\[(ok|CHECK|-)\] healthy:", out, re.M), out
    assert re.search(r"^server CPU\s+\d+\.\d\d cores", out, re.MULTILINE)
    assert re.search(r"^server peak RSS\s+\d+ MiB", out, re.MULTILINE)
    assert "otelctx stopped (exit status 0)" in out
