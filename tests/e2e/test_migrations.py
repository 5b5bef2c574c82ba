"""Schema versions from the command line: migrate, DB_AUTOMIGRATE=false, a newer schema."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from otelctx.model import LogRecord, Scope
from otelctx.storage import rows, sqlite_schema
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


# -- version 1 -> 2 ----------------------------------------------------------------------------

OLD_LOG = LogRecord(
    tenant_id="t1", service_name="checkout", time_unix_nano=1_795_000_000_000_000_000,
    observed_time_unix_nano=0, severity_number=17, severity_text="ERROR",
    body="Payment gateway TIMEOUT after 30s", attributes={}, resource={}, scope=Scope(),
    trace_id="a" * 32, span_id="1" * 16, flags=0,
)  # fmt: skip
V2_INDEXES = {
    "idx_traces_tenant_duration", "idx_spans_tenant_start", "idx_logs_tenant_service_ts",
    "idx_logs_tenant_severity_ts", "idx_metric_points_tenant_service_name",
}  # fmt: skip


def make_v1_sqlite(db: Path) -> None:
    """A database as version 1 left it, holding one log."""
    with closing(sqlite3.connect(db)) as conn, conn:
        for statement in sqlite_schema.MIGRATIONS[0][1]:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version (version) VALUES (1)")
        columns = ", ".join(rows.LOG_COLUMNS)
        marks = ", ".join("?" * len(rows.LOG_COLUMNS))
        conn.execute(f"INSERT INTO logs ({columns}) VALUES ({marks})", rows.log_row(OLD_LOG))


def test_sqlite_version_1_upgrades_in_place(tmp_path: Path) -> None:
    db = tmp_path / "v1.db"
    make_v1_sqlite(db)
    env = {"DB_DSN": str(db), "DB_AUTOMIGRATE": "false", "DB_CONNECT_TIMEOUT": "2s"}
    refused = run(["serve", "--grpc-port", "0", "--http-port", "0"], env)
    assert refused.returncode == 1
    assert "schema is version 1, this otelctx needs 2" in refused.stderr

    migrated = run(["migrate"], env)
    assert migrated.returncode == 0, migrated.stderr
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (2,)
        names = {n for (n,) in conn.execute("SELECT name FROM sqlite_master")}
        assert names >= V2_INDEXES
        # SQLite's window index covers the dashboard's columns and replaces (tenant, start)
        assert "idx_traces_tenant_start_cover" in names
        assert "idx_traces_tenant_start" not in names
        assert "logs_fts" in names
        # the log stored before the upgrade is in the search index
        hit = conn.execute("SELECT rowid FROM logs_fts WHERE logs_fts MATCH '\"gateway time\"'")
        assert hit.fetchall() == [(1,)]


def make_v1_server(driver: str) -> None:
    """``driver``'s test database as version 1 left it (tables reset), holding one log."""
    backends.reset_sync(driver)
    values = rows.log_row(OLD_LOG)
    columns = ", ".join(f"`{c}`" if driver == "mysql" else c for c in rows.LOG_COLUMNS)
    marks = ", ".join(["%s"] * len(values))
    if driver == "postgres":
        import psycopg

        from otelctx.storage.postgres import schema as pg

        with psycopg.connect(backends.PG_DSN, autocommit=True) as conn:
            conn.execute(pg.SCHEMA_VERSION_TABLE)
            for statement in pg.MIGRATIONS[0][1]:
                conn.execute(statement)  # type: ignore[arg-type]
            conn.execute("INSERT INTO schema_version (version) VALUES (1)")
            conn.execute(f"INSERT INTO logs ({columns}) VALUES ({marks})", values)  # type: ignore[arg-type]
        return
    from otelctx.storage.mysql import schema as my

    with closing(backends._mysql_connect()) as conn, conn.cursor() as cur:
        for step in my.MIGRATIONS[0][1]:
            cur.execute(step.sql() if isinstance(step, my.AddIndex)
                        else step.format(collation="utf8mb4_bin"))
        cur.execute("INSERT INTO schema_version (version) VALUES (1)")
        cur.execute(f"INSERT INTO logs ({columns}) VALUES ({marks})", values)


@pytest.mark.parametrize("driver", ["postgres", "mysql"])
def test_server_version_1_upgrades_in_place(driver: str, tmp_path: Path) -> None:
    backends.require(driver)
    make_v1_server(driver)
    env = {"DB_DRIVER": driver, "DB_DSN": backends.dsn_for(driver), "DB_AUTOMIGRATE": "false",
           "DB_CONNECT_TIMEOUT": "2s", "LISTEN_HOST": "127.0.0.1"}
    refused = run(["serve", "--grpc-port", "0", "--http-port", "0"], env)
    assert refused.returncode == 1
    assert "schema is version 1, this otelctx needs 2" in refused.stderr

    migrated = run(["migrate"], env)
    assert migrated.returncode == 0, migrated.stderr
    versions = backends.query(driver, tmp_path, "SELECT version FROM schema_version ORDER BY 1")
    assert [r["version"] for r in versions] == [1, 2]
    if driver == "postgres":
        found = backends.query(driver, tmp_path, "SELECT indexname AS name FROM pg_indexes")
    else:
        found = backends.query(driver, tmp_path, "SELECT DISTINCT INDEX_NAME AS name FROM"
                               " information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()")
    assert {r["name"] for r in found} >= V2_INDEXES
    kept = backends.query(driver, tmp_path, "SELECT body FROM logs")
    assert kept == [{"body": OLD_LOG.body}]
