"""Schema versions from the command line: migrate, DB_AUTOMIGRATE=false, a newer schema."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests import backends


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "otelctx", *args], env={**os.environ, **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize("driver", backends.BACKENDS)
def test_automigrate_off_refuses_then_migrate_lets_it_start(driver: str, tmp_path: Path) -> None:
    backends.require(driver)
    env = {"LISTEN_HOST": "127.0.0.1", "DB_AUTOMIGRATE": "false", "DB_CONNECT_TIMEOUT": "2s"}
    if driver == "sqlite":
        env["DB_DSN"] = str(tmp_path / "m.db")
    else:
        env |= backends.server_env(driver)
    refused = run(["serve", "--grpc-port", "0", "--http-port", "0"], env)
    assert refused.returncode == 1
    assert "otelctx migrate" in refused.stderr
    assert "Traceback" not in refused.stderr

    migrated = run(["migrate"], env)
    assert migrated.returncode == 0, migrated.stderr
    assert "schema is up to date" in migrated.stderr
    again = run(["migrate"], env)
    assert again.returncode == 0, "migrate is idempotent"


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "newer.db"
    env = {"DB_DSN": str(db)}
    assert run(["migrate"], env).returncode == 0
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (999)")
    refused = run(["migrate"], env)
    assert refused.returncode == 1
    assert "newer than this otelctx" in refused.stderr
