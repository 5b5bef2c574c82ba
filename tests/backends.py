"""Backends for the storage contract and end-to-end tests.

PostgreSQL and MariaDB come from OTELCTX_TEST_PG_DSN / OTELCTX_TEST_MYSQL_DSN (defaults:
the services on this machine, database ``test``). When one cannot be reached the tests
that need it fail in CI (``CI=true``) and are skipped elsewhere, saying why.

``reset`` drops otelctx's tables so that each test starts from an empty database.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

import pytest

PG_DSN = os.environ.get("OTELCTX_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_DSN = os.environ.get("OTELCTX_TEST_MYSQL_DSN", "mysql://root@127.0.0.1:3306/test")
BACKENDS = ("sqlite", "postgres", "mysql")
TABLES = ("spans", "traces", "logs", "metric_points", "schema_version")


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
