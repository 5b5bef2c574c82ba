"""MySQL/MariaDB backend: asyncmy behind trio-asyncio.

``open_mysql`` parses DB_DSN, opens an asyncmy pool and checks (or migrates) the
schema; ``MySQLStorage`` is the Trio-flavoured Storage. Each operation is one
``trio_asyncio.aio_as_trio`` crossing into ``_aio``, except writes: a batch is first
rendered into SQL text in a worker thread (``render``: rows, summaries, escaping),
then sent in one crossing; only a batch that meets stored spans takes a few more
hops (two thread hops and two crossings per round, never per row).

DB_DSN forms::

    mysql://user:password@host:3306/db?tls=true        (also mariadb://; percent-encode
                                                        special characters of the password)
    user:password@tcp(host:3306)/db?param=value        (the Go driver's form)
    user:password@unix(/run/mysqld/mysqld.sock)/db

Parameters: ``tls`` = true | skip-verify | false (or ``ssl-mode`` = DISABLED | REQUIRED |
VERIFY_CA | VERIFY_IDENTITY), ``timeout`` (connect timeout, a Go duration such as ``5s``),
``readTimeout`` (per read; mind slow statements), ``unix_socket``. The character set is
always utf8mb4. Go driver parameters that do not matter here (``charset=utf8mb4``,
``parseTime``, ``loc`` ...) are accepted; any other is ignored with a warning.

Resource handling: ``open_mysql`` owns the pool. On exit it waits (shielded, at most
10 s) for borrowed connections to come back, then closes every connection.

Error handling: see ``_aio``. Unreachable → StorageUnavailable (``open_storage``
retries); bad credentials, unknown database, malformed DSN → StorageError; a schema
that is missing or older without ``migrate``, or newer than this build → SchemaError.
"""

from __future__ import annotations

import logging
import re
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar, TypeVarTuple, cast
from urllib.parse import parse_qsl, unquote, urlsplit

import trio
import trio_asyncio

from otelctx.config import Settings, scrub_dsn
from otelctx.storage import plans
from otelctx.storage.base import (
    PoolStats,
    StorageError,
    StorageUnavailable,
    TraceDetail,
    WriteBatch,
    WriteResult,
    write_concurrency,
)
from otelctx.storage.mysql import _aio, render
from otelctx.storage.mysql.schema import SCHEMA_VERSION
from otelctx.storage.plan_queries import PlanQueries
from otelctx.storage.queries import PurgeCounts
from otelctx.storage.sql_queries import Dialect

__all__ = ["SCHEMA_VERSION", "ConnectParams", "MySQLStorage", "open_mysql", "parse_dsn"]

log = logging.getLogger(__name__)

