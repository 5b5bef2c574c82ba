"""Shared fixtures.

Test rules: servers listen on 127.0.0.1 with port 0 and report the real ports; every
server is stopped by the fixture that started it; clients are the real OpenTelemetry
SDK exporters where a client is needed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

_READY = re.compile(r"otelctx ready: grpc=[^:]+:(\d+) http=[^:]+:(\d+)")


@dataclass
class ServerProcess:
    """An ``otelctx serve`` subprocess on free ports."""

    proc: subprocess.Popen[str]
    grpc_port: int
    http_port: int
    db_path: Path
    output: list[str] = field(default_factory=list)
    driver: str = "sqlite"

    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(self.http_base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def log_text(self) -> str:
        return "".join(self.output)


def start_server(
    tmp_path: Path,
    env: dict[str, str] | None = None,
    db_path: Path | None = None,
    driver: str = "sqlite",
) -> ServerProcess:
    """Start ``otelctx serve`` on ``driver`` (postgres/mysql: tables reset first)."""
    from tests import backends

    db = db_path or tmp_path / "otelctx.db"
    full_env = {
        **os.environ,
        "LISTEN_HOST": "127.0.0.1",
        "DB_DRIVER": "sqlite",
        "DB_DSN": str(db),
        "DLQ_PATH": str(tmp_path / "dlq"),
        "LOG_LEVEL": "INFO",
        **(backends.server_env(driver) if driver != "sqlite" else {}),
        **(env or {}),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "otelctx", "serve", "--grpc-port", "0", "--http-port", "0"],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    output: list[str] = []
    ready = threading.Event()
    ports: list[int] = []

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            output.append(line)
            m = _READY.search(line)
            if m and not ports:
                ports.extend((int(m.group(1)), int(m.group(2))))
                ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + 30
    while not ready.wait(0.1):
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("otelctx did not become ready:\n" + "".join(output))
    if not ports:
        proc.wait(5)
        raise RuntimeError("otelctx exited before ready:\n" + "".join(output))
    return ServerProcess(proc, ports[0], ports[1], db, output, driver)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path)
    try:
        yield srv
    finally:
        srv.stop()
