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
from otelctx.storage.mysql import schema as mysql_schema
from otelctx.storage.postgres import schema as postgres_schema
from tests import backends

# each backend's schema has its own versions (SQLite's v4 has no PostgreSQL/MySQL twin)
VERSION = {"sqlite": sqlite_schema.SCHEMA_VERSION, "postgres": postgres_schema.SCHEMA_VERSION,
           "mysql": mysql_schema.SCHEMA_VERSION}  # fmt: skip


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


# -- older versions -> the current one --------------------------------------------------------

OLD_LOG = LogRecord(
    tenant_id="t1", service_name="checkout", time_unix_nano=1_795_000_000_000_000_000,
    observed_time_unix_nano=0, severity_number=17, severity_text="ERROR",
    body="Payment gateway TIMEOUT after 30s", attributes={}, resource={}, scope=Scope(),
    trace_id="a" * 32, span_id="1" * 16, flags=0,
)  # fmt: skip
OLD_TRACE = "b" * 32
T_OLD = 1_795_000_000_000_000_000
V2_INDEXES = {
    "idx_spans_tenant_start", "idx_logs_tenant_service_ts",
    "idx_logs_tenant_severity_ts", "idx_metric_points_tenant_service_name",
}  # fmt: skip
V3_TABLES = {"investigations", "graph_snapshots", "drain_templates", "dlq_replays"}
V3_INDEXES = {
    "idx_investigations_tenant_created", "idx_investigations_tenant_trigger",
    "idx_investigations_tenant_root", "idx_graph_snapshots_tenant_created",
}  # fmt: skip
# the spans index the graph's rebuild reads through (PostgreSQL's holds the id too)
SPANS_START = {"sqlite": "idx_spans_start", "postgres": "idx_spans_start_id",
               "mysql": "idx_spans_start"}  # fmt: skip
# what orders traces by duration: SQLite's v4 class index replaced the exact one
TRACES_DURATION = {"sqlite": "idx_traces_tenant_duration_class",
                   "postgres": "idx_traces_tenant_duration",
                   "mysql": "idx_traces_tenant_duration"}  # fmt: skip
OLD_VERSIONS = [1, 2]
SQLITE_OLD_VERSIONS = [1, 2, 3]


def make_old_sqlite(db: Path, version: int) -> None:
    """A database as ``version`` left it, holding one log."""
    with closing(sqlite3.connect(db)) as conn, conn:
        for v, statements in sqlite_schema.MIGRATIONS:
            if v <= version:
                for statement in statements:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (v,))
        columns = ", ".join(rows.LOG_COLUMNS)
        marks = ", ".join("?" * len(rows.LOG_COLUMNS))
        conn.execute(f"INSERT INTO logs ({columns}) VALUES ({marks})", rows.log_row(OLD_LOG))
        conn.execute(
            "INSERT INTO traces (tenant_id, trace_id, root_service, root_operation, root_is_entry,"
            " root_start, start_time, end_time, duration_ns, span_count, error_count,"
            " status_code) VALUES (?, ?, 'checkout', 'pay', 1, ?, ?, ?, ?, 3, 1, 2)",
            ("t1", OLD_TRACE, T_OLD, T_OLD, T_OLD + 250_000_000, 250_000_000),
        )


def check_current(driver: str, db: Path) -> None:
    """Every version applied once, the indexes and tables of each there, the old log kept."""
    versions = backends.query(driver, db, "SELECT version FROM schema_version ORDER BY 1")
    assert [r["version"] for r in versions] == list(range(1, VERSION[driver] + 1))
    if driver == "sqlite":
        found = backends.query(driver, db, "SELECT name FROM sqlite_master")
    elif driver == "postgres":
        found = backends.query(driver, db, "SELECT indexname AS name FROM pg_indexes UNION "
                               "SELECT tablename FROM pg_tables")  # fmt: skip
    else:
        found = backends.query(driver, db, "SELECT DISTINCT INDEX_NAME AS name FROM"
                               " information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()"
                               " UNION SELECT TABLE_NAME FROM information_schema.TABLES"
                               " WHERE TABLE_SCHEMA = DATABASE()")  # fmt: skip
    names = {r["name"] for r in found}
    assert names >= V2_INDEXES | V3_TABLES | V3_INDEXES | {SPANS_START[driver],
                                                            TRACES_DURATION[driver]}  # fmt: skip
    kept = backends.query(driver, db, "SELECT body FROM logs")
    assert kept == [{"body": OLD_LOG.body}]