_CLOSE_TIMEOUT_S = 10.0
_CONNECT_ATTEMPT_MAX_S = 10.0
_DEFAULT_PORT = 3306
# keys lower-case with '_' for '-'; "preferred" (TLS when offered) has no asyncmy equivalent
_TLS_VALUES = {
    "true": "verify", "verify_identity": "verify", "verify_ca": "verify-ca",
    "skip_verify": "skip-verify", "required": "skip-verify", "false": "off", "disabled": "off",
}  # fmt: skip
# Go driver parameters that make no difference to this backend (lower case).
_HARMLESS_PARAMS = frozenset({
    "parsetime", "loc", "collation", "allownativepasswords", "interpolateparams",
    "checkconnliveness", "columnswithalias", "maxallowedpacket", "multistatements",
    "writetimeout", "clientfoundrows", "rejectreadonly",
})  # fmt: skip
_GO_DURATION = re.compile(r"([0-9]+(?:\.[0-9]*)?)(ns|us|µs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
# Below this many items rendering takes less than a thread hop: render inline.
_THREAD_MIN_ITEMS = 64
# Duplicate spans are resolved by re-checking which keys are stored; each round
# removes the keys a concurrent writer committed, so more rounds mean a pathological
# race (and a retryable failure).
_DUPLICATE_ROUNDS = 8
_ABANDON_TIMEOUT_S = 5.0
# Rows per purge_tenant transaction: short enough that ingest commits wait little.
_PURGE_BATCH = 5000
D = Dialect.MYSQL

_P = ParamSpec("_P")
_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")


@dataclass(frozen=True, slots=True)
class ConnectParams:
    """What DB_DSN says; ``tls`` is off | verify | verify-ca | skip-verify."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str
    unix_socket: str | None = None
    tls: str = "off"
    connect_timeout_s: float | None = None
    read_timeout_s: float | None = None
    ignored: tuple[str, ...] = ()


def parse_dsn(dsn: str) -> ConnectParams:
    """Parse either DSN form; StorageError when malformed.

    The error never quotes the DSN or a piece of it: in a DSN that does not parse,
    nothing tells where the password is, so ``scrub_dsn`` could miss it.
    """
    try:
        scheme, sep, rest = dsn.partition("://")
        if sep:
            if scheme.lower() not in ("mysql", "mariadb"):
                raise ValueError("the scheme must be mysql:// or mariadb://")
            return _parse_url(dsn, rest)
        return _parse_go(dsn)
    except ValueError as exc:
        raise StorageError(
            f"mysql: DB_DSN is malformed: {exc}; expected "
            "mysql://user:password@host:3306/db or user:password@tcp(host:3306)/db"
        ) from None


def _parse_url(dsn: str, rest: str) -> ConnectParams:
    at = rest.rfind("@")
    if at >= 0 and any(c in rest[:at] for c in "/?#"):
        # urlsplit would cut the password there and read the rest as host or query
        raise ValueError("'/', '?' and '#' in the user name or password must be percent-encoded")
    url = urlsplit(dsn)
    try:
        port = url.port or _DEFAULT_PORT
    except ValueError:  # its message would quote the text after ':'
        raise ValueError("the port is not a number in 1..65535") from None
    return _with_params(
        host=url.hostname or "127.0.0.1", port=port, user=unquote(url.username or ""),
        password=unquote(url.password or ""), database=unquote(url.path.lstrip("/")),
        unix_socket=None, query=url.query,
    )  # fmt: skip


def _parse_go(dsn: str) -> ConnectParams:
    """``[user[:password]@][net[(addr)]]/dbname[?params]``, split as the Go driver does:
    at the last '/', then the last '@' before it, then the first ':' (so a password may
    hold '/', '@' and ':')."""
    slash = dsn.rfind("/")
    if slash < 0:
        raise ValueError("no '/' before the database name")
    head, tail = dsn[:slash], dsn[slash + 1 :]
    userinfo, at, net = head.rpartition("@")
    if not at:
        userinfo, net = "", head
    user, _, password = userinfo.partition(":")
    addr = ""
    if "(" in net:
        if not net.endswith(")"):
            raise ValueError("the address must be written tcp(host:port) or unix(path)")
        net, _, addr = net[:-1].partition("(")
    database, _, query = tail.partition("?")
    host, port, unix_socket = "127.0.0.1", _DEFAULT_PORT, None
    if net in ("", "tcp", "tcp4", "tcp6"):
        if addr:
            host, port = _host_port(addr)
    elif net == "unix":
        unix_socket = addr or "/tmp/mysql.sock"
    else:
        raise ValueError("the network before the address must be tcp or unix")
    return _with_params(
        host=host, port=port, user=user, password=password, database=unquote(database),
        unix_socket=unix_socket, query=query,
    )  # fmt: skip


def _with_params(
    *,
    host: str,
    port: int,
    user: str,
    password: str,
    database: str,
    unix_socket: str | None,
    query: str,
) -> ConnectParams:
    if not database:
        raise ValueError("no database name")
    tls, timeout, read_timeout, ignored = "off", None, None, []
    for name, value in parse_qsl(query, keep_blank_values=True):
        key = name.lower().replace("_", "-")
        if key in ("tls", "ssl", "ssl-mode", "sslmode"):
            tls = _TLS_VALUES.get(value.lower().replace("-", "_"), "")
            if not tls:
                raise ValueError(
                    f"{name}={value} is not one of true, skip-verify, false (ssl-mode: "
                    "DISABLED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY)"
                )
        elif key == "timeout":
            timeout = _go_duration(name, value)
        elif key == "readtimeout":
            read_timeout = _go_duration(name, value)
        elif key in ("unix-socket", "socket"):
            unix_socket = value
        elif key == "charset" and value.lower().startswith("utf8mb4"):
            pass
        elif key not in _HARMLESS_PARAMS:
            ignored.append(name)
    return ConnectParams(
        host=host, port=port, user=user, password=password, database=database,
        unix_socket=unix_socket, tls=tls, connect_timeout_s=timeout,
        read_timeout_s=read_timeout, ignored=tuple(ignored),
    )  # fmt: skip


def _host_port(addr: str) -> tuple[str, int]:
    """``host``, ``host:port``, ``[v6]:port``, ``[v6]`` or a bare IPv6 address."""
    if addr.startswith("["):
        host, _, rest = addr[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError("an IPv6 address must be written [address]:port")
        return host, _port(rest[1:]) if rest else _DEFAULT_PORT
    if addr.count(":") == 1:
        host, _, port_text = addr.partition(":")
        return host or "127.0.0.1", _port(port_text)
    return addr, _DEFAULT_PORT


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError("the port is not a number in 1..65535")
    return int(text)


def _go_duration(name: str, text: str) -> float:
    parts = _GO_DURATION.findall(text)
    seconds = sum(float(n) * _GO_UNITS[u] for n, u in parts)
    if not parts or "".join(n + u for n, u in parts) != text or seconds <= 0:
        raise ValueError(f"{name}={text} is not a duration such as 5s or 500ms")
    return seconds


def _ssl_context(mode: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if mode in ("skip-verify", "verify-ca"):
        ctx.check_hostname = False
    if mode == "skip-verify":
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _connect_kwargs(p: ConnectParams, settings: Settings) -> dict[str, Any]:
    timeout = p.connect_timeout_s or min(_CONNECT_ATTEMPT_MAX_S, settings.db_connect_timeout)
    kwargs: dict[str, Any] = {
        "user": p.user, "password": p.password, "database": p.database,
        "connect_timeout": max(1, round(timeout)),
    }  # fmt: skip
    if p.unix_socket:
        kwargs["unix_socket"] = p.unix_socket
    else:
        kwargs.update(host=p.host, port=p.port)
    if p.tls != "off":
        kwargs["ssl"] = _ssl_context(p.tls)
    if p.read_timeout_s:
        kwargs["read_timeout"] = p.read_timeout_s
    return kwargs


def _trio(fn: Callable[_P, Awaitable[_T]]) -> Callable[_P, Awaitable[_T]]:
    """``fn`` (an asyncio coroutine function) callable from Trio: one crossing per call."""
    return cast(Callable[_P, Awaitable[_T]], trio_asyncio.aio_as_trio(fn))


async def _off_loop(items: int, fn: Callable[[*_Ts], _T], *args: *_Ts) -> _T:
    """``fn(*args)`` (rendering ``items`` items) in a worker thread, where it holds up
    the event loop for a GIL switch interval at most; inline when small."""
    if items < _THREAD_MIN_ITEMS:
        return fn(*args)
    return await trio.to_thread.run_sync(fn, *args)


class MySQLStorage(PlanQueries):
    """The Storage protocol over an asyncmy pool (see the module docstring)."""

    DIALECT = D

    def __init__(self, backend: _aio.Backend, write_concurrency: int = 1) -> None:
        self._backend = backend
        self._write_concurrency = write_concurrency
        self._start_write = _trio(backend.start_write)
        self._ping = _trio(backend.ping)
        self._get_trace = _trio(backend.get_trace)
        self._count_rows = _trio(backend.count_rows)
        self._run_plan = _trio(backend.run_plan)
        self._run_write_plan = _trio(backend.run_write_plan)
        self._purge_tenant = _trio(backend.purge_tenant)
        self._purge = _trio(backend.purge_batch)
        self._count_older = _trio(backend.count_older)
        self._optimize = _trio(backend.optimize_tables)

    @property
    def driver(self) -> str:
        return "mysql"

    @property
    def write_concurrency(self) -> int:
        return self._write_concurrency

    async def write(self, batch: WriteBatch, *, replay_key: str | None = None) -> WriteResult:
        """Commit the whole batch in one transaction, or raise StorageError and store nothing.

        Spans already stored (same tenant, trace and span id) are left alone and not
        counted again in their trace's summary. With ``replay_key``, its INSERT into
        ``dlq_replays`` opens the transaction; a key stored before ends it at once
        (``already_stored``).

        Cancelled: while rendering, once the worker thread is done, with nothing sent;
        later, the connection is closed and the server rolls the transaction back,
        unless COMMIT had already been sent (spans are idempotent; logs and points may
        then be stored without an ack).
        """
        limit = self._backend.statement_bytes
        plan = await _off_loop(len(batch), render.plan_write, batch, limit)
        first = plan.first
        claim = None if replay_key is None else render.claim(replay_key, time.time_ns())
        txn = await self._start_write(
            first.spans, len(first.picks), first.traces + plan.others, claim
        )
        if txn is not None and txn.already_stored:
            return WriteResult(0, 0, 0, 0, already_stored=True)
        inserted = len(first.picks)
        if txn is not None:
            try:
                inserted = await self._insert_unstored(txn, plan, limit)
            except BaseException as exc:
                if txn.active:
                    with trio.CancelScope(shield=True), trio.move_on_after(_ABANDON_TIMEOUT_S):
                        await _trio(txn.abandon)(exc)
                raise
        return WriteResult(
            spans_inserted=inserted,
            spans_duplicate=len(batch.spans) - inserted,
            logs_inserted=plan.logs,
            points_inserted=plan.points,
        )

    async def _insert_unstored(
        self, txn: _aio.WriteTransaction, plan: render.WritePlan, limit: int
    ) -> int:
        """Some spans of ``plan`` were stored before: insert the others and commit; the
        number inserted. A concurrent writer may commit some of those meanwhile (our
        insert then waits for its lock and counts them as duplicates): look again, with
        one more key known each time."""
        picks = plan.first.picks
        fruitless = 0
        for _ in range(_DUPLICATE_ROUNDS):
            queries = await _off_loop(len(picks), render.stored_key_queries, plan, picks, limit)
            stored = await _trio(txn.stored_keys)(queries)
            fruitless = 0 if stored else fruitless + 1
            if fruitless == 2:
                # Twice none stored, yet the insert collides: two keys that differ in Python
                # are one to the database (a PAD SPACE collation). Retrying cannot help.
                raise StorageError(
                    "mysql: write failed: two span keys of the batch differ only in trailing"
                    " spaces, which this database's collation ignores"
                )
            retry = await _off_loop(len(picks), render.without_stored, plan, picks, stored, limit)
            picks = retry.picks
            if await _trio(txn.insert)(retry.spans, len(picks), retry.traces + plan.others):
                return len(picks)
        raise StorageUnavailable(
            "mysql: write failed: concurrent writers kept storing the same spans"
        )

    async def ping(self) -> None:
        await self._ping()

    async def get_trace(self, tenant_id: str, trace_id: str) -> TraceDetail | None:
        return await self._get_trace(tenant_id, trace_id)

    async def count_rows(self, table: str, tenant_id: str | None = None) -> int:
        return await self._count_rows(table, tenant_id)

    # -- plans: the query API and the graph's persistence, each call one crossing -------

    async def read_plan(self, what: str, plan: plans.Plan[_T]) -> _T:
        return await self._run_plan(what, plan)

    async def write_plan(self, what: str, plan: plans.Plan[_T]) -> _T:
        return await self._run_write_plan(what, plan)

    async def purge_tenant(self, tenant_id: str, cutoff_ns: int) -> PurgeCounts:
        """In batches of ``_PURGE_BATCH`` rows, each committed on its own."""
        return await self._purge_tenant(tenant_id, cutoff_ns, _PURGE_BATCH)

    async def count_older(self, table: str, cutoff_ns: int) -> int:
        return await self._count_older(table, cutoff_ns)

    async def purge_batch(self, table: str, cutoff_ns: int, limit: int) -> int:
        return await self._purge(table, cutoff_ns, limit)

    async def optimize_tables(self) -> None:
        """OPTIMIZE TABLE the data tables: slow, locks them briefly; for maintenance."""
        await self._optimize()

    async def maintain(self) -> None:
        await self.optimize_tables()

    def pool_stats(self) -> PoolStats:
        return self._backend.pool_stats()


@asynccontextmanager
async def open_mysql(settings: Settings, *, migrate: bool) -> AsyncIterator[MySQLStorage]:
    """Open the pool of DB_DSN, check or migrate the schema, yield the backend.

    Must run inside ``trio_asyncio.open_loop()``. Raises StorageUnavailable when the
    server cannot be reached (retryable), StorageError for a bad DSN, bad credentials
    or an unknown database, SchemaError for an unusable schema.
    """
    params = parse_dsn(settings.db_dsn)
    if params.ignored:
        log.warning("mysql: ignoring DB_DSN parameters: %s", ", ".join(params.ignored))
    maxsize = settings.db_max_open_conns
    backend = await _trio(_aio.open_backend)(
        _connect_kwargs(params, settings),
        minsize=min(settings.db_max_idle_conns, maxsize), maxsize=maxsize,
        recycle_s=max(1.0, settings.db_conn_max_lifetime), label=scrub_dsn(settings.db_dsn),
        secret=params.password, migrate=migrate,
    )  # fmt: skip
    try:
        yield MySQLStorage(backend, write_concurrency(settings))
    finally:
        with trio.CancelScope(shield=True):
            with trio.move_on_after(_CLOSE_TIMEOUT_S) as waited:
                await _trio(backend.close)()
            if waited.cancelled_caught:
                log.warning(
                    "mysql: connections still in use after %g s; closing them", _CLOSE_TIMEOUT_S
                )
                await _trio(backend.abort)()
