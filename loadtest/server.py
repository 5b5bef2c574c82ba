"""A fresh ``otelctx serve`` for a local load run (used by ``run_local``).

``LocalServer.start()`` is a context manager: it starts the server on free ports
(``--grpc-port 0 --http-port 0``, the real ports read from the ``otelctx ready:`` log
line), on SQLite in a temporary directory unless ``DB_DRIVER`` (other than sqlite) and
``DB_DSN`` are in the environment, with its DLQ in the temporary directory, waits until
``/ready`` answers 200, and on exit stops it with SIGTERM (SIGKILL after a deadline)
and removes the directory. The server runs in its own session, so a terminal's Ctrl-C
reaches it only through whoever started it (``run_local`` stops it after the markers).
Its log goes to ``server.log`` in that directory; the tail is in the error when the
server does not come up.

``LOADTEST_SERVER_PROFILE=<file>`` runs the server under ``cProfile`` (see
``loadtest.profile_server``) and writes the profile there when it stops. Profiling slows
the server down; use it to see where the CPU goes, not to measure how much.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

_READY = re.compile(r"otelctx ready: grpc=[^ ]+:(\d+) http=[^ ]+:(\d+)")
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
PROFILE_ENV = "LOADTEST_SERVER_PROFILE"


class ServerError(Exception):
    """The server did not start or answer; the message has its log tail."""


@dataclass
class LocalServer:
    proc: subprocess.Popen[str]
    grpc_port: int
    http_port: int
    workdir: Path
    driver: str
    log_lines: list[str] = field(default_factory=list)

    @property
    def http_base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def log_tail(self, n: int = 30) -> str:
        return "".join(self.log_lines[-n:])

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.http_base + path, timeout=timeout) as resp:
                return int(resp.status), resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    @classmethod
    @contextmanager
    def start(cls, extra_env: dict[str, str] | None = None) -> Iterator[LocalServer]:
        workdir = Path(tempfile.mkdtemp(prefix="otelctx-loadtest-"))
        env = {**os.environ, "LISTEN_HOST": "127.0.0.1", "DLQ_PATH": str(workdir / "dlq")}
        driver = env.get("DB_DRIVER", "sqlite").strip().lower() or "sqlite"
        if driver == "sqlite":
            env["DB_DRIVER"] = "sqlite"
            env["DB_DSN"] = str(workdir / "otelctx.db")
        env.update(extra_env or {})
        profile = env.get(PROFILE_ENV)
        command = ["-m", "loadtest.profile_server", profile] if profile else ["-m", "otelctx"]
        proc = subprocess.Popen(
            [sys.executable, *command, "serve", "--grpc-port", "0", "--http-port", "0"],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        server: LocalServer | None = None
        try:
            server = cls._await_ready(proc, workdir, driver)
            yield server
        finally:
            if server is not None:
                server.stop()
            elif proc.poll() is None:
                proc.kill()
                proc.wait()
            shutil.rmtree(workdir, ignore_errors=True)

    @classmethod
    def _await_ready(cls, proc: subprocess.Popen[str], workdir: Path, driver: str) -> LocalServer:
        lines: list[str] = []
        ports: list[int] = []
        seen = threading.Event()
        log_path = workdir / "server.log"

        def pump() -> None:
            # keeps reading until the server exits, so its stderr pipe never fills up
            assert proc.stderr is not None
            with log_path.open("a") as log:
                for line in proc.stderr:
                    lines.append(line)
                    log.write(line)
                    m = _READY.search(line)
                    if m and not ports:
                        ports.extend((int(m.group(1)), int(m.group(2))))
                        seen.set()
            seen.set()

        threading.Thread(target=pump, name="otelctx-log", daemon=True).start()
        if not seen.wait(STARTUP_TIMEOUT_S) or not ports:
            raise ServerError("otelctx did not start:\n" + "".join(lines[-30:]))
        server = cls(proc, ports[0], ports[1], workdir, driver, lines)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            try:
                if server.get("/ready", timeout=5)[0] == 200:
                    return server
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise ServerError("otelctx never became ready:\n" + server.log_tail())
            time.sleep(0.2)
