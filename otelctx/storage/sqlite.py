"""SQLite backend: the stdlib driver, one writer connection, one reader connection.

Resource handling: ``open_sqlite`` owns its three connections (writer, reader, and one
that checkpoints the WAL) and closes them on exit; it runs ``checkpoint_loop`` meanwhile.
Every call runs in a worker thread through a CapacityLimiter of 1 per connection,
so each connection is only ever used by one thread at a time. Worker threads are
not abandoned on cancellation: a commit that has started always finishes.

Error handling: sqlite3 errors are translated at this boundary. Errors that mean
"cannot write now" (locked, busy, read-only, disk full, I/O error, cannot open)
become StorageUnavailable; anything else StorageError. No message contains a path
beyond the configured one.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any, TypeVar

import trio

from otelctx.model import SpanRecord
from otelctx.storage import plans, rows, summaries
from otelctx.storage.base import (
    PoolStats,
    SchemaError,
    StorageError,
    StorageUnavailable,
    TraceDetail,
    WriteBatch,
    WriteResult,
)
from otelctx.storage.plan_queries import PlanQueries
from otelctx.storage.queries import (
    PurgeCounts,
    StoreStats,
)
from otelctx.storage.sql_aggregates import PURGE_TABLES, purge_tenant_batch
from otelctx.storage.sql_queries import Change, Dialect, Sql
from otelctx.storage.sqlite_schema import MIGRATIONS, SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "SqliteStorage", "open_sqlite"]

# Incremental vacuum in rounds of this many pages (4 KiB each), so the writer lock is
# released between rounds and ingest commits get through.
_VACUUM_PAGES = 2000
_VACUUM_ROUNDS = 10_000

# Rows per multi-row INSERT: 18 columns x 500 stays far below SQLITE_MAX_VARIABLE_NUMBER.
_CHUNK = 500
# Below _CHUNK rows, a multiple of _STEP rows and then the rest (see _pieces).
_STEP = 32

_UNAVAILABLE_MARKERS = (
    "locked", "busy", "readonly", "read-only", "disk", "full", "i/o", "unable to open",
    "no such table", "not a database", "malformed",
)  # fmt: skip

_SPAN_SELECT = f"SELECT {', '.join(rows.SPAN_COLUMNS)} FROM spans"
_LOG_SELECT = f"SELECT {', '.join(rows.LOG_COLUMNS)} FROM logs"

_TRACE_COLUMNS = (
    "tenant_id", "trace_id", "root_service", "root_operation", "root_is_entry", "root_start",
    "start_time", "end_time", "duration_ns", "span_count", "error_count", "status_code",
)  # fmt: skip
_TRACE_UPSERT_TAIL = """
ON CONFLICT (tenant_id, trace_id) DO UPDATE SET
    root_service = CASE WHEN {newer_root} THEN excluded.root_service ELSE root_service END,
    root_operation = CASE WHEN {newer_root} THEN excluded.root_operation ELSE root_operation END,
    root_start = CASE WHEN {newer_root} THEN excluded.root_start ELSE root_start END,
    root_is_entry = max(root_is_entry, excluded.root_is_entry),
    start_time = min(start_time, excluded.start_time),
    end_time = max(end_time, excluded.end_time),
    duration_ns = max(end_time, excluded.end_time) - min(start_time, excluded.start_time),
    span_count = span_count + excluded.span_count,
    error_count = error_count + excluded.error_count,
    status_code = max(status_code, excluded.status_code)
