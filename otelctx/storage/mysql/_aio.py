"""The asyncio side of the MySQL/MariaDB backend: the only module that talks to the server.

Everything here is a plain asyncio coroutine, run from Trio through one
``trio_asyncio.aio_as_trio`` crossing per operation (``MySQLStorage`` in this package);
a write is a ``WriteTransaction`` driven in a few crossings, whose SQL text was
rendered in a worker thread (``render``): no per-row work runs here.

Resource handling: ``open_backend`` creates the asyncmy pool and closes it again if
the schema check fails; afterwards ``Backend.close`` owns that. Every operation
borrows one connection and gives it back; a ``WriteTransaction`` holds its connection
across crossings until it commits, fails or is abandoned. A connection left in a
transaction is closed by the pool instead of being reused, and one whose operation
was cancelled is closed here (the server then rolls its transaction back), so a
cancelled write stores nothing unless its COMMIT had already been sent.

Error handling: asyncmy errors and OSError are translated here, ``raise ... from
exc``: the server cannot be reached or cannot write now (connection errors, too many
connections, lock timeouts, deadlocks, read-only, disk full) → StorageUnavailable;
anything else, bad credentials and unknown databases included → StorageError.
Messages are one line starting with ``mysql:`` and never contain the password. A
session that reports NO_BACKSLASH_ESCAPES gets no rendered SQL (it would read
``render``'s escapes differently): its connection is closed, StorageUnavailable.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

import asyncmy
from asyncmy.connection import Connection
from asyncmy.constants.SERVER_STATUS import SERVER_STATUS_NO_BACKSLASH_ESCAPES
from asyncmy.cursors import Cursor

from otelctx.storage import plans, rows
from otelctx.storage.base import (
    PoolStats,
    SchemaError,
    StorageError,
    StorageUnavailable,
    TraceDetail,
)
from otelctx.storage.mysql import render, schema
from otelctx.storage.queries import PurgeCounts
from otelctx.storage.sql_aggregates import PURGE_TABLES, purge_tenant_batch
from otelctx.storage.sql_queries import Change, Dialect, Sql

log = logging.getLogger(__name__)

_T = TypeVar("_T")
D = Dialect.MYSQL

# Set on every connection: strict mode makes an out-of-range or too-long value an
# error instead of a silent truncation, and a known mode rules out server settings
# that would change how our SQL reads (ANSI_QUOTES, NO_BACKSLASH_ESCAPES,
# SIMULTANEOUS_ASSIGNMENT ...); ``render`` relies on NO_BACKSLASH_ESCAPES being off.
# asyncmy sends it as ``SET sql_mode=<this>`` verbatim.
_SQL_MODE = "'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"
# READ COMMITTED: no gap locks between concurrent span inserts, and each re-check of
# stored spans (``MySQLStorage._insert_unstored``) sees what other writers committed.
_INIT_COMMAND = "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"

# Server and client error numbers meaning "cannot reach or cannot write right now".
_UNAVAILABLE_CODES = frozenset({
    1021,  # disk full
    1037, 1038, 1041,  # out of memory / resources
    1040,  # too many connections
    1053,  # server shutdown in progress
    1114,  # table is full
    1146,  # table does not exist: the schema was dropped under us (like SQLite)
    1152, 1158, 1159, 1160, 1161,  # aborted connection, network read/write errors
    1205, 1213,  # lock wait timeout, deadlock: the transaction was rolled back
    1290, 1792, 1836,  # read-only server / transaction / mode
    1317, 1927, 1969, 3024,  # query interrupted, connection killed, statement timeouts
    2002, 2003, 2005, 2006, 2013, 2055,  # cannot connect, server gone away, lost connection
    4031,  # disconnected by the server for inactivity
})  # fmt: skip
_DRIVER_ERRORS = (asyncmy.errors.Error, OSError)

_MAX_STATEMENT_BYTES = 4 * 1024 * 1024


def translate(exc: BaseException, what: str, secret: str = "", context: str = "") -> StorageError:
    """``exc`` as a one-line StorageError/StorageUnavailable without ``secret`` in it."""
    code = 0
    if isinstance(exc, asyncmy.errors.MySQLError) and exc.args and isinstance(exc.args[0], int):
        code = exc.args[0]
        text = str(exc.args[1]) if len(exc.args) > 1 else ""
    else:
        text = str(exc) or type(exc).__name__
    text = f"{context}: {text}" if context else text
    message = " ".join(f"mysql: {what} failed: {text}{f' ({code})' if code else ''}".split())
    if secret:
        message = message.replace(secret, "REDACTED")
    unavailable = (
        code in _UNAVAILABLE_CODES
        or isinstance(exc, OSError | asyncmy.errors.InterfaceError)
        or (code == 0 and isinstance(exc, asyncmy.errors.OperationalError))
    )
    return StorageUnavailable(message) if unavailable else StorageError(message)


class Backend:
    """One asyncmy pool and the operations of the Storage protocol, asyncio-flavoured."""

    def __init__(self, pool: asyncmy.Pool, label: str, secret: str) -> None:
        self.pool = pool
        self._label = label
        self._secret = secret
        self._closed = False
        self._wait_count = 0
        self._wait_s = 0.0
        # the most a rendered statement may hold (half of max_allowed_packet, see prepare)
        self.statement_bytes = 1024 * 1024

    # -- connections ------------------------------------------------------------------------

    async def _acquire(self, what: str) -> Connection:
        """Borrow a connection (give it back with ``pool.release``)."""
        if self._closed:
            raise StorageUnavailable(f"mysql: {what} failed: the storage is closed")
        pool = self.pool
        # A wait as Go's database/sql counts one: every connection is open and busy.
        waits = pool.freesize == 0 and pool.size >= pool.maxsize
        t0 = time.monotonic()
        try:
            conn: Connection = await pool.acquire()
        except _DRIVER_ERRORS as exc:
            context = f"cannot connect to {self._label}"
            raise translate(exc, what, self._secret, context) from exc
        if waits:
            self._wait_count += 1
            self._wait_s += time.monotonic() - t0
        return conn

    @asynccontextmanager
    async def _connection(self, what: str) -> AsyncIterator[Connection]:
        """Borrow a connection; driver errors of the block leave as StorageError."""
        conn = await self._acquire(what)
        try:
            yield conn
        except _DRIVER_ERRORS as exc:
            raise translate(exc, what, self._secret) from exc
        finally:
            # a connection that is closed, or still in a transaction, is dropped
            self.pool.release(conn)

    def pool_stats(self) -> PoolStats:
        pool = self.pool
        size, free = int(pool.size), int(pool.freesize)
        return PoolStats(
            max_open=int(pool.maxsize), open_connections=size, in_use=size - free, idle=free,
            wait_count=self._wait_count, wait_duration_s=self._wait_s,
        )  # fmt: skip

    async def close(self) -> None:
        """Close the pool once every borrowed connection is back (callers bound the wait)."""
        self._closed = True
        self.pool.close()
        await self.pool.wait_closed()

    def terminate(self) -> None:
        """Close every connection now, borrowed ones included."""
        self._closed = True
        self.pool.terminate()

    async def abort(self) -> None:
        """``terminate`` from Trio (the pool schedules asyncio work)."""
        self.terminate()

    # -- schema -----------------------------------------------------------------------------

    async def prepare(self, *, migrate: bool) -> None:
        """Create or upgrade the schema (``migrate``), or check that it is current."""
        async with self._connection("checking the schema") as conn, conn.cursor() as cur:
            await cur.execute("SELECT @@max_allowed_packet")
            packet = int((await cur.fetchone())[0])
            self.statement_bytes = max(64 * 1024, min(_MAX_STATEMENT_BYTES, packet // 2))
            if not migrate:
                _check_version(await _schema_version(cur), migrate=False)
                return
            # DDL commits at once in MySQL: the lock keeps two instances that start
            # together from running the same steps side by side.
            await cur.execute(
                "SELECT GET_LOCK(%s, %s)", (schema.MIGRATE_LOCK, schema.MIGRATE_LOCK_TIMEOUT_S)
            )
            if (await cur.fetchone())[0] != 1:
                raise StorageUnavailable(
                    f"mysql: another otelctx held the lock {schema.MIGRATE_LOCK!r} for "
                    f"{schema.MIGRATE_LOCK_TIMEOUT_S} s while migrating; try again"
                )
            try:
                await _migrate(cur)
            finally:
                try:
                    await cur.execute("SELECT RELEASE_LOCK(%s)", (schema.MIGRATE_LOCK,))
                    await cur.fetchall()
                except _DRIVER_ERRORS:
                    conn.close()  # ends the session, which releases the lock

    # -- writes -----------------------------------------------------------------------------

    async def start_write(
        self,
        spans: Sequence[bytes],
        expected: int,
        rest: Sequence[bytes],
        claim: bytes | None = None,
    ) -> WriteTransaction | None:
        """Borrow a connection, BEGIN and ``WriteTransaction.insert`` (see there): None
        once committed, else the transaction, still open, to continue, or ended with
        ``already_stored`` when ``claim`` found its key stored."""
        txn = WriteTransaction(self, await self._acquire("write"))
        committed = await txn.insert(spans, expected, rest, begin=True, claim=claim)
        return txn if txn.already_stored or not committed else None

    # -- reads ------------------------------------------------------------------------------

    async def ping(self) -> None:
        async with self._connection("ping") as conn, conn.cursor() as cur:
            await cur.execute("SELECT 1")
            await cur.fetchall()

    async def get_trace(self, tenant_id: str, trace_id: str) -> TraceDetail | None:
        key = (tenant_id, trace_id)
        async with self._connection("get_trace") as conn, conn.cursor() as cur:
            await cur.execute(schema.SELECT_TRACE, key)
            row = await cur.fetchone()
            if row is None:
                return None
            await cur.execute(schema.SELECT_SPANS, key)
            span_rows = await cur.fetchall()
            await cur.execute(schema.SELECT_LOGS, key)
            log_rows = await cur.fetchall()
        return rows.trace_detail(tenant_id, trace_id, row, span_rows, log_rows)

    async def count_rows(self, table: str, tenant_id: str | None = None) -> int:
        if table not in rows.DATA_TABLES:
            raise ValueError(f"unknown table {table!r}")
        async with self._connection("count") as conn, conn.cursor() as cur:
            if tenant_id is None:
                await cur.execute(f"SELECT COUNT(*) FROM {table}")
            else:
                await cur.execute(
                    f"SELECT COUNT(*) FROM {table} WHERE tenant_id = %s", (tenant_id,)
                )
            return int((await cur.fetchone())[0])

    async def run_plan(self, what: str, plan: plans.Plan[_T]) -> _T:
        """Run a read plan (``storage.plans``) on one borrowed connection."""
        async with self._connection(what) as conn, conn.cursor() as cur:

            async def fetch(statement: Sql) -> plans.Rows:
                # no arguments: None, so that asyncmy does not %-format the text
                await cur.execute(statement.text, statement.args or None)
                return list(await cur.fetchall())

            return await plans.drive_async(plan, fetch)

    async def run_write_plan(self, what: str, plan: plans.Plan[_T]) -> _T:
        """Run a plan in one transaction; a ``Change`` gets ``[(rows affected,)]`` back.
        On failure the transaction is rolled back (or the connection closed)."""
        async with self._connection(what) as conn, conn.cursor() as cur:

            async def fetch(statement: Sql) -> plans.Rows:
                n = await cur.execute(statement.text, statement.args or None)
                if isinstance(statement, Change):
                    return [(int(n),)]
                return list(await cur.fetchall())

            await conn.begin()
            try:
                result = await plans.drive_async(plan, fetch)
                await conn.commit()
            except BaseException as exc:
                await _abandon(conn, exc)
                raise
            return result

    async def purge_tenant(self, tenant_id: str, cutoff_ns: int, batch: int) -> PurgeCounts:
        """Delete in batches of ``batch`` rows, each committed on its own, so ingest gets
        through between them."""
        counts = {}
        async with self._connection("purge") as conn, conn.cursor() as cur:
            for table in PURGE_TABLES:
                statement = purge_tenant_batch(D, table, tenant_id, cutoff_ns, batch)
                total = 0
                while True:
                    n = int(await cur.execute(statement.text, statement.args))
                    await conn.commit()
                    total += n
                    if n < batch:
                        break
                counts[table] = total
        return PurgeCounts(**counts)

    async def count_older(self, table: str, cutoff_ns: int) -> int:
        column = rows.purge_time_column(table)
        async with self._connection("count") as conn, conn.cursor() as cur:
            await cur.execute(f"SELECT COUNT(*) FROM {table} WHERE {column} < %s", (cutoff_ns,))
            return int((await cur.fetchone())[0])

    async def purge_batch(self, table: str, cutoff_ns: int, limit: int) -> int:
        column = rows.purge_time_column(table)
        async with self._connection("purge") as conn, conn.cursor() as cur:
            # single-table DELETE takes LIMIT directly (no LIMIT inside IN (subquery))
            count = await cur.execute(
                f"DELETE FROM {table} WHERE {column} < %s LIMIT %s", (cutoff_ns, limit)
            )
            await conn.commit()
            return int(count)

    async def optimize_tables(self) -> None:
        """OPTIMIZE TABLE the data tables (InnoDB rebuilds them and gives space back)."""
        async with self._connection("optimize") as conn, conn.cursor() as cur:
            await cur.execute(f"OPTIMIZE TABLE {', '.join(schema.DATA_TABLES)}")
            for table, _op, msg_type, msg_text in await cur.fetchall():
                if str(msg_type).lower() == "error":
                    raise StorageError(f"mysql: optimize of {table} failed: {msg_text}")


async def open_backend(
    connect: dict[str, Any],
    *,
    minsize: int,
    maxsize: int,
    recycle_s: float,
    label: str,
    secret: str,
    migrate: bool,
) -> Backend:
    """Create the pool and check (``migrate``: create or upgrade) the schema.

    ``label`` names the database in messages (a scrubbed DSN); ``secret`` is the
    password, which no message may contain.
    """
    try:
        pool = await asyncmy.create_pool(
            minsize=minsize, maxsize=maxsize, pool_recycle=max(1, round(recycle_s)),
            charset="utf8mb4", autocommit=True, sql_mode=_SQL_MODE,
            init_command=_INIT_COMMAND, **connect,
        )  # fmt: skip
    except _DRIVER_ERRORS as exc:
        raise translate(exc, f"connecting to {label}", secret) from exc
    backend = Backend(pool, label, secret)
    try:
        await backend.prepare(migrate=migrate)
    except BaseException:
        backend.terminate()
        await pool.wait_closed()
        raise
    return backend


# -- helpers ---------------------------------------------------------------------------------


async def _schema_version(cur: Cursor) -> int:
    """The stored schema version; 0 when there is no schema_version table."""
    await cur.execute(
        "SELECT COUNT(*) FROM information_schema.TABLES"
        " WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'schema_version'"
    )
    if not (await cur.fetchone())[0]:
        return 0
    await cur.execute("SELECT MAX(version) FROM schema_version")
    found = (await cur.fetchone())[0]
    return 0 if found is None else int(found)


def _check_version(current: int, *, migrate: bool) -> None:
    if current > schema.SCHEMA_VERSION:
        raise SchemaError(
            f"mysql: schema is version {current}, newer than this otelctx knows "
            f"({schema.SCHEMA_VERSION}): upgrade otelctx or use another database"
        )
    if current < schema.SCHEMA_VERSION and not migrate:
        raise SchemaError(
            f"mysql: schema is version {current}, this otelctx needs {schema.SCHEMA_VERSION}: "
            "run `otelctx migrate` or set DB_AUTOMIGRATE=true"
        )


async def _migrate(cur: Cursor) -> None:
    current = await _schema_version(cur)
    _check_version(current, migrate=True)
    if current == schema.SCHEMA_VERSION:
        return
    await cur.execute(
        "SELECT COLLATION_NAME FROM information_schema.COLLATIONS WHERE COLLATION_NAME IN"
        f" ({', '.join(['%s'] * len(schema.COLLATIONS))})",
        schema.COLLATIONS,
    )
    known = {name for (name,) in await cur.fetchall()}
    collation = next(c for c in schema.COLLATIONS if c in known or c == schema.COLLATIONS[-1])
    for version, steps in schema.MIGRATIONS:
        if version <= current:
            continue
        log.info("mysql: migrating the schema to version %d", version)
        for step in steps:
            if isinstance(step, schema.AddIndex):
                await cur.execute(
                    "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA ="
                    " DATABASE() AND TABLE_NAME = %s AND INDEX_NAME = %s",
                    (step.table, step.name),
                )
                if (await cur.fetchone())[0]:
                    continue
                await cur.execute(step.sql())
            else:
                await cur.execute(step.format(collation=collation))
        await cur.execute(
            "INSERT INTO schema_version (version) VALUES (%s)"
            " ON DUPLICATE KEY UPDATE version = version",
            (version,),
        )


async def _abandon(conn: Connection, exc: BaseException) -> None:
    """Roll back after a failed write; close the connection when that is not possible."""
    if not isinstance(exc, Exception):
        conn.close()  # cancelled: do not wait on the server; it rolls back on disconnect
        return
    try:
        await conn.rollback()
    except _DRIVER_ERRORS:
        conn.close()
    except BaseException:
        conn.close()  # cancelled while rolling back
        raise


async def _run(cur: Cursor, statements: Sequence[bytes]) -> int:
    """Send rendered statements; the rows they affected."""
    affected = 0
    for sql in statements:
        affected += await cur.execute(sql)
    return affected


class WriteTransaction:
    """One write transaction on a borrowed connection, continued over several crossings.

    Every method is one crossing. A method that fails or is cancelled ends the
    transaction (rolled back, or the connection closed), gives the connection back and
    raises, driver errors translated; ``abandon`` does the same for a failure on the
    Trio side between crossings. After a commit or an end, ``active`` is False.
    """

    def __init__(self, backend: Backend, conn: Connection) -> None:
        self._backend = backend
        self._conn: Connection | None = conn
        self.already_stored = False

    @property
    def active(self) -> bool:
        return self._conn is not None

    async def insert(
        self,
        spans: Sequence[bytes],
        expected: int,
        rest: Sequence[bytes],
        *,
        begin: bool = False,
        claim: bytes | None = None,
    ) -> bool:
        """Send the spans' INSERTs (``render.SpanInsert.spans``). When they inserted
        ``expected`` rows, all spans were new: send ``rest`` (their trace upsert, the
        logs, the points), COMMIT, give the connection back and return True. Otherwise
        undo the spans' INSERTs (to a savepoint) and return False, still open.

        ``claim`` (with ``begin``: ``render.claim``) goes first; when it inserts no row
        its key is stored already: roll back, give the connection back, set
        ``already_stored`` and return True."""
        async with self._step() as (conn, cur):
            if begin:
                await conn.begin()
                if claim is not None and not await cur.execute(claim):
                    await conn.rollback()
                    self.already_stored = True
                elif spans:
                    await cur.execute("SAVEPOINT spans")
            if not self.already_stored:
                if await _run(cur, spans) != expected:
                    await cur.execute("ROLLBACK TO SAVEPOINT spans")
                    return False
                await _run(cur, rest)
                await conn.commit()
        self._release()
        return True

    async def stored_keys(self, queries: Sequence[bytes]) -> set[render.Key]:
        """Run the ``render.stored_key_queries``; the keys they found."""
        found: set[render.Key] = set()
        async with self._step() as (_conn, cur):
            for sql in queries:
                await cur.execute(sql)
                found.update((t, tr, sp) for t, tr, sp in await cur.fetchall())
        return found

    async def abandon(self, exc: BaseException) -> None:
        """End the transaction after ``exc`` on the Trio side (cancelled: close at once)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await _abandon(conn, exc)
            finally:
                self._backend.pool.release(conn)

    @asynccontextmanager
    async def _step(self) -> AsyncIterator[tuple[Connection, Cursor]]:
        conn = self._conn
        if conn is None:
            raise StorageError("mysql: write failed: the transaction has ended")
        if cast(Any, conn).server_status & SERVER_STATUS_NO_BACKSLASH_ESCAPES:
            # Something changed our sql_mode: render's escapes would be read wrongly. A
            # new connection sets it again, so drop this one and let the writer retry.
            self._conn = None
            conn.close()
            self._backend.pool.release(conn)
            raise StorageUnavailable(
                "mysql: write failed: the session's sql_mode had NO_BACKSLASH_ESCAPES;"
                " its connection was dropped"
            )
        try:
            async with conn.cursor() as cur:
                yield conn, cur
        except BaseException as exc:
            await self.abandon(exc)
            if isinstance(exc, _DRIVER_ERRORS):
                raise translate(exc, "write", self._backend._secret) from exc
            raise

    def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._backend.pool.release(conn)
