"""The dead-letter queue under database faults: acknowledged means stored, eventually.

While the database cannot write, group commits go to the DLQ on disk (fsynced) and the
clients are acknowledged; when it is back, the replay task stores them. With the DLQ full
under ``reject`` clients get retryable refusals and nothing acknowledged is lost.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests import backends
from tests.conftest import ServerProcess, start_server
from tests.e2e.test_durability import _request

TRACE_EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
# A commit blocked by the test's lock on the SQLite file gives up after 1 s instead of 5.
FAST_BUSY = {"SQLITE_BUSY_TIMEOUT": "1s"}


def _exporter(srv: ServerProcess) -> tuple[grpc.Channel, grpc.UnaryUnaryMultiCallable]:
    channel = grpc.insecure_channel(srv.grpc_endpoint)
    return channel, channel.unary_unary(TRACE_EXPORT, request_serializer=lambda b: b,
                                        response_deserializer=lambda b: b)  # fmt: skip


def _stored(srv: ServerProcess) -> set[str]:
    rows = backends.query(srv.driver, srv.db_path, "SELECT span_id FROM spans")
    return {r["span_id"] for r in rows}


def _wait_stored(srv: ServerProcess, want: set[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if want <= _stored(srv):
            return
        time.sleep(0.25)
    missing = want - _stored(srv)
    raise AssertionError(f"{len(missing)} acknowledged spans never stored")


@pytest.mark.timeout(120)
def test_sqlite_locked_batches_go_to_the_dlq_and_are_replayed(tmp_path: Path) -> None:
    srv = start_server(tmp_path, env={"DLQ_REPLAY_INTERVAL": "1s", **FAST_BUSY})
    channel, export = _exporter(srv)
    acked: set[str] = set()
    lock = sqlite3.connect(srv.db_path, timeout=30)
    try:
        lock.execute("BEGIN EXCLUSIVE")  # the database cannot commit (busy after 5 s)
        for seq in range(3):
            body, ids = _request(3, seq, spans=20)
            export(body, timeout=30)  # acknowledged: in the DLQ on disk
            acked.update(ids)
        assert list((tmp_path / "dlq").glob("*")), "the batches are on disk"
        _, metrics = srv.get("/metrics/prometheus")
        assert b"otelcontext_dlq_enqueued_total 3.0" in metrics
        lock.rollback()
        _wait_stored(srv, acked)
        _, metrics = srv.get("/metrics/prometheus")
        assert b"otelcontext_dlq_replayed_total 3.0" in metrics
    finally:
        lock.close()
        channel.close()
        srv.stop()


@pytest.mark.timeout(120)
def test_a_full_dlq_under_reject_refuses_retryably(tmp_path: Path) -> None:
    srv = start_server(tmp_path, env={"DLQ_MAX_FILES": "1", "DLQ_REPLAY_INTERVAL": "1s",
                                      **FAST_BUSY})  # fmt: skip
    channel, export = _exporter(srv)
    lock = sqlite3.connect(srv.db_path, timeout=30)
    acked: set[str] = set()
    try:
        lock.execute("BEGIN EXCLUSIVE")
        body, ids = _request(4, 0, spans=20)
        export(body, timeout=30)  # the one file the DLQ may hold
        acked.update(ids)
        body, _ = _request(4, 1, spans=20)
        with pytest.raises(grpc.RpcError) as refused:
            export(body, timeout=30)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        lock.rollback()
        _wait_stored(srv, acked)
    finally:
        lock.close()
        channel.close()
        srv.stop()


@pytest.mark.timeout(300)
def test_postgres_stopped_mid_export_loses_nothing_acknowledged(tmp_path: Path) -> None:
    backends.require("postgres")
    if not os.path.isdir("/etc/postgresql"):
        pytest.skip("needs this machine's PostgreSQL cluster (pg_ctlcluster)")
    srv = start_server(tmp_path, driver="postgres", env={"DLQ_REPLAY_INTERVAL": "1s"})
    channel, export = _exporter(srv)
    acked: set[str] = set()
    refused = 0
    try:
        for seq in range(40):
            if seq == 10:
                backends.pg_cluster("stop")
            if seq == 30:
                backends.pg_cluster("start")
            body, ids = _request(5, seq, spans=25)
            try:
                export(body, timeout=30)
                acked.update(ids)
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.UNAVAILABLE, err
                refused += 1
        # during the outage commits went to the DLQ: every export was acknowledged
        assert refused == 0 and len(acked) == 40 * 25
        _, metrics = srv.get("/metrics/prometheus")
        enqueued = [ln for ln in metrics.decode().splitlines()
                    if ln.startswith("otelcontext_dlq_enqueued_total")]  # fmt: skip
        assert enqueued and float(enqueued[0].split()[1]) >= 1
        _wait_stored(srv, acked, timeout=120)
    finally:
        backends.pg_cluster("start")
        channel.close()
        srv.stop()


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of this test's own (mounting needs root, as CI and this machine have)."""
    mount = tmp_path / "small-fs"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
                   check=True, capture_output=True, timeout=30)  # fmt: skip
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=30)