""".format(
    # SQLite evaluates every SET expression against the row as it was before the update.
    newer_root="(excluded.root_is_entry > root_is_entry OR (excluded.root_is_entry = "
    "root_is_entry AND excluded.root_start < root_start))"
)

_T = TypeVar("_T")
log = logging.getLogger(__name__)

D = Dialect.SQLITE
# Rows per purge_tenant transaction: short enough that an ingest commit waits little.
_PURGE_BATCH = 5000
# WAL checkpoints: copying the WAL's pages back into the database file costs about as
# much as the commits that wrote them. Done by the committing connection (SQLite's
# default, every 1,000 pages) it lengthened every few commits by tens of ms, with the
# writer's lock held; a task of its own checkpoints every CHECKPOINT_INTERVAL_S on a
# connection of its own, while the next commits go on.
CHECKPOINT_INTERVAL_S = 0.5
_AUTOCHECKPOINT_PAGES = 32_768  # 128 MiB of WAL with 4 KiB pages: only if the loop stalls
_JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
# Prepared statements the writer connection keeps (see _connect and _pieces): per table,
# one of _CHUNK rows, the multiples of _STEP below it and the rests below _STEP.
_WRITER_STATEMENTS = 4 * (1 + _CHUNK // _STEP + _STEP)


def _translate(exc: sqlite3.Error, what: str) -> StorageError:
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError) and any(
        m in text.lower() for m in _UNAVAILABLE_MARKERS
    ):
        return StorageUnavailable(f"sqlite: {what} failed: {text}")
    return StorageError(f"sqlite: {what} failed: {text}")


def _connect(path: str, *, read_only: bool, busy_timeout_s: float) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False,
        # A prepared 500-row INSERT holds ~0.7 MiB. Cut into _pieces, the writer's
        # statements come in a few dozen sizes per table and all stay prepared (~25 MiB
        # at most); parsing one anew each commit cost a fifth of the writer's CPU.
        cached_statements=128 if read_only else _WRITER_STATEMENTS,
    )  # fmt: skip
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    if read_only:
        conn.execute("PRAGMA query_only = ON")
    else:
        # Before anything writes the file's first page (journal_mode=WAL does): only a
        # new database takes it, and it is what lets maintenance give space back.
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is on disk when it returns; acks are only sent after that.
        conn.execute("PRAGMA synchronous = FULL")
        # Checkpoints run beside the writer (SqliteStorage.checkpoint_loop), not inside
        # its commits; this is only the backstop should that loop fall behind.
        conn.execute(f"PRAGMA wal_autocheckpoint = {_AUTOCHECKPOINT_PAGES}")
        # the WAL file is cut back to this after a checkpoint lets it start over
        conn.execute(f"PRAGMA journal_size_limit = {_JOURNAL_SIZE_LIMIT}")
    conn.execute("PRAGMA temp_store = MEMORY")
    # 32 MiB each: the writer's hot index pages fit many times over (16 MiB wrote as fast
    # as 64 in bench runs), and the file's pages stay in the OS page cache for the reader
    conn.execute("PRAGMA cache_size = -32768")
    return conn


def _current_version(conn: sqlite3.Connection) -> int:
    has_table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if not has_table:
        return 0
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _migrate(conn: sqlite3.Connection, allowed: bool) -> None:
    """Check the schema version; create or upgrade it when ``allowed``, one transaction
    per version (another process upgrading at the same time waits on the write lock,
    then finds nothing left to do)."""
    current = _current_version(conn)
    if current > SCHEMA_VERSION:
        raise SchemaError(
            f"sqlite: the database schema is version {current}, newer than this otelctx "
            f"knows ({SCHEMA_VERSION}); upgrade otelctx or use another DB_DSN"
        )
    if current == SCHEMA_VERSION:
        return
    if not allowed:
        raise SchemaError(
            f"sqlite: schema is version {current}, this otelctx needs {SCHEMA_VERSION}: "
            "run `otelctx migrate` or set DB_AUTOMIGRATE=true"
        )
    for version, statements in MIGRATIONS:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if version > _current_version(conn):
                for statement in statements:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


class SqliteStorage(PlanQueries):
    """The Storage protocol over one SQLite file (see module docstring)."""

    DIALECT = D

    def __init__(
        self,
        path: str,
        writer: sqlite3.Connection,
        reader: sqlite3.Connection,
        checkpointer: sqlite3.Connection,
    ) -> None:
        self._path = path
        self._writer = writer
        self._reader = reader
        # opened with the others, so that it is the same file as the writer's even if
        # the path is renamed or replaced meanwhile: a connection opened later by path
        # could checkpoint the writer's WAL into another file
        self._checkpointer = checkpointer
        self._write_limiter = trio.CapacityLimiter(1)
        self._read_limiter = trio.CapacityLimiter(1)
        self._ping_limiter = trio.CapacityLimiter(1)
        self._wait_count = 0
        self._wait_s = 0.0
        self._statements: dict[tuple[str, int], str] = {}
        self._checkpoint_lock = trio.Lock()
        # set by every job on the writer connection (_run); the checkpoint loop sleeps on
        # it, so an idle database has no timer running (nor a checkpoint to do)
        self._wrote = trio.Event()

    @property
    def driver(self) -> str:
        return "sqlite"

    @property
    def write_concurrency(self) -> int:
        return 1  # one writer connection; SQLite serialises writers anyway

    async def _run(self, limiter: trio.CapacityLimiter, what: str, fn: Callable[[], _T]) -> _T:
        if limiter.borrowed_tokens:
            self._wait_count += 1
        t0 = time.monotonic()
        async with limiter:
            self._wait_s += time.monotonic() - t0
            try:
                return await trio.to_thread.run_sync(fn)
            except sqlite3.Error as exc:
                raise _translate(exc, what) from exc
            except (OverflowError, ValueError, TypeError) as exc:
                # a value the driver cannot bind (e.g. an integer beyond 64 bits)
                raise StorageError(f"sqlite: {what} failed: unstorable value: {exc}") from exc
            finally:
                if limiter is self._write_limiter:
                    self._wrote.set()  # whatever it wrote, the checkpoint loop takes up

    # -- writes ---------------------------------------------------------------------------

    async def write(self, batch: WriteBatch, *, replay_key: str | None = None) -> WriteResult:
        return await self._run(
            self._write_limiter, "write", lambda: self._write_sync(batch, replay_key)
        )

    async def checkpoint_loop(self, interval_s: float = CHECKPOINT_INTERVAL_S) -> None:
        """Checkpoint the WAL ``interval_s`` after a commit (PASSIVE: it never
        waits for, nor blocks, the writer or readers). A failed round is logged and the
        next one tries again; SQLite's own checkpoint at _AUTOCHECKPOINT_PAGES remains
        the backstop."""
        failures = 0
        while True:
            await self._wrote.wait()
            await trio.sleep(interval_s)  # the commits of the next interval_s go with it
            self._wrote = trio.Event()
            try:
                async with self._checkpoint_lock:
                    await trio.to_thread.run_sync(self._checkpoint_sync, "PASSIVE")
            except sqlite3.Error as exc:
                failures += 1
                if failures == 1 or failures % 100 == 0:
                    log.warning("sqlite: WAL checkpoint failed (%d so far): %s", failures, exc)
            else:
                failures = 0

    def _checkpoint_sync(self, mode: str) -> None:
        self._checkpointer.execute(f"PRAGMA wal_checkpoint({mode})").fetchall()

    def _sql(self, kind: str, n: int) -> str:
        """Multi-row statements: one sqlite3_step (one GIL release) for ``n`` rows.

        Per-row statements would release and re-take the GIL once per row, and each
        re-take can wait for the event-loop thread's switch interval.
        """
        sql = self._statements.get((kind, n))
        if sql is None:
            if kind == "traces":
                sql = _values_sql("traces", _TRACE_COLUMNS, n) + _TRACE_UPSERT_TAIL
            else:
                sql = (
                    _values_sql("spans", rows.SPAN_COLUMNS, n)
                    + " ON CONFLICT (tenant_id, trace_id, span_id) DO NOTHING"
                )
            self._statements[(kind, n)] = sql
        return sql

    def _insert_rows(
        self,
        conn: sqlite3.Connection,
        table: str,
        columns: Sequence[str],
        values: list[tuple[Any, ...]],
    ) -> None:
        for chunk in _pieces(values):
            key = (table, len(chunk))
            sql = self._statements.get(key)
            if sql is None:
                sql = self._statements[key] = _values_sql(table, columns, len(chunk))
            conn.execute(sql, list(chain.from_iterable(chunk)))

    def _insert_spans(
        self, conn: sqlite3.Connection, chunk: list[SpanRecord], shared: rows.SharedJson
    ) -> list[SpanRecord]:
        """Insert ``chunk``; return the spans that were new (not duplicates).

        One statement when nothing was a duplicate (each statement is one more wait for
        the GIL, see :meth:`_sql`). Otherwise the rows that went in are the last
        ``rowcount`` of the table: ``id`` is an INTEGER PRIMARY KEY without AUTOINCREMENT,
        so each new row gets the largest id so far plus one, and this connection is the
        only writer inside its transaction.
        """
        params = list(chain.from_iterable([rows.span_row(s, shared) for s in chunk]))
        cursor = conn.execute(self._sql("spans", len(chunk)), params)
        inserted = cursor.rowcount
        if inserted == len(chunk):
            return chunk
        if inserted == 0:
            return []
        after = (cursor.lastrowid or 0) - inserted  # the largest id before this insert
        returned = conn.execute(
            "SELECT tenant_id, trace_id, span_id FROM spans WHERE id > ?", (after,)
        ).fetchall()
        if len(returned) != inserted:
            # ids were not handed out one after the other (the largest id reached 2**63-1)
            raise StorageError(
                f"sqlite: write failed: {inserted} spans inserted but {len(returned)} found"
            )
        return _inserted(chunk, returned)

    def _write_sync(self, batch: WriteBatch, replay_key: str | None = None) -> WriteResult:
        conn = self._writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            if replay_key is not None and not _claim(conn, replay_key):
                conn.execute("ROLLBACK")
                return WriteResult(0, 0, 0, 0, already_stored=True)
            shared = rows.SharedJson()
            spans = batch.spans
            unique: list[SpanRecord] = []
            for piece in _pieces(spans):
                unique.extend(self._insert_spans(conn, piece, shared))
            deltas = summaries.summarize(unique)
            for chunk in _pieces(deltas):
                conn.execute(self._sql("traces", len(chunk)), [
                    v for d in chunk for v in (
                        d.tenant_id, d.trace_id, d.root_service, d.root_operation,
                        int(d.root_is_entry), d.root_start, d.start_time, d.end_time,
                        d.end_time - d.start_time, d.span_count, d.error_count,
                        int(d.status_code),
                    )
                ])  # fmt: skip
            self._insert_rows(conn, "logs", rows.LOG_COLUMNS,
                              [rows.log_row(r, shared) for r in batch.logs])  # fmt: skip
            self._insert_rows(conn, "metric_points", rows.POINT_COLUMNS,
                              [rows.point_row(p, shared) for p in batch.points])  # fmt: skip
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return WriteResult(
            spans_inserted=len(unique),
            spans_duplicate=len(spans) - len(unique),
            logs_inserted=len(batch.logs),
            points_inserted=len(batch.points),
        )

    # -- reads ----------------------------------------------------------------------------

    async def ping(self) -> None:
        """A read on a connection of its own: a long API query holding the reader must
        not make the database look down (to /ready and the health gate)."""

        def probe() -> None:
            if not os.path.exists(self._path):
                raise sqlite3.OperationalError(f"unable to open database file {self._path}")
            uri = Path(self._path).resolve().as_uri() + "?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=2.0)
            try:
                conn.execute("SELECT count(*) FROM schema_version").fetchone()
            finally:
                conn.close()

        await self._run(self._ping_limiter, "ping", probe)

    async def get_trace(self, tenant_id: str, trace_id: str) -> TraceDetail | None:
        def query() -> TraceDetail | None:
            row = self._reader.execute(
                "SELECT root_service, root_operation, start_time, end_time, span_count,"
                " error_count, status_code FROM traces WHERE tenant_id = ? AND trace_id = ?",
                (tenant_id, trace_id),
            ).fetchone()
            if row is None:
                return None
            # ``+start_time``: an expression, so no index can deliver the order. Without
            # it SQLite (no statistics) walks the tenant's (tenant, time) index to avoid a
            # sort of a dozen rows, reading every span of the tenant.
            span_rows = self._reader.execute(
                f"{_SPAN_SELECT} WHERE tenant_id = ? AND trace_id = ? ORDER BY +start_time, id",
                (tenant_id, trace_id),
            ).fetchall()
            log_rows = self._reader.execute(
                f"{_LOG_SELECT} WHERE tenant_id = ? AND trace_id = ? ORDER BY +timestamp, id",
                (tenant_id, trace_id),
            ).fetchall()
            return rows.trace_detail(tenant_id, trace_id, row, span_rows, log_rows)

        return await self._run(self._read_limiter, "get_trace", query)

    async def count_rows(self, table: str, tenant_id: str | None = None) -> int:
        if table not in rows.DATA_TABLES:
            raise ValueError(f"unknown table {table!r}")

        def query() -> int:
            if tenant_id is None:
                row = self._reader.execute(f"SELECT count(*) FROM {table}").fetchone()
            else:
                row = self._reader.execute(
                    f"SELECT count(*) FROM {table} WHERE tenant_id = ?", (tenant_id,)
                ).fetchone()
            return int(row[0])

        return await self._run(self._read_limiter, "count", query)

    # -- the query API (plans shared with the other backends) -----------------------------

    def _fetch(self, statement: Sql) -> list[Any]:
        return self._reader.execute(statement.text, statement.args).fetchall()

    async def _read(self, what: str, plan: plans.Plan[_T]) -> _T:
        """Run a read plan in one job on the reader connection (one snapshot: SQLite
        reads without an explicit transaction are per statement, so wrap them)."""

        def run() -> _T:
            self._reader.execute("BEGIN")
            try:
                return plans.drive(plan, self._fetch)
            finally:
                self._reader.execute("COMMIT")

        return await self._run(self._read_limiter, what, run)

    async def read_plan(self, what: str, plan: plans.Plan[_T]) -> _T:
        return await self._read(what, plan)

    async def write_plan(self, what: str, plan: plans.Plan[_T]) -> _T:
        """Run a plan in one write transaction on the writer connection; a ``Change``
        gets ``[(rows affected,)]`` back."""
        conn = self._writer

        def fetch(statement: Sql) -> list[Any]:
            cursor = conn.execute(statement.text, statement.args)
            return [(cursor.rowcount,)] if isinstance(statement, Change) else cursor.fetchall()

        def run() -> _T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = plans.drive(plan, fetch)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result

        return await self._run(self._write_limiter, what, run)

    async def stats(self, tenant_id: str) -> StoreStats:
        found = await self._read("stats", plans.stats(D, tenant_id))
        # the pages not yet checkpointed live in the -wal file
        wal = await trio.to_thread.run_sync(_file_size, self._path + "-wal")
        return dataclasses.replace(found, db_size_bytes=found.db_size_bytes + wal)

    async def purge_tenant(self, tenant_id: str, cutoff_ns: int) -> PurgeCounts:
        """Batches of ``_PURGE_BATCH`` rows, each its own transaction and its own job on
        the writer, so ingest commits get through between them."""
        counts = {}
        for table in PURGE_TABLES:
            statement = purge_tenant_batch(D, table, tenant_id, cutoff_ns, _PURGE_BATCH)
            total = 0
            while True:
                n = await self._run(self._write_limiter, "purge", partial(self._delete, statement))
                total += n
                if n < _PURGE_BATCH:
                    break
            counts[table] = total
        return PurgeCounts(**counts)

    def _delete(self, statement: Sql) -> int:
        conn = self._writer
        conn.execute("BEGIN IMMEDIATE")
        try:
            count = conn.execute(statement.text, statement.args).rowcount
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return int(count)

    async def maintain(self) -> None:
        # Never a full VACUUM: it locks the database for as long as it rewrites it.
        # incremental_vacuum hands free pages back to the file system (auto_vacuum is
        # INCREMENTAL from the file's creation) a bounded number per round, and each
        # round is its own job on the writer connection, so commits get through between.
        conn = self._writer

        def vacuum_round() -> int:
            conn.execute(f"PRAGMA incremental_vacuum({_VACUUM_PAGES})").fetchall()
            return int(conn.execute("PRAGMA freelist_count").fetchone()[0])

        def pragma(sql: str) -> Callable[[], object]:
            return lambda: conn.execute(sql).fetchall()

        await self._run(self._write_limiter, "maintenance", pragma("PRAGMA optimize"))
        for _ in range(_VACUUM_ROUNDS):
            if not await self._run(self._write_limiter, "maintenance", vacuum_round):
                break
        # the file shrinks once the WAL is checkpointed back into it (one checkpoint at
        # a time: a second one would find the checkpoint lock taken)
        checkpoint = pragma("PRAGMA wal_checkpoint(TRUNCATE)")
        async with self._checkpoint_lock:
            await self._run(self._write_limiter, "maintenance", checkpoint)

    async def count_older(self, table: str, cutoff_ns: int) -> int:
        column = rows.purge_time_column(table)

        def query() -> int:
            sql = f"SELECT count(*) FROM {table} WHERE {column} < ?"
            return int(self._reader.execute(sql, (cutoff_ns,)).fetchone()[0])

        return await self._run(self._read_limiter, "count", query)

    async def purge_batch(self, table: str, cutoff_ns: int, limit: int) -> int:
        column = rows.purge_time_column(table)
        key = "id" if table in rows.SURROGATE_ID_TABLES else "rowid"
        sql = (
            f"DELETE FROM {table} WHERE ({key}) IN "
            f"(SELECT {key} FROM {table} WHERE {column} < ? LIMIT ?)"
        )
        delete = partial(self._delete, Sql(sql, (cutoff_ns, limit)))
        return await self._run(self._write_limiter, "purge", delete)

    def pool_stats(self) -> PoolStats:
        in_use = self._write_limiter.borrowed_tokens + self._read_limiter.borrowed_tokens
        return PoolStats(
            max_open=2, open_connections=2, in_use=in_use, idle=2 - in_use,
            wait_count=self._wait_count, wait_duration_s=self._wait_s,
        )  # fmt: skip


def _claim(conn: sqlite3.Connection, replay_key: str) -> bool:
    """Record ``replay_key`` in the open transaction; False when it is there already
    (the batch was stored by an earlier transaction)."""
    cursor = conn.execute(
        "INSERT INTO dlq_replays (batch_key, stored_at) VALUES (?, ?)"
        " ON CONFLICT (batch_key) DO NOTHING",
        (replay_key, time.time_ns()),
    )
    return cursor.rowcount == 1


def _inserted(chunk: list[SpanRecord], returned: list[Any]) -> list[SpanRecord]:
    """The spans of ``chunk`` that RETURNING named: not already stored, and only the
    first copy of a span that appears twice in the chunk."""
    keys = {tuple(r) for r in returned}
    out = []
    for s in chunk:
        key = (s.tenant_id, s.trace_id, s.span_id)
        if key in keys:
            keys.discard(key)
            out.append(s)
    return out


def _pieces(items: list[_T]) -> Iterator[list[_T]]:
    """``items`` in pieces of _CHUNK, then at most two: a multiple of _STEP and the rest.

    Each size is a statement of its own, and SQLite parses a multi-row INSERT in about
    the time it takes to run it, so the sizes come from a small set that the writer
    connection keeps prepared, at the cost of one more statement per table and commit.
    """
    n = len(items)
    full = n - n % _CHUNK
    for i in range(0, full, _CHUNK):
        yield items[i : i + _CHUNK]
    cut = n - (n - full) % _STEP
    if cut > full:
        yield items[full:cut]
    if n > cut:
        yield items[cut:]


def _values_sql(table: str, columns: Sequence[str], n: int) -> str:
    one = "(" + ",".join("?" * len(columns)) + ")"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ",".join([one] * n)


@asynccontextmanager
async def open_sqlite(
    path: str, *, migrate: bool = True, busy_timeout_s: float = 5.0
) -> AsyncIterator[SqliteStorage]:
    """Open (creating the file, its directory and the schema if needed) and yield the backend.

    Raises StorageError when the file or its directory cannot be opened or created,
    StorageUnavailable when another process holds a lock on it, SchemaError when its
    schema is newer than this build.
    """

    def setup() -> tuple[sqlite3.Connection, sqlite3.Connection, sqlite3.Connection]:
        parent = Path(path).parent
        parent.mkdir(parents=True, exist_ok=True)
        opened = [_connect(path, read_only=False, busy_timeout_s=busy_timeout_s)]
        try:
            _migrate(opened[0], migrate)
            opened.append(_connect(path, read_only=True, busy_timeout_s=busy_timeout_s))
            # copies pages from the WAL into the file; caches nothing worth keeping
            checkpointer = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None,
                                           check_same_thread=False)  # fmt: skip
            opened.append(checkpointer)
            checkpointer.execute("PRAGMA cache_size = -1024")
            # a first checkpoint opens the WAL and shared-memory files now, beside the
            # writer's, not later by name
            checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except BaseException:
            _close_all(*opened)
            raise
        return opened[0], opened[1], checkpointer

    try:
        writer, reader, checkpointer = await trio.to_thread.run_sync(setup)
    except sqlite3.Error as exc:
        # Only a lock held by another process is worth waiting for at start; a path that
        # cannot be opened stays that way (startup retries StorageUnavailable).
        text = str(exc).lower()
        if "locked" in text or "busy" in text:
            raise StorageUnavailable(f"sqlite: opening {path} failed: {exc}") from exc
        raise StorageError(f"sqlite: opening {path} failed: {exc}") from exc
    except OSError as exc:
        raise StorageError(f"sqlite: cannot create {path}: {exc.strerror}") from exc
    storage = SqliteStorage(path, writer, reader, checkpointer)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(storage.checkpoint_loop)
            try:
                yield storage
            finally:
                nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(10):
            async with storage._write_limiter, storage._read_limiter:
                await trio.to_thread.run_sync(_close_all, writer, reader, checkpointer)


def _file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _close_all(*conns: sqlite3.Connection) -> None:
    for conn in conns:
        conn.close()
