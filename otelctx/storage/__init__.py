"""Storage backends behind one protocol; ``open_storage`` picks one from the settings.

Startup against an unreachable database retries with exponential backoff (0.5 s doubling
to 10 s) for up to DB_CONNECT_TIMEOUT, then raises StorageUnavailable. Other errors
(bad credentials, a schema newer than this build) fail at once: retrying cannot fix them.
Every message is one line without secrets.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

import trio

from otelctx.config import Settings
from otelctx.storage.base import (
    SchemaError,
    Storage,
    StorageError,
    StorageUnavailable,
    WriteBatch,
)

log = logging.getLogger(__name__)

_BACKOFF_START_S = 0.5
_BACKOFF_MAX_S = 10.0


def _backend(settings: Settings, migrate: bool) -> AbstractAsyncContextManager[Storage]:
    if settings.db_driver == "sqlite":
        from otelctx.storage.sqlite import open_sqlite

        return open_sqlite(settings.db_dsn, migrate=migrate,
                           busy_timeout_s=settings.sqlite_busy_timeout)  # fmt: skip
    if settings.db_driver == "postgres":
        from otelctx.storage.postgres import open_postgres

        return open_postgres(settings, migrate=migrate)
    if settings.db_driver == "mysql":
        from otelctx.storage.mysql import open_mysql

        return open_mysql(settings, migrate=migrate)
    raise StorageError(f"DB_DRIVER={settings.db_driver} is not supported")


@asynccontextmanager
async def open_storage(
    settings: Settings, *, migrate: bool | None = None
) -> AsyncIterator[Storage]:
    """Open the configured backend (inside a trio_asyncio loop for postgres/mysql).

    ``migrate`` defaults to DB_AUTOMIGRATE: create or upgrade the schema, or refuse to
    start on a schema older than this build.
    """
    do_migrate = settings.db_automigrate if migrate is None else migrate
    deadline = trio.current_time() + settings.db_connect_timeout
    delay = _BACKOFF_START_S
    async with AsyncExitStack() as stack:
        while True:
            try:
                storage = await stack.enter_async_context(_backend(settings, do_migrate))
            except StorageUnavailable as exc:
                remaining = deadline - trio.current_time()
                if remaining <= 0:
                    raise StorageUnavailable(
                        f"{exc} (gave up after DB_CONNECT_TIMEOUT={settings.db_connect_timeout:g}s)"
                    ) from exc
                pause = min(delay, remaining)
                log.warning("database not reachable, retrying in %.1f s: %s", pause, exc)
                await trio.sleep(pause)
                delay = min(delay * 2, _BACKOFF_MAX_S)
                continue
            break
        yield storage


__all__ = [
    "SchemaError",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "WriteBatch",
    "open_storage",
]
