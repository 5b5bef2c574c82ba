"""PostgreSQL backend: asyncpg behind trio-asyncio, one crossing per operation.

All asyncpg code is asyncio-flavoured and lives in ``_aio``; this module is the
trio-flavoured face. Each operation (a whole write batch included) crosses from trio to
asyncio once, through ``trio_asyncio.aio_as_trio``: a crossing costs ~100 µs, so never
per row. Everything here must run inside ``trio_asyncio.open_loop()``.

Resource handling: ``open_postgres`` owns the connection pool. On exit it closes the pool
gracefully within ``_CLOSE_TIMEOUT_S`` (shielded, so it also happens when the caller is
being cancelled) and terminates whatever is left after that.

Error handling: see ``_aio``: StorageUnavailable (retryable: cannot connect, connection
lost, too many connections ...), StorageError (bad credentials, unknown database, any other
driver error), SchemaError; every message is one line starting ``postgres: `` and never
shows the DSN password. Cancelling an operation cancels its asyncio task, which rolls back
an open transaction and returns the connection to the pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import ParamSpec, TypeVar

import trio
import trio_asyncio

from otelctx.config import Settings
from otelctx.storage import plans, rows
from otelctx.storage.base import (
    PoolStats,
    TraceDetail,
    WriteBatch,
    WriteResult,
    write_concurrency,
)
from otelctx.storage.plan_queries import PlanQueries
from otelctx.storage.postgres import _aio
from otelctx.storage.postgres.schema import SCHEMA_VERSION
from otelctx.storage.queries import PurgeCounts
from otelctx.storage.sql_queries import Dialect

__all__ = ["SCHEMA_VERSION", "PostgresStorage", "open_postgres"]

_CLOSE_TIMEOUT_S = 10.0
# Below this many items a thread hop (~100 µs) costs more than building the rows inline.
_THREAD_MIN_ITEMS = 64
# Rows per purge_tenant transaction: short enough that ingest commits wait little.
_PURGE_BATCH = 5000
D = Dialect.POSTGRES

_P = ParamSpec("_P")
_T = TypeVar("_T")


async def _hop(fn: Callable[_P, Awaitable[_T]], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run one asyncio coroutine function from trio: the single crossing of an operation."""
    result: _T = await trio_asyncio.aio_as_trio(fn)(*args, **kwargs)
    return result


class PostgresStorage(PlanQueries):
    """The Storage protocol over an asyncpg pool (see the module docstring)."""

    DIALECT = D

    def __init__(self, backend: _aio.PgBackend, write_concurrency: int) -> None:
        self._backend = backend
        self._write_concurrency = write_concurrency

    @property
    def driver(self) -> str:
        return "postgres"

    @property
    def write_concurrency(self) -> int:
        return self._write_concurrency

    async def write(self, batch: WriteBatch, *, replay_key: str | None = None) -> WriteResult:
        prepared = None
        if len(batch) >= _THREAD_MIN_ITEMS:
            # Encoding rows takes ~10 µs per span: in a worker thread the event loop keeps
            # running (between GIL switches) instead of stalling for a large batch.
            prepared = await trio.to_thread.run_sync(_aio.BatchRows.of, batch)
        return await _hop(self._backend.write, batch, prepared, replay_key)

    async def ping(self) -> None:
        await _hop(self._backend.ping)

    async def get_trace(self, tenant_id: str, trace_id: str) -> TraceDetail | None:
        return await _hop(self._backend.get_trace, tenant_id, trace_id)

    async def count_rows(self, table: str, tenant_id: str | None = None) -> int:
        return await _hop(self._backend.count_rows, table, tenant_id)

    # -- plans: the query API and the graph's persistence, each call one crossing -------

    async def read_plan(self, what: str, plan: plans.Plan[_T]) -> _T:
        return await _hop(self._backend.run_plan, what, plan)

    async def write_plan(self, what: str, plan: plans.Plan[_T]) -> _T:
        return await _hop(self._backend.run_write_plan, what, plan)

    async def purge_tenant(self, tenant_id: str, cutoff_ns: int) -> PurgeCounts:
        """In batches of ``_PURGE_BATCH`` rows, each its own transaction."""
        return await _hop(self._backend.purge_tenant, tenant_id, cutoff_ns, _PURGE_BATCH)

    async def count_older(self, table: str, cutoff_ns: int) -> int:
        rows.purge_time_column(table)
        return await _hop(self._backend.count_older, table, cutoff_ns)

    async def purge_batch(self, table: str, cutoff_ns: int, limit: int) -> int:
        rows.purge_time_column(table)  # ValueError before crossing for an unknown table
        return await _hop(self._backend.purge_batch, table, cutoff_ns, limit)

    async def vacuum_analyze(self) -> None:
        """VACUUM ANALYZE the data tables; can take long on big tables: run it off the
        request path."""
        await _hop(self._backend.vacuum_analyze)

    async def maintain(self) -> None:
        await self.vacuum_analyze()

    def pool_stats(self) -> PoolStats:
        """The pool's own figures (size, idle, max) plus cumulative acquire waits."""
        return self._backend.pool_stats()


@asynccontextmanager
async def open_postgres(settings: Settings, *, migrate: bool) -> AsyncIterator[PostgresStorage]:
    """Open a pool on DB_DSN and yield the backend; close the pool on exit.

    ``migrate``: create or upgrade the schema (serialised between instances by an advisory
    lock); otherwise refuse a missing or older schema with SchemaError. A schema newer than
    this build is always a SchemaError. Raises StorageUnavailable when the server cannot be
    reached (open_storage retries that), StorageError for anything retrying cannot fix.
    """
    backend = await _hop(_aio.open_backend, settings, migrate=migrate)
    try:
        yield PostgresStorage(backend, write_concurrency(settings))
    finally:
        with trio.CancelScope(shield=True):
            with trio.move_on_after(_CLOSE_TIMEOUT_S):
                # cancelled by the deadline, asyncpg terminates the pool itself
                await _hop(backend.close)
            backend.terminate()  # a no-op once closed
