"""Backends for the storage contract and end-to-end tests.

PostgreSQL and MariaDB come from OTELCTX_TEST_PG_DSN / OTELCTX_TEST_MYSQL_DSN (defaults:
the services on this machine, database ``test``). When one cannot be reached the tests
that need it fail in CI (``CI=true``) and are skipped elsewhere, saying why.

``reset`` (async, inside trio_asyncio) and ``reset_sync`` drop otelctx's tables so that
each test starts from an empty database; ``query`` reads rows with the sync drivers
(psycopg, PyMySQL) for tests that run otelctx as a subprocess.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

PG_DSN = os.environ.get("OTELCTX_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_DSN = os.environ.get("OTELCTX_TEST_MYSQL_DSN", "mysql://root@127.0.0.1:3306/test")
BACKENDS = ("sqlite", "postgres", "mysql")
# every table otelctx creates (logs_fts: SQLite's search index; dropping it elsewhere is a no-op)
TABLES = (
    "spans", "traces", "logs", "logs_fts", "metric_points", "investigations", "graph_snapshots",
    "drain_templates", "dlq_replays", "schema_version",
)  # fmt: skip


def dsn_for(driver: str) -> str:
    return {"postgres": PG_DSN, "mysql": MYSQL_DSN}[driver]


def require(driver: str) -> None:
    """Fail (CI) or skip (elsewhere) unless the driver's server accepts connections."""
    if driver == "sqlite":
        return
    url = urlparse(dsn_for(driver))
    try:
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 0), timeout=2):
            return
    except OSError as exc:
        message = f"{driver} test server {url.hostname}:{url.port} unreachable: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI must run the database tests; see .ci/run)")
        pytest.skip(message)


async def reset(driver: str) -> None:
    """Drop otelctx's tables (runs inside a trio_asyncio loop)."""
    import trio_asyncio

    if driver == "postgres":
        import asyncpg

        async def drop_pg() -> None:
            conn = await asyncpg.connect(PG_DSN)
            try:
                await conn.execute(f"DROP TABLE IF EXISTS {', '.join(TABLES)} CASCADE")
            finally:
                await conn.close()

        await trio_asyncio.aio_as_trio(drop_pg)()
    elif driver == "mysql":
        import asyncmy

        url = urlparse(MYSQL_DSN)

        async def drop_mysql() -> None:
            conn = await asyncmy.connect(
                host=url.hostname, port=url.port or 3306, user=url.username or "root",
                password=url.password or "", database=url.path.lstrip("/"),
            )  # fmt: skip
            try:
                async with conn.cursor() as cur:
                    await cur.execute(f"DROP TABLE IF EXISTS {', '.join(TABLES)}")
            finally:
                conn.close()

        await trio_asyncio.aio_as_trio(drop_mysql)()


def _mysql_connect() -> Any:
    import pymysql
    import pymysql.cursors

    url = urlparse(MYSQL_DSN)
    return pymysql.connect(
        host=url.hostname, port=url.port or 3306, user=url.username or "root",
        password=url.password or "", database=url.path.lstrip("/"), charset="utf8mb4",
        cursorclass=pymysql.cursors.DictCursor, autocommit=True,
    )  # fmt: skip


def reset_sync(driver: str) -> None:
    if driver == "postgres":
        import psycopg

        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {', '.join(TABLES)} CASCADE")
    elif driver == "mysql":
        with closing(_mysql_connect()) as conn, conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {', '.join(TABLES)}")


def server_env(driver: str) -> dict[str, str]:
    """Environment for an ``otelctx serve`` subprocess on ``driver`` (tables reset)."""
    if driver == "sqlite":
        return {}
    reset_sync(driver)
    return {"DB_DRIVER": driver, "DB_DSN": dsn_for(driver)}


def query(
    driver: str, db_path: Path, sql: str, params: tuple[Any, ...] = ()
) -> list[dict[str, Any]]:
    """Rows as dicts; ``sql`` uses ``?`` placeholders whatever the driver."""
    if driver == "sqlite":
        with closing(sqlite3.connect(db_path)) as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute(sql, params)]
    sql = sql.replace("?", "%s")
    if driver == "postgres":
        import psycopg
        from psycopg.rows import dict_row

        with psycopg.connect(PG_DSN, row_factory=dict_row) as conn:
            rows = list(conn.execute(sql, params))
        # jsonb columns arrive decoded; tests compare the stored JSON text
        return [
            {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()}
            for row in rows
        ]
    with closing(_mysql_connect()) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def pg_cluster(action: str) -> None:
    """Stop or start this machine's PostgreSQL cluster (starting a running one is fine)."""
    import subprocess

    version = sorted(os.listdir("/etc/postgresql"))[-1]
    done = subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        capture_output=True, timeout=120,
    )  # fmt: skip
    # pg_ctlcluster answers 2 when asked to start a cluster that runs
    assert done.returncode == 0 or (action == "start" and done.returncode == 2), done