@pytest.mark.parametrize("version", SQLITE_OLD_VERSIONS)
def test_sqlite_older_versions_upgrade_in_place(tmp_path: Path, version: int) -> None:
    db = tmp_path / f"v{version}.db"
    make_old_sqlite(db, version)
    env = {"DB_DSN": str(db), "DB_AUTOMIGRATE": "false", "DB_CONNECT_TIMEOUT": "2s"}
    refused = run(["serve", "--grpc-port", "0", "--http-port", "0"], env)
    assert refused.returncode == 1
    assert (f"schema is version {version}, this otelctx needs "
            f"{sqlite_schema.SCHEMA_VERSION}") in refused.stderr  # fmt: skip

    migrated = run(["migrate"], env)
    assert migrated.returncode == 0, migrated.stderr
    check_current("sqlite", db)
    with closing(sqlite3.connect(db)) as conn:
        names = {n for (n,) in conn.execute("SELECT name FROM sqlite_master")}
        # SQLite's window index covers the dashboard's columns and replaces (tenant, start)
        assert "idx_traces_tenant_start_cover" in names
        assert "idx_traces_tenant_start" not in names
        assert "idx_traces_tenant_duration" not in names  # v4: the class index instead
        assert "logs_fts" in names
        # the log stored before the upgrade is in the search index
        hit = conn.execute("SELECT rowid FROM logs_fts WHERE logs_fts MATCH '\"gateway time\"'")
        assert hit.fetchall() == [(1,)]
        # v4 rebuilt traces with a rowid: the trace summary kept, its duration class computed
        kept = conn.execute("SELECT trace_id, duration_ns, span_count, duration_class"
                            " FROM traces").fetchall()  # fmt: skip
        assert kept == [(OLD_TRACE, 250_000_000, 3, 92)]
        again = conn.execute(  # the upsert's target is now a unique index
            "INSERT INTO traces (tenant_id, trace_id, root_service, root_operation,"
            " root_is_entry, root_start, start_time, end_time, duration_ns, span_count,"
            " error_count, status_code) VALUES ('t1', ?, '', '', 0, 0, 0, 0, 0, 1, 0, 0)"
            " ON CONFLICT (tenant_id, trace_id) DO UPDATE SET span_count = span_count + 1"
            " RETURNING span_count", (OLD_TRACE,)).fetchall()  # fmt: skip
        assert again == [(4,)]


def make_old_server(driver: str, version: int) -> None:
    """``driver``'s test database as ``version`` left it (tables reset), holding one log."""
    backends.reset_sync(driver)
    values = rows.log_row(OLD_LOG)
    columns = ", ".join(f"`{c}`" if driver == "mysql" else c for c in rows.LOG_COLUMNS)
    marks = ", ".join(["%s"] * len(values))
    if driver == "postgres":
        import psycopg

        from otelctx.storage.postgres import schema as pg

        with psycopg.connect(backends.PG_DSN, autocommit=True) as conn:
            conn.execute(pg.SCHEMA_VERSION_TABLE)
            for v, statements in pg.MIGRATIONS:
                if v <= version:
                    for statement in statements:
                        conn.execute(statement)  # type: ignore[arg-type]
                    conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (v,))
            conn.execute(f"INSERT INTO logs ({columns}) VALUES ({marks})", values)  # type: ignore[arg-type]
        return
    from otelctx.storage.mysql import schema as my

    with closing(backends._mysql_connect()) as conn, conn.cursor() as cur:
        for v, steps in my.MIGRATIONS:
            if v <= version:
                for step in steps:
                    cur.execute(step.sql() if isinstance(step, my.AddIndex)
                                else step.format(collation="utf8mb4_bin"))  # fmt: skip
                cur.execute("INSERT INTO schema_version (version) VALUES (%s)", (v,))
        cur.execute(f"INSERT INTO logs ({columns}) VALUES ({marks})", values)


@pytest.mark.parametrize("version", OLD_VERSIONS)
@pytest.mark.parametrize("driver", ["postgres", "mysql"])
def test_server_older_versions_upgrade_in_place(
    driver: str, version: int, tmp_path: Path
) -> None:
    backends.require(driver)
    make_old_server(driver, version)
    env = {"DB_DRIVER": driver, "DB_DSN": backends.dsn_for(driver), "DB_AUTOMIGRATE": "false",
           "DB_CONNECT_TIMEOUT": "2s", "LISTEN_HOST": "127.0.0.1"}  # fmt: skip
    refused = run(["serve", "--grpc-port", "0", "--http-port", "0"], env)
    assert refused.returncode == 1
    assert (f"schema is version {version}, this otelctx needs "
            f"{VERSION[driver]}") in refused.stderr  # fmt: skip

    migrated = run(["migrate"], env)
    assert migrated.returncode == 0, migrated.stderr
    check_current(driver, tmp_path)