@pytest.mark.timeout(120)
def test_sqlite_on_a_full_disk_goes_to_the_dlq_and_replays(
    tmp_path: Path, small_fs: Path
) -> None:
    # the database on the small file system, the DLQ (tmp_path/dlq) on the normal one
    srv = start_server(tmp_path, db_path=small_fs / "otelctx.db",
                       env={"DLQ_REPLAY_INTERVAL": "1s"})  # fmt: skip
    channel, export = _exporter(srv)
    acked: set[str] = set()
    filler = small_fs / "filler"
    try:
        body, ids = _request(6, 0, spans=20)
        export(body, timeout=30)
        acked.update(ids)
        # fill the file system to the last byte
        with contextlib.suppress(OSError), filler.open("wb") as f:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        for seq in range(1, 6):
            body, ids = _request(6, seq, spans=200)
            export(body, timeout=30)  # acknowledged although the database's disk is full
            acked.update(ids)
        _, metrics = srv.get("/metrics/prometheus")
        assert b"otelcontext_dlq_enqueued_total" in metrics
        assert b"otelcontext_dlq_enqueued_total 0.0" not in metrics
        filler.unlink()  # space again: the replay task stores the batches
        _wait_stored(srv, acked)
    finally:
        channel.close()
        srv.stop()


@pytest.mark.timeout(120)
def test_evict_oldest_counts_and_warns_for_what_it_evicts(tmp_path: Path) -> None:
    srv = start_server(tmp_path, env={"DLQ_MAX_FILES": "2", "DLQ_FULL_POLICY": "evict_oldest",
                                      "DLQ_REPLAY_INTERVAL": "1s", **FAST_BUSY})  # fmt: skip
    channel, export = _exporter(srv)
    lock = sqlite3.connect(srv.db_path, timeout=30)
    batches: list[set[str]] = []
    try:
        lock.execute("BEGIN EXCLUSIVE")
        for seq in range(4):
            body, ids = _request(7, seq, spans=10)
            export(body, timeout=30)  # all acknowledged; the DLQ keeps the newest two
            batches.append(set(ids))
        _, metrics = srv.get("/metrics/prometheus")
        assert b"otelcontext_dlq_evicted_total 2.0" in metrics
        evicted_bytes = [ln for ln in metrics.decode().splitlines()
                         if ln.startswith("otelcontext_dlq_evicted_bytes_total")]  # fmt: skip
        assert float(evicted_bytes[0].split()[1]) > 0
        warnings = [ln for ln in srv.log_text().splitlines() if "DLQ full: evicted" in ln]
        assert len(warnings) == 2, "one warning per eviction"
        lock.rollback()
        _wait_stored(srv, batches[2] | batches[3])
        assert not (batches[0] | batches[1]) & _stored(srv), "the evicted batches are gone"
    finally:
        lock.close()
        channel.close()
        srv.stop()


@pytest.mark.timeout(120)
def test_dlq_files_left_at_shutdown_are_replayed_after_a_restart(tmp_path: Path) -> None:
    env = {"DLQ_REPLAY_INTERVAL": "1s", **FAST_BUSY}
    srv = start_server(tmp_path, env=env)
    channel, export = _exporter(srv)
    lock = sqlite3.connect(srv.db_path, timeout=30)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        body, acked = _request(8, 0, spans=30)
        export(body, timeout=30)  # acknowledged into the DLQ
        channel.close()
        assert srv.stop() == 0
        assert list((tmp_path / "dlq").glob("*.dlq")), "still on disk after the stop"
    finally:
        lock.close()
    restarted = start_server(tmp_path, env=env, db_path=srv.db_path)
    try:
        _wait_stored(restarted, set(acked))
        # the file is removed just after its spans commit: wait for that, briefly
        deadline = time.monotonic() + 10
        while list((tmp_path / "dlq").glob("*.dlq")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not list((tmp_path / "dlq").glob("*.dlq")), "replayed but never removed"
    finally:
        restarted.stop()
