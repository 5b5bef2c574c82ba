"""Storage backends behind one protocol; ``open_storage`` picks one from the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from otelctx.config import Settings
from otelctx.storage.base import Storage, StorageError, StorageUnavailable, WriteBatch


@asynccontextmanager
async def open_storage(settings: Settings) -> AsyncIterator[Storage]:
    """Open the configured backend; raises StorageError with a one-line, secret-free message."""
    if settings.db_driver == "sqlite":
        from otelctx.storage.sqlite import open_sqlite

        async with open_sqlite(settings.db_dsn) as storage:
            yield storage
        return
    raise StorageError(
        f"DB_DRIVER={settings.db_driver} is not available in this build yet; use DB_DRIVER=sqlite"
    )


__all__ = ["Storage", "StorageError", "StorageUnavailable", "WriteBatch", "open_storage"]
