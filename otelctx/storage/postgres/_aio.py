"""The asyncio half of the PostgreSQL backend: every asyncpg call lives here.

Everything in this module is plain asyncio; ``otelctx.storage.postgres`` calls each public
coroutine through ``trio_asyncio.aio_as_trio`` once per operation (a whole write batch is
one call), never per row.

Resource handling: ``open_backend`` creates the asyncpg pool and hands it to the returned
``PgBackend``, whose ``close`` closes it; if opening fails after the pool exists, the pool
is terminated before the error propagates. Each operation holds one pooled connection for
its duration and always gives it back (asyncpg shields the release from cancellation).

Error handling: driver and socket errors are translated here, ``raise ... from exc``, into
one-line messages that start with ``postgres: `` and never contain the DSN password:

- cannot connect, connection lost, too many connections, server starting or shutting
  down, disk full, read-only (standby), deadlock or serialization failure, any OSError
  (refused, reset, timeouts, TLS) -> ``StorageUnavailable`` (retry later);
- bad password, unknown role or database, and every other driver error -> ``StorageError``;
- a schema this build cannot use -> ``SchemaError``.

Cancellation: a cancelled write rolls its transaction back, unless COMMIT had already been
sent, in which case the batch may or may not be stored (as with any client-server
database); spans are idempotent, so the caller can simply write it again.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import asyncpg
from asyncpg import exceptions as pgerr

from otelctx.config import Settings, scrub_dsn
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
from otelctx.storage.postgres import schema
from otelctx.storage.queries import PurgeCounts
from otelctx.storage.sql_aggregates import PURGE_TABLES, purge_tenant_batch
from otelctx.storage.sql_queries import Change, Dialect, Sql

log = logging.getLogger("otelctx.storage.postgres")

_T = TypeVar("_T")
D = Dialect.POSTGRES

# One connection attempt (also when the pool grows later); DB_CONNECT_TIMEOUT bounds the
# retries of the whole start-up in open_storage. A DSN connect_timeout overrides it.
_CONNECT_ATTEMPT_TIMEOUT_S = 10.0
# asyncpg's own default for closing idle connections above the floor.
_MAX_IDLE_TIME_S = 300.0
_MAX_REASON_CHARS = 400
_REDACTED = "REDACTED"
_SHORT_SECRET = 4

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    pgerr.PostgresConnectionError,  # class 08: cannot connect, connection failure
    pgerr.ConnectionDoesNotExistError,  # the connection went away mid-operation
    pgerr.OperatorInterventionError,  # class 57: starting up, shutting down, cancelled
    pgerr.InsufficientResourcesError,  # class 53: too many connections, disk full, OOM
    pgerr.ReadOnlySQLTransactionError,  # a standby, or read-only after a failover
    pgerr.TransactionRollbackError,  # deadlock, serialization failure: try again
    OSError,  # refused, reset, unreachable, TimeoutError, ssl.SSLError
)
_DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    pgerr.PostgresError,
    pgerr.InterfaceError,
    pgerr.InternalClientError,
    OSError,
)


# -- connection parameters -------------------------------------------------------------------

_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
# libpq key=value pairs: a value is single-quoted (backslash escapes) or runs to whitespace.
_KV_PAIR = re.compile(r"\s*([A-Za-z_]+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|((?:[^\s'\\]|\\.)+))")
_KV_UNESCAPE = re.compile(r"\\(.)")
# libpq keys that map onto asyncpg.connect keyword arguments.
_KV_KWARGS = {
    "host": "host", "port": "port", "user": "user", "password": "password",
    "dbname": "database", "sslmode": "ssl", "passfile": "passfile",
    "target_session_attrs": "target_session_attrs", "krbsrvname": "krbsrvname",
    "gsslib": "gsslib", "service": "service",
}  # fmt: skip
# libpq keys asyncpg reads only from a DSN's query string: they travel in a host-less DSN.
_KV_DSN_ONLY = frozenset({
    "sslrootcert", "sslcert", "sslkey", "sslcrl", "sslpassword", "sslnegotiation",
    "ssl_min_protocol_version", "ssl_max_protocol_version",
})  # fmt: skip
_KV_SUPPORTED = sorted({*_KV_KWARGS, *_KV_DSN_ONLY, "connect_timeout", "application_name"})
_SECRET_KEYS = frozenset({"password", "sslpassword"})


@dataclass(frozen=True, slots=True)
class ConnectArgs:
    """What asyncpg needs to connect, parsed from DB_DSN, and how to talk about it safely."""

    dsn: str | None
    kwargs: dict[str, Any]
    shown: str  # the DSN with its passwords masked, for messages
    secrets: tuple[str, ...] = field(default=(), repr=False)  # never to appear in a message

    def redact(self, text: str) -> str:
        return _redact(text, self.secrets)


def parse_dsn(dsn: str, *, default_timeout: float = _CONNECT_ATTEMPT_TIMEOUT_S) -> ConnectArgs:
    """Parse DB_DSN: a ``postgresql://`` / ``postgres://`` URL or libpq ``key=value`` pairs.

    URLs go to asyncpg as they are (minus ``connect_timeout``, which asyncpg would send to
    the server as a setting). Key=value pairs become ``asyncpg.connect`` keyword arguments;
    the TLS file options asyncpg reads only from a URL travel in a host-less one.
    Raises StorageError (naming no secret) for anything else.
    """
    text = dsn.strip()
    m = _URL_SCHEME.match(text)
    scheme = m[1].lower() if m else ""
    if scheme in ("postgresql", "postgres"):
        return _parse_url(text, default_timeout)
    if scheme or "=" not in text:
        raise StorageError(
            "postgres: DB_DSN must be a postgresql://user:password@host:5432/db URL or libpq "
            "key=value pairs (host=... port=5432 user=... dbname=...)"
        )
    return _parse_kv(text, default_timeout)


def _redact(text: str, secrets: Iterable[str]) -> str:
    """Mask every occurrence of each secret. A very short one is masked only where it stands
    alone: masking every "x" of a message would garble it and hide nothing."""
    for secret in secrets:
        if len(secret) >= _SHORT_SECRET:
            text = text.replace(secret, _REDACTED)
        else:
            text = re.sub(rf"(?<![^\W_]){re.escape(secret)}(?![^\W_])", _REDACTED, text)
    return text


def _timeout(value: str, secrets: Iterable[str]) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise StorageError(
            f"postgres: DB_DSN connect_timeout={_redact(repr(value), secrets)} is not a "
            "number of seconds"
        ) from None
    # libpq: zero, negative or absent means wait forever; the start-up deadline still holds.
    return seconds if seconds > 0 else float(24 * 3600)


def _parse_url(text: str, default_timeout: float) -> ConnectArgs:
    try:
        parts = urlsplit(text)
    except ValueError:
        raise StorageError(f"postgres: DB_DSN is not a valid URL: {scrub_dsn(text)}") from None
    userinfo = parts.netloc.rpartition("@")[0]
    password = userinfo.partition(":")[2]
    secrets = {password, unquote(password)}
    query = parse_qsl(parts.query, keep_blank_values=True)
    secrets.update(v for k, v in query if k in _SECRET_KEYS)
    kwargs: dict[str, Any] = {"timeout": default_timeout}
    kept = [(k, v) for k, v in query if k != "connect_timeout"]
    for key, value in query:
        if key == "connect_timeout":
            kwargs["timeout"] = _timeout(value, secrets)
    if len(kept) != len(query):
        text = urlunsplit(parts._replace(query=urlencode(kept)))
    return ConnectArgs(text, kwargs, scrub_dsn(text), tuple(sorted(s for s in secrets if s)))


def _parse_kv(text: str, default_timeout: float) -> ConnectArgs:
    pairs: dict[str, str] = {}
    pos = 0
    while pos < len(text):
        m = _KV_PAIR.match(text, pos)
        if m is None or (m.end() < len(text) and not text[m.end()].isspace()):
            raise StorageError(
                f"postgres: DB_DSN is not valid key=value pairs (near character {pos + 1}): "
                "write key=value separated by spaces, and quote values with spaces: key='a b'"
            )
        raw = m[2] if m[2] is not None else m[3]
        pairs[m[1].lower()] = _KV_UNESCAPE.sub(r"\1", raw)
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    secrets = tuple(sorted(v for k, v in pairs.items() if k in _SECRET_KEYS and v))
    unknown = sorted(set(pairs) - set(_KV_SUPPORTED))
    if unknown:
        raise StorageError(
            f"postgres: DB_DSN key {unknown[0]!r} is not supported; supported keys: "
            + ", ".join(_KV_SUPPORTED)
        )
    kwargs: dict[str, Any] = {"timeout": default_timeout}
    dsn_only: list[tuple[str, str]] = []
    for key, value in pairs.items():
        if key == "host" and "," in value:
            kwargs["host"] = value.split(",")
        elif key == "port":
            try:
                ports = [int(p) for p in value.split(",")]
            except ValueError:
                raise StorageError(
                    f"postgres: DB_DSN port={_redact(repr(value), secrets)} is not a port"
                ) from None
            kwargs["port"] = ports if len(ports) > 1 else ports[0]
        elif key == "connect_timeout":
            kwargs["timeout"] = _timeout(value, secrets)
        elif key == "application_name":
            kwargs["server_settings"] = {"application_name": value}
        elif key in _KV_DSN_ONLY:
            dsn_only.append((key, value))
        else:
            kwargs[_KV_KWARGS[key]] = value
    dsn = "postgresql://?" + urlencode(dsn_only) if dsn_only else None
    return ConnectArgs(dsn, kwargs, scrub_dsn(text), secrets)


# -- error translation -----------------------------------------------------------------------


def _reason(exc: BaseException, args: ConnectArgs) -> str:
    if isinstance(exc, pgerr.PostgresError):
        text = f"{exc} (SQLSTATE {exc.sqlstate})"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    text = " ".join(args.redact(text).split())
    if len(text) > _MAX_REASON_CHARS:
        text = text[: _MAX_REASON_CHARS - 3] + "..."
    return text


def translate(exc: BaseException, what: str, args: ConnectArgs) -> StorageError:
    """``postgres: <what>: <reason>`` as StorageUnavailable or StorageError (see module doc)."""
    message = f"postgres: {what}: {_reason(exc, args)}"
    if isinstance(exc, _UNAVAILABLE):
        return StorageUnavailable(message)
    return StorageError(message)


# -- the backend -----------------------------------------------------------------------------


class _Connection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg has no type hints
    """A connection that knows when it was opened (asyncpg has no maximum lifetime) and
    whether it has created its staging tables.

    Reached through asyncpg's pool proxy, which forwards unknown attributes: hence
    methods rather than attribute assignment.
    """

    __slots__ = ("_staging_ready", "opened_at")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opened_at = time.monotonic()
        self._staging_ready = False

    async def ensure_staging(self) -> None:
        """Create this session's temporary staging tables once, outside any write
        transaction (a rolled-back write must not take them away)."""
        if not self._staging_ready:
            for statement in schema.CREATE_STAGING:
                await self.execute(statement)
            self._staging_ready = True


class BatchRows(NamedTuple):
    """A batch as the row tuples that are COPYed: pure CPU work (~10 µs a span), which the
    caller may do in a worker thread rather than on the event loop. ``traces`` are the
    summary rows of all the spans, right whenever none of them was a duplicate."""

    spans: list[tuple[Any, ...]]
    traces: list[tuple[Any, ...]]
    logs: list[tuple[Any, ...]]
    points: list[tuple[Any, ...]]

    @classmethod
    def of(cls, batch: WriteBatch) -> BatchRows:
        shared = rows.SharedJson()
        return cls(
            [rows.span_row(s, shared) for s in batch.spans],
            [_trace_row(d, clean=False) for d in summaries.summarize(batch.spans)],
            [rows.log_row(r, shared) for r in batch.logs],
            [rows.point_row(p, shared) for p in batch.points],
        )

    def without_nul(self) -> BatchRows:
        # trace rows are rebuilt (cleaned) from whichever spans turn out to be new
        return BatchRows(_nul_free(self.spans), [], _nul_free(self.logs), _nul_free(self.points))


class PgBackend:
    """The asyncio side of PostgresStorage: one asyncpg pool.

    Pool sizing follows the Go settings as closely as asyncpg allows:

    - DB_MAX_OPEN_CONNS is the pool's ``max_size``;
    - DB_MAX_IDLE_CONNS (capped at the maximum) is its ``min_size``: asyncpg keeps that many
      connections open even when idle, and closes the idle ones above it after
      ``max_inactive_connection_lifetime`` = min(DB_CONN_MAX_LIFETIME, 300 s);
    - DB_CONN_MAX_LIFETIME: a connection that has been open that long is closed when it is
      next given back after a successful operation, and the pool opens a fresh one on
      demand. A connection that stays idle is not closed early (it may outlive the limit
      until its next use, or until the idle timeout above closes it).

    ``wait_count`` and ``wait_duration_s`` count the acquires that found no idle connection
    (they waited for a connection to be given back, or for a new one to open) and the time
    those acquires took.
    """

    def __init__(self, pool: Any, args: ConnectArgs, max_lifetime_s: float) -> None:
        self._pool = pool
        self._args = args
        self._max_lifetime_s = max_lifetime_s
        self._wait_count = 0
        self._wait_s = 0.0

    # -- connections ---------------------------------------------------------------------

    async def _acquire(self) -> Any:
        pool = self._pool
        if pool.get_idle_size() > 0:
            return await pool.acquire()
        self._wait_count += 1
        t0 = time.monotonic()
        try:
            return await pool.acquire()
        finally:
            self._wait_s += time.monotonic() - t0

    @asynccontextmanager
    async def connection(self, what: str) -> AsyncIterator[Any]:
        """A pooled connection; driver errors in the block become ``postgres: <what>: ...``."""
        try:
            conn = await self._acquire()
        except _DRIVER_ERRORS as exc:
            raise translate(exc, what, self._args) from exc
        try:
            yield conn
        except _DRIVER_ERRORS as exc:
            await self._give_back(conn, healthy=False)
            raise translate(exc, what, self._args) from exc
        except BaseException:
            await self._give_back(conn, healthy=False)
            raise
        await self._give_back(conn, healthy=True)

    async def _give_back(self, conn: Any, *, healthy: bool) -> None:
        """Release ``conn``, or close it past DB_CONN_MAX_LIFETIME (its pool slot reconnects
        on demand). Never raises a driver error: the operation's outcome is decided (a
        committed write must not look failed), and asyncpg discards a connection it cannot
        reset."""
        try:
            if healthy and time.monotonic() - conn.opened_at >= self._max_lifetime_s:
                await conn.close()
            await self._pool.release(conn)
        except _DRIVER_ERRORS as exc:
            log.debug("postgres: connection discarded on release: %s", _reason(exc, self._args))

    def pool_stats(self) -> PoolStats:
        pool = self._pool
        size, idle = pool.get_size(), pool.get_idle_size()
        return PoolStats(
            max_open=pool.get_max_size(), open_connections=size, in_use=size - idle,
            idle=idle, wait_count=self._wait_count, wait_duration_s=self._wait_s,
        )  # fmt: skip

    async def close(self) -> None:
        """Close the pool gracefully (waits for connections in use; cancelling terminates)."""
        await self._pool.close()

    def terminate(self) -> None:
        self._pool.terminate()

    # -- writes --------------------------------------------------------------------------

    async def write(
        self,
        batch: WriteBatch,
        prepared: BatchRows | None = None,
        replay_key: str | None = None,
    ) -> WriteResult:
        """Store the batch in one transaction (see Storage.write); ``prepared`` is
        ``BatchRows.of(batch)`` when the caller has already built it."""
        if not len(batch):
            return WriteResult(0, 0, 0, 0)
        prepared = prepared or BatchRows.of(batch)
        async with self.connection("write failed") as conn:
            try:
                unique = await self._write_tx(conn, batch.spans, prepared, replay_key=replay_key)
            except pgerr.CharacterNotInRepertoireError as exc:
                if "0x00" not in str(exc):
                    raise
                # PostgreSQL text cannot hold NUL (other backends can): store U+FFFD instead
                # rather than reject the batch forever. Only this rare path pays the scan.
                unique = await self._write_tx(conn, batch.spans, prepared.without_nul(),
                                              clean=True, replay_key=replay_key)  # fmt: skip
        if unique is None:
            return WriteResult(0, 0, 0, 0, already_stored=True)
        return WriteResult(
            spans_inserted=len(unique),
            spans_duplicate=len(batch.spans) - len(unique),
            logs_inserted=len(batch.logs),
            points_inserted=len(batch.points),
        )

    async def _write_tx(
        self,
        conn: Any,
        spans: list[SpanRecord],
        prepared: BatchRows,
        *,
        clean: bool = False,
        replay_key: str | None = None,
    ) -> list[SpanRecord] | None:
        """Returns the spans that were new (not already stored, first copy in the batch);
        None when ``replay_key`` was stored before (and nothing was written)."""
        span_rows, trace_rows, log_rows, point_rows = prepared
        unique: list[SpanRecord] = []
        if spans:
            await conn.ensure_staging()
        async with conn.transaction():
            if replay_key is not None:
                claimed = await conn.execute(schema.CLAIM_REPLAY, replay_key, time.time_ns())
                if _affected(claimed) == 0:
                    return None
            if spans:
                await _copy(conn, schema.SPANS_STAGING, rows.SPAN_COLUMNS, span_rows)
                n, tenants, traces, span_ids = await conn.fetchrow(schema.INSERT_SPANS, len(spans))
                if n == len(spans):
                    unique = spans
                else:
                    returned = zip(tenants or (), traces or (), span_ids or (), strict=True)
                    unique = _inserted(spans, span_rows, returned)
                if unique is not spans or not trace_rows:
                    deltas = summaries.summarize(unique)
                    trace_rows = [_trace_row(d, clean=clean) for d in deltas]
            if unique:
                await _copy(conn, schema.TRACES_STAGING, schema.TRACE_COLUMNS, trace_rows)
                await conn.execute(schema.UPSERT_TRACES)
            if log_rows:
                await _copy(conn, "logs", rows.LOG_COLUMNS, log_rows)
            if point_rows:
                await _copy(conn, "metric_points", rows.POINT_COLUMNS, point_rows)
        return unique

    # -- reads ---------------------------------------------------------------------------

    async def ping(self) -> None:
        """Raise StorageUnavailable unless ``SELECT 1`` answers."""
        try:
            async with self.connection("ping failed") as conn:
                await conn.fetchval("SELECT 1")
        except StorageUnavailable:
            raise
        except StorageError as exc:
            raise StorageUnavailable(str(exc)) from exc

    async def get_trace(self, tenant_id: str, trace_id: str) -> TraceDetail | None:
        async with self.connection("get_trace failed") as conn:
            row = await conn.fetchrow(schema.SELECT_TRACE, tenant_id, trace_id)
            if row is None:
                return None
            span_rows = await conn.fetch(schema.SELECT_SPANS, tenant_id, trace_id)
            log_rows = await conn.fetch(schema.SELECT_LOGS, tenant_id, trace_id)
        return rows.trace_detail(tenant_id, trace_id, row, span_rows, log_rows)

    async def count_rows(self, table: str, tenant_id: str | None = None) -> int:
        if table not in rows.DATA_TABLES:
            raise ValueError(f"unknown table {table!r}")
        async with self.connection("count failed") as conn:
            if tenant_id is None:
                count = await conn.fetchval(f"SELECT count(*) FROM {table}")
            else:
                count = await conn.fetchval(
                    f"SELECT count(*) FROM {table} WHERE tenant_id = $1", tenant_id
                )
        return int(count)

    async def run_plan(self, what: str, plan: plans.Plan[_T]) -> _T:
        """Run a read plan (``storage.plans``) on one connection, in one read-only
        snapshot, so that a page and its total agree."""
        async with (
            self.connection(f"{what} failed") as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):

            async def fetch(statement: Sql) -> plans.Rows:
                found: plans.Rows = await conn.fetch(statement.text, *statement.args)
                return found

            return await plans.drive_async(plan, fetch)

    async def run_write_plan(self, what: str, plan: plans.Plan[_T]) -> _T:
        """Run a plan in one transaction; a ``Change`` gets ``[(rows affected,)]`` back."""
        async with self.connection(f"{what} failed") as conn, conn.transaction():

            async def fetch(statement: Sql) -> plans.Rows:
                if isinstance(statement, Change):
                    status = await conn.execute(statement.text, *statement.args)
                    return [(_affected(status),)]
                found: plans.Rows = await conn.fetch(statement.text, *statement.args)
                return found

            return await plans.drive_async(plan, fetch)

    async def purge_tenant(self, tenant_id: str, cutoff_ns: int, batch: int) -> PurgeCounts:
        """Delete in batches of ``batch`` rows, each its own transaction (autocommit), so
        ingest gets through between them."""
        counts = {}
        async with self.connection("purge failed") as conn:
            for table in PURGE_TABLES:
                statement = purge_tenant_batch(D, table, tenant_id, cutoff_ns, batch)
                total = 0
                while True:
                    status = await conn.execute(statement.text, *statement.args)
                    n = int(status.rsplit(" ", 1)[1])  # "DELETE <n>"
                    total += n
                    if n < batch:
                        break
                counts[table] = total
        return PurgeCounts(**counts)

    async def count_older(self, table: str, cutoff_ns: int) -> int:
        column = rows.purge_time_column(table)
        async with self.connection("count failed") as conn:
            count = await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {column} < $1",
                                        cutoff_ns)  # fmt: skip
        return int(count)

    async def purge_batch(self, table: str, cutoff_ns: int, limit: int) -> int:
        column = rows.purge_time_column(table)
        # the row address where no integer id identifies a row
        key = "id" if table in rows.SURROGATE_ID_TABLES else "ctid"
        async with self.connection("purge failed") as conn:
            status = await conn.execute(
                f"DELETE FROM {table} WHERE {key} = ANY(ARRAY("
                f"SELECT {key} FROM {table} WHERE {column} < $1 LIMIT $2))",
                cutoff_ns, limit,
            )  # fmt: skip
        return int(status.rsplit(" ", 1)[1])  # "DELETE <n>"

    async def vacuum_analyze(self) -> None:
        """VACUUM ANALYZE the data tables (outside a transaction, as VACUUM requires)."""
        async with self.connection("vacuum failed") as conn:
            await conn.execute(schema.VACUUM_ANALYZE)


async def _copy(
    conn: Any, table: str, columns: tuple[str, ...], records: list[tuple[Any, ...]]
) -> None:
    """Binary COPY of ``records`` into ``table``."""
    try:
        await conn.copy_records_to_table(table, records=records, columns=columns)
    except (OverflowError, ValueError, TypeError) as exc:
        if isinstance(exc, pgerr.InterfaceError):  # asyncpg's DataError is a ValueError
            raise
        # a value the binary encoder cannot represent (e.g. an integer beyond 64 bits)
        raise StorageError(f"postgres: write failed: unstorable value in {table}: {exc}") from exc


def _inserted(
    spans: list[SpanRecord], span_rows: list[tuple[Any, ...]], returned: Any
) -> list[SpanRecord]:
    """The spans whose keys RETURNING named: only the first copy of a span sent twice.

    Keys come from the rows as sent (they may have been NUL-cleaned), not the records."""
    keys = set(returned)
    out = []
    for s, row in zip(spans, span_rows, strict=True):
        key = (row[0], row[1], row[2])
        if key in keys:
            keys.discard(key)
            out.append(s)
    return out


def _affected(status: str) -> int:
    """Rows of a command status: ``INSERT 0 <n>``, ``UPDATE <n>``, ``DELETE <n>``."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


