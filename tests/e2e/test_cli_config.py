"""``otelctx check-config`` and ``otelctx serve`` as an operator runs them.

Test rules: each command is a real subprocess (``python -m otelctx``) with a clean
environment built here (only PATH and the variables under test, never the caller's
OTel or DB settings), servers listen on 127.0.0.1 with port 0, and every run has a
hard timeout: a refused configuration must exit at once, not after starting anything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import start_server

RUN_TIMEOUT_S = 20
SECRET = "s3cret"


def base_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LISTEN_HOST": "127.0.0.1",
        "DB_DRIVER": "sqlite",
        "DB_DSN": str(tmp_path / "data" / "otelctx.db"),
    }


def run(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "otelctx", command]
    if command == "serve":
        args += ["--grpc-port", "0", "--http-port", "0"]
    proc = subprocess.Popen(
        args,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        stdout, stderr = proc.communicate(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            stdout, stderr = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        pytest.fail(
            f"`otelctx {command}` did not finish within {RUN_TIMEOUT_S} s\n"
            f"stdout:\n{stdout}\nstderr:\n{stderr}"
        )
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


# (variable, bad value, text of the allowed range the message must show)
BAD_VALUES = [
    ("GRPC_MAX_RECV_MB", "0", "1..256"),
    ("GRPC_MAX_RECV_MB", "257", "1..256"),
    ("GRPC_MAX_RECV_MB", "16MB", "1..256"),
    ("GRPC_MAX_CONCURRENT_STREAMS", "0", "1..1000000"),
    ("GRPC_MAX_CONCURRENT_STREAMS", "1000001", "1..1000000"),
    ("OTLP_HTTP_MAX_BODY_MB", "0", "1..256"),
    ("HTTP_PORT", "0", "1..65535"),
    ("HTTP_PORT", "70000", "1..65535"),
    ("HTTP_PORT", "abc", "1..65535"),
    ("GRPC_PORT", "-1", "1..65535"),
    ("HOT_RETENTION_DAYS", "0", "1..36500"),
    ("HOT_RETENTION_DAYS", "36501", "1..36500"),
    ("METRIC_MAX_CARDINALITY", "-1", "0..10000000"),
    ("INGEST_MIN_SEVERITY", "LOUD", "1..24"),
    ("INGEST_QUEUE_MAX_ITEMS", "10", "1000..10000000"),
    ("DB_DRIVER", "oracle", "postgres"),
    ("LOG_LEVEL", "verbose", "DEBUG"),
    ("OTLP_TRUST_RESOURCE_TENANT", "maybe", "true"),
    ("OTELCONTEXT_ALLOW_SQLITE_PROD", "perhaps", "true"),
    ("SHUTDOWN_TIMEOUT", "forever", "1s..3600s"),
    ("SHUTDOWN_TIMEOUT", "-5s", "1s..3600s"),
    ("DEFAULT_TENANT", "a\x01b", "control"),
]


@pytest.mark.parametrize("command", ["serve", "check-config"])
@pytest.mark.parametrize(
    ("var", "value", "allowed"),
    BAD_VALUES,
    ids=[f"{var}={value!r}" for var, value, _ in BAD_VALUES],
)
def test_bad_value_exits_2_with_one_line(
    tmp_path: Path, command: str, var: str, value: str, allowed: str
) -> None:
    result = run(command, {**base_env(tmp_path), var: value})
    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert f"{var}=" in lines[0]
    assert allowed in lines[0]
    assert result.stdout == ""
    # Refused before anything was created.
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("command", ["serve", "check-config"])
def test_production_refuses_sqlite(tmp_path: Path, command: str) -> None:
    env = {**base_env(tmp_path), "APP_ENV": "production"}
    result = run(command, env)
    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "OTELCONTEXT_ALLOW_SQLITE_PROD" in lines[0]
    assert not (tmp_path / "data").exists()


def test_production_sqlite_allowed_explicitly(tmp_path: Path) -> None:
    env = {
        **base_env(tmp_path),
        "APP_ENV": "production",
        "OTELCONTEXT_ALLOW_SQLITE_PROD": "true",
    }
    result = run("check-config", env)
    assert result.returncode == 0, result
    assert "APP_ENV=production" in result.stdout.splitlines()
    assert "OTELCONTEXT_ALLOW_SQLITE_PROD=true" in result.stdout.splitlines()


def test_check_config_prints_settings_and_masks_dsn_password(tmp_path: Path) -> None:
    env = {
        **base_env(tmp_path),
        "DB_DRIVER": "postgres",
        "DB_DSN": f"postgres://u:{SECRET}@h/db",
    }
    result = run("check-config", env)
    assert result.returncode == 0, result
    assert SECRET not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "GRPC_MAX_RECV_MB=16" in lines
    assert "OTLP_HTTP_MAX_BODY_MB=16" in lines
    assert "DB_DRIVER=postgres" in lines
    dsn = [line for line in lines if line.startswith("DB_DSN=")]
    assert len(dsn) == 1
    assert dsn[0].startswith("DB_DSN=postgres://u:") and dsn[0].endswith("@h/db")


def test_api_key_error_does_not_leak_the_key(tmp_path: Path) -> None:
    env = {**base_env(tmp_path), "API_KEY": "k3y-" + SECRET + "\x07"}
    for command in ("check-config", "serve"):
        result = run(command, env)
        assert result.returncode == 2, result
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert "API_KEY" in result.stderr
        assert SECRET not in result.stdout + result.stderr


def test_check_config_shows_the_key_file_path_and_count_never_a_key(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"# two tenants\nk3y-a-{SECRET}=acme\nk3y-b-{SECRET}: globex\n")
    env = {**base_env(tmp_path), "API_KEY": "k3y-" + SECRET, "API_TENANT_KEYS_FILE": str(keys)}
    result = run("check-config", env)
    assert result.returncode == 0, result
    lines = result.stdout.splitlines()
    assert f"API_TENANT_KEYS_FILE={keys}" in lines
    assert "API_KEY=********" in lines
    assert "# API_TENANT_KEYS_FILE holds 2 keys for 2 tenants (keys are never shown)" in lines
    assert SECRET not in result.stdout + result.stderr
    assert "unauthenticated" not in result.stderr


@pytest.mark.parametrize("command", ["check-config", "serve"])
def test_bad_key_file_exits_2_naming_the_line_never_the_key(
    tmp_path: Path, command: str
) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"k3y-{SECRET}=acme\n\n# again\nk3y-{SECRET}: globex\n")
    result = run(command, {**base_env(tmp_path), "API_TENANT_KEYS_FILE": str(keys)})
    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "API_TENANT_KEYS_FILE=" in lines[0] and "line 4: duplicate key" in lines[0]
    assert SECRET not in result.stdout + result.stderr
    assert not (tmp_path / "data").exists()


def test_check_config_warns_when_unauthenticated(tmp_path: Path) -> None:
    result = run("check-config", base_env(tmp_path))
    assert result.returncode == 0, result
    warnings = [ln for ln in result.stderr.splitlines() if "unauthenticated" in ln]
    assert len(warnings) == 1, result.stderr


def test_bad_dsn_error_does_not_leak_password(tmp_path: Path) -> None:
    env = {**base_env(tmp_path), "DB_DRIVER": "postgres", "DB_DSN": f"postgres://u:{SECRET}@h/\x07"}
    for command in ("check-config", "serve"):
        result = run(command, env)
        assert result.returncode == 2, result
        assert len(result.stderr.splitlines()) == 1, result.stderr
        assert "DB_DSN" in result.stderr
        assert SECRET not in result.stdout + result.stderr


def test_serve_logs_sqlite_capacity_warning(tmp_path: Path) -> None:
    server = start_server(tmp_path, env={"APP_ENV": "development"})
    try:
        assert server.get("/live")[0] == 200
    finally:
        assert server.stop() == 0
    warnings = [line for line in server.log_text().splitlines() if "SQLite storage" in line]
    assert len(warnings) == 1, server.log_text()
    assert "WARNING" in warnings[0]
    assert "PostgreSQL" in warnings[0]


def test_serve_exits_1_when_database_directory_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a regular file\n")
    dsn = blocker / "sub" / "otelctx.db"
    result = run("serve", {**base_env(tmp_path), "DB_DSN": str(dsn)})
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("otelctx:")]
    assert len(errors) == 1, result.stderr
    assert "cannot start" in errors[0]
    assert str(blocker) in errors[0]
    # Besides that line only log records (the startup warning) may appear.
    others = [line for line in result.stderr.splitlines() if line not in errors]
    assert all(" WARNING " in line or " INFO " in line for line in others), result.stderr
    assert "ready" not in result.stderr