def _trace_row(d: summaries.SummaryDelta, *, clean: bool) -> tuple[Any, ...]:
    text = _no_nul if clean else _same
    return (
        text(d.tenant_id), text(d.trace_id), text(d.root_service), text(d.root_operation),
        int(d.root_is_entry), d.root_start, d.start_time, d.end_time,
        d.end_time - d.start_time, d.span_count, d.error_count, int(d.status_code),
    )  # fmt: skip


def _same(s: str) -> str:
    return s


def _no_nul(s: str) -> str:
    return s.replace("\x00", "\ufffd")


def _nul_free(table_rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [tuple(_no_nul(v) if isinstance(v, str) else v for v in row) for row in table_rows]


# -- opening and the schema ------------------------------------------------------------------


def _newer(current: int) -> SchemaError:
    return SchemaError(
        f"postgres: schema is version {current}, newer than this otelctx knows "
        f"({schema.SCHEMA_VERSION}): upgrade otelctx or point DB_DSN at another database"
    )


async def _current_version(conn: Any) -> int:
    if not await conn.fetchval("SELECT to_regclass('schema_version') IS NOT NULL"):
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version"))


async def _check(conn: Any) -> None:
    current = await _current_version(conn)
    if current > schema.SCHEMA_VERSION:
        raise _newer(current)
    if current < schema.SCHEMA_VERSION:
        raise SchemaError(
            f"postgres: schema is version {current}, this otelctx needs "
            f"{schema.SCHEMA_VERSION}: run `otelctx migrate` or set DB_AUTOMIGRATE=true"
        )


async def _migrate(conn: Any, args: ConnectArgs) -> None:
    """Create or upgrade the schema in one transaction, one otelctx instance at a time."""
    async with conn.transaction():
        # Taken before any DDL: two instances starting together would otherwise race on
        # CREATE TABLE IF NOT EXISTS (it is not atomic) and on the version check.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", schema.MIGRATION_LOCK_KEY)
        await conn.execute(schema.SCHEMA_VERSION_TABLE)
        current = await _current_version(conn)
        if current > schema.SCHEMA_VERSION:
            raise _newer(current)
        for version, statements in schema.MIGRATIONS:
            if version <= current:
                continue
            for statement in statements:
                await conn.execute(statement)
            if version == schema.TRGM_VERSION:
                await _try_trigram_index(conn, args)
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
    if current < schema.SCHEMA_VERSION:
        log.info("postgres: schema migrated from version %d to %d", current,
                 schema.SCHEMA_VERSION)  # fmt: skip


async def _try_trigram_index(conn: Any, args: ConnectArgs) -> None:
    """pg_trgm and a GIN index on logs.body, if the server and the role allow it."""
    try:
        async with conn.transaction():  # a savepoint: a failure leaves the migration intact
            await conn.execute(schema.TRGM_EXTENSION)
            await conn.execute(schema.TRGM_INDEX)
    except pgerr.PostgresError as exc:
        if isinstance(exc, _UNAVAILABLE):
            raise
        log.warning(
            "postgres: no trigram index on logs.body (%s); log body search will scan the "
            "table. To add it later, as a role allowed to create extensions, run: %s",
            _reason(exc, args), schema.TRGM_INDEX_LATER,
        )  # fmt: skip


async def open_backend(settings: Settings, *, migrate: bool) -> PgBackend:
    """Create the pool, then create/upgrade (``migrate``) or check the schema.

    Raises StorageUnavailable (retryable), StorageError or SchemaError; on failure nothing
    is left open.
    """
    args = parse_dsn(
        settings.db_dsn,
        default_timeout=min(_CONNECT_ATTEMPT_TIMEOUT_S, settings.db_connect_timeout),
    )
    what = f"cannot open {args.shown}"
    max_open = settings.db_max_open_conns
    try:
        pool = await asyncpg.create_pool(
            args.dsn,
            min_size=min(settings.db_max_idle_conns, max_open),
            max_size=max_open,
            max_inactive_connection_lifetime=min(settings.db_conn_max_lifetime,
                                                 _MAX_IDLE_TIME_S),
            connection_class=_Connection,
            **args.kwargs,
        )  # fmt: skip
    except _DRIVER_ERRORS as exc:
        raise translate(exc, what, args) from exc
    backend = PgBackend(pool, args, settings.db_conn_max_lifetime)
    try:
        async with backend.connection(what) as conn:
            await (_migrate(conn, args) if migrate else _check(conn))
    except BaseException:
        pool.terminate()
        raise
    return backend
