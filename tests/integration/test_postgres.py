"""PostgreSQL backend behaviour beyond the shared storage contract.

Rules: a real PostgreSQL (``tests/backends.py`` says where; skipped elsewhere, failed in CI
when unreachable), otelctx's tables dropped before each test, every test inside its own
``trio_asyncio.open_loop()`` and under an absolute ``fail_after``. Server answers the test
server cannot give (it trusts every login) come from a fake server on port 0 speaking the
start of the PostgreSQL protocol. Error messages are checked for what an operator sees:
one line, ``postgres:`` first, never the password.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import pytest
import trio
import trio.lowlevel
import trio_asyncio

from otelctx.config import Settings
from otelctx.model import StatusCode
from otelctx.storage.base import SchemaError, StorageError, StorageUnavailable, WriteBatch
from otelctx.storage.postgres import PostgresStorage, open_postgres
from otelctx.storage.postgres._aio import parse_dsn
from otelctx.storage.postgres.schema import SCHEMA_VERSION
from tests import backends
from tests.integration.test_storage_contract import log, span

URL = urlsplit(backends.PG_DSN)
HOST, PORT, DB = URL.hostname or "127.0.0.1", URL.port or 5432, URL.path.lstrip("/")
USER = URL.username or "postgres"
# A password holding every character a DSN parser can trip on.
SECRET = "s3cr:t@p/ss#?&w"
SECRET_URL = "s3cr%3At%40p%2Fss%23%3F%26w"


def with_params(dsn: str, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{dsn}{'&' if '?' in dsn else '?'}{query}"


def settings(dsn: str = backends.PG_DSN, **overrides: Any) -> Settings:
    base = Settings(db_driver="postgres", db_dsn=dsn, db_max_open_conns=4, db_max_idle_conns=2,
                    db_connect_timeout=5)  # fmt: skip
    return dataclasses.replace(base, **overrides)


@asynccontextmanager
async def opened(dsn: str = backends.PG_DSN, *, migrate: bool = True, **overrides: Any
                 ) -> AsyncIterator[PostgresStorage]:  # fmt: skip
    async with open_postgres(settings(dsn, **overrides), migrate=migrate) as storage:
        yield storage


async def admin(sql: str, *args: Any) -> list[Any]:
    """Run one statement as the test server's user; its rows."""
    import asyncpg

    async def run() -> list[Any]:
        conn = await asyncpg.connect(backends.PG_DSN)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return await trio_asyncio.aio_as_trio(run)()  # type: ignore[no-any-return]


def assert_safe(exc: BaseException, *secrets: str) -> None:
    text = str(exc)
    assert text.startswith("postgres: ")
    assert "\n" not in text
    for secret in secrets:
        assert secret not in text


async def poll(
    query: Callable[[], Awaitable[list[Any]]],
    done: Callable[[list[Any]], bool],
    *,
    interval: float = 0.05,
) -> None:
    """Query until ``done`` says yes: the state is the server's, there is no event to await."""
    while True:
        if done(await query()):
            return
        await trio.sleep(interval)


@asynccontextmanager
async def session() -> AsyncIterator[None]:
    """A trio_asyncio loop, an empty test database and a deadline for the test."""
    backends.require("postgres")
    async with trio_asyncio.open_loop():
        await backends.reset("postgres")
        with trio.fail_after(60):
            yield


# -- DSNs and connection errors ---------------------------------------------------------------


def kv_dsn(**extra: str) -> str:
    parts = {"host": HOST, "port": str(PORT), "user": USER, "dbname": DB, "sslmode": "disable"}
    return " ".join(f"{k}={v}" for k, v in {**parts, **extra}.items())


async def application_names() -> set[str]:
    found = await admin("SELECT application_name FROM pg_stat_activity WHERE datname = $1", DB)
    return {r[0] for r in found}


async def test_both_dsn_forms_connect() -> None:
    async with session():
        postgres_scheme = "postgres://" + backends.PG_DSN.partition("://")[2]
        for dsn in (backends.PG_DSN, with_params(postgres_scheme, application_name="otelctx-url")):
            async with opened(dsn) as storage:
                await storage.write(WriteBatch(spans=[span()]))
                await storage.ping()
        # key=value with a quoted value holding a space and an escaped quote
        async with opened(kv_dsn(application_name=r"'otelctx kv \'test\''")) as storage:
            assert await storage.count_rows("spans") == 1
            assert "otelctx kv 'test'" in await application_names()


def test_dsn_forms_parse() -> None:
    kv = parse_dsn(
        "host = db1,db2 port=5432,5433 user=app password='p w\\'x' dbname=otel "
        "sslmode=verify-full sslrootcert=/etc/ca.pem connect_timeout=3"
    )
    assert kv.kwargs == {
        "host": ["db1", "db2"], "port": [5432, 5433], "user": "app", "password": "p w'x",
        "database": "otel", "ssl": "verify-full", "timeout": 3.0,
    }  # fmt: skip
    assert kv.dsn == "postgresql://?sslrootcert=%2Fetc%2Fca.pem"
    assert "p w" not in kv.shown and "REDACTED" in kv.shown

    url = parse_dsn(f"postgresql://app:{SECRET_URL}@db:6432/otel?sslmode=require&connect_timeout=7")
    assert url.dsn == f"postgresql://app:{SECRET_URL}@db:6432/otel?sslmode=require"
    assert url.kwargs == {"timeout": 7.0}
    assert SECRET in url.secrets and SECRET_URL in url.secrets
    assert url.redact(f"x {SECRET} y {SECRET_URL}") == "x REDACTED y REDACTED"


def test_short_passwords_are_masked_where_they_stand_alone() -> None:
    args = parse_dsn("host=h user=nobody password=x")
    assert args.redact('role "nobody" does not exist (x)') == (
        'role "nobody" does not exist (REDACTED)'
    )


@pytest.mark.parametrize(
    "dsn",
    [
        f"host=h password={SECRET} 'oops",
        f"host=h password='{SECRET}",
        f"host=h password={SECRET} frobnicate=1",
        f"mysql://u:{SECRET}@h/db",
        f"host=h password={SECRET} port=x{SECRET}",
    ],
)
def test_malformed_dsn_is_one_line_without_password(dsn: str) -> None:
    with pytest.raises(StorageError) as info:
        parse_dsn(dsn)
    assert not isinstance(info.value, StorageUnavailable)
    assert_safe(info.value, SECRET)


async def test_unknown_database_and_role_are_fatal_and_password_not_shown() -> None:
    async with session():
        for dsn in (
            f"postgresql://{USER}:{SECRET_URL}@{HOST}:{PORT}/otelctx_no_such_db",
            f"postgresql://otelctx_no_such_role:{SECRET_URL}@{HOST}:{PORT}/{DB}",
            kv_dsn(user="otelctx_no_such_role", password=f"'{SECRET}'"),
        ):
            with pytest.raises(StorageError) as info:
                await opened(dsn).__aenter__()
            assert not isinstance(info.value, StorageUnavailable)
            assert_safe(info.value, SECRET, SECRET_URL)
            assert "does not exist" in str(info.value)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens there any more


@pytest.mark.parametrize("idle", [0, 2])
async def test_unreachable_server_is_unavailable(idle: int) -> None:
    backends.require("postgres")
    async with trio_asyncio.open_loop():
        with trio.fail_after(30):
            dsn = f"postgresql://{USER}:{SECRET_URL}@127.0.0.1:{free_port()}/{DB}"
            with pytest.raises(StorageUnavailable) as info:
                await opened(dsn, db_max_idle_conns=idle).__aenter__()
            assert_safe(info.value, SECRET, SECRET_URL)
            assert "REDACTED" in str(info.value)


async def _receive_exactly(stream: trio.SocketStream, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = await stream.receive_some(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _error_response(sqlstate: str, message: str) -> bytes:
    body = b"SFATAL\0VFATAL\0C" + sqlstate.encode() + b"\0M" + message.encode() + b"\0\0"
    return b"E" + struct.pack("!i", len(body) + 4) + body


def fake_server(sqlstate: str) -> Any:
    """A server that refuses every login with ``sqlstate``. For 28P01 it first asks for the
    password in clear text and, like a careless proxy, repeats it in its error message."""

    async def handle(stream: trio.SocketStream) -> None:
        async with stream:
            while True:
                length, code = struct.unpack("!ii", await _receive_exactly(stream, 8))
                if code not in (80877103, 80877104):  # SSLRequest, GSSENCRequest
                    break
                await stream.send_all(b"N")
            await _receive_exactly(stream, length - 8)  # the rest of the startup message
            message = "sorry, too many clients already"
            if sqlstate == "28P01":
                await stream.send_all(b"R" + struct.pack("!ii", 8, 3))
                _kind, size = struct.unpack("!ci", await _receive_exactly(stream, 5))
                password = (await _receive_exactly(stream, size - 4)).rstrip(b"\0").decode()
                message = f'password authentication failed for user "app" ({password})'
            elif sqlstate == "57P03":
                message = "the database system is starting up"
            await stream.send_all(_error_response(sqlstate, message))

    return handle


@pytest.mark.parametrize(
    ("sqlstate", "retryable"), [("28P01", False), ("53300", True), ("57P03", True)]
)
async def test_login_refusals(sqlstate: str, retryable: bool) -> None:
    backends.require("postgres")
    async with trio_asyncio.open_loop(), trio.open_nursery() as nursery:
        with trio.fail_after(30):
            listeners = await nursery.start(trio.serve_tcp, fake_server(sqlstate), 0)
            port = listeners[0].socket.getsockname()[1]
            for dsn in (
                f"postgresql://app:{SECRET_URL}@127.0.0.1:{port}/otel?sslmode=prefer",
                f"host=127.0.0.1 port={port} user=app password='{SECRET}' dbname=otel",
            ):
                with pytest.raises(StorageError) as info:
                    await opened(dsn).__aenter__()
                assert isinstance(info.value, StorageUnavailable) is retryable
                assert f"SQLSTATE {sqlstate}" in str(info.value)
                assert_safe(info.value, SECRET, SECRET_URL)
            nursery.cancel_scope.cancel()


# -- schema -----------------------------------------------------------------------------------


async def test_migrate_false_on_an_empty_database_refuses() -> None:
    async with session():
        with pytest.raises(SchemaError) as info:
            await opened(migrate=False).__aenter__()
        assert str(info.value) == (
            f"postgres: schema is version 0, this otelctx needs {SCHEMA_VERSION}: "
            "run `otelctx migrate` or set DB_AUTOMIGRATE=true"
        )
        async with opened(migrate=True):
            pass
        async with opened(migrate=False) as storage:
            await storage.ping()


async def test_a_newer_schema_is_refused() -> None:
    async with session():
        async with opened():
            pass
        await admin("INSERT INTO schema_version (version) VALUES ($1)", SCHEMA_VERSION + 1)
        for migrate in (True, False):
            with pytest.raises(SchemaError) as info:
                await opened(migrate=migrate).__aenter__()
            assert_safe(info.value)
            assert f"version {SCHEMA_VERSION + 1}, newer" in str(info.value)


async def test_two_instances_migrate_at_once() -> None:
    async with session():
        done: list[int] = []

        async def instance() -> None:
            async with opened() as storage:
                await storage.ping()
                done.append(1)

        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(instance)
        assert len(done) == 3
        versions = [r[0] for r in await admin("SELECT version FROM schema_version")]
        assert versions == list(range(1, SCHEMA_VERSION + 1))  # each applied once


async def test_logs_body_has_a_trigram_index() -> None:
    async with session():
        async with opened():
            pass
        found = await admin(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_logs_body_trgm'"
        )
        assert len(found) == 1 and "gin_trgm_ops" in found[0][0]


async def test_without_pg_trgm_one_warning_and_the_schema_is_created(
    caplog: pytest.LogCaptureFixture,
) -> None:
    role = "otelctx_no_create"
    async with session():
        # A role that may create tables but not extensions (no CREATE on the database).
        await admin("DROP EXTENSION IF EXISTS pg_trgm")
        if not await admin("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
            await admin(f"CREATE ROLE {role} LOGIN")
        await admin(f"GRANT CREATE ON SCHEMA public TO {role}")
        try:
            with caplog.at_level(logging.WARNING, logger="otelctx.storage.postgres"):
                async with opened(f"postgresql://{role}@{HOST}:{PORT}/{DB}") as storage:
                    await storage.write(WriteBatch(logs=[log()]))
            warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert len(warnings) == 1
            assert "trigram" in warnings[0].getMessage()
            assert not await admin(
                "SELECT 1 FROM pg_indexes WHERE indexname = 'idx_logs_body_trgm'"
            )
            versions = [r[0] for r in await admin("SELECT version FROM schema_version")]
            assert versions == list(range(1, SCHEMA_VERSION + 1))
        finally:
            await backends.reset("postgres")
            await admin(f"DROP OWNED BY {role}")
            await admin(f"DROP ROLE {role}")
            await admin("CREATE EXTENSION IF NOT EXISTS pg_trgm")


# -- pool -------------------------------------------------------------------------------------


async def test_pool_stats_are_the_pools_figures_under_load() -> None:
    app = "otelctx-pool-stats"
    async with session(), opened(with_params(backends.PG_DSN, application_name=app)) as storage:
        await storage.write(WriteBatch(spans=[span()], logs=[log()]))
        in_use: list[int] = []

        async def sample() -> None:
            while True:
                s = storage.pool_stats()
                assert s.max_open == 4
                assert s.in_use <= 4 and s.open_connections <= 4
                assert s.open_connections == s.in_use + s.idle
                in_use.append(s.in_use)
                await trio.lowlevel.checkpoint()

        async def client() -> None:
            for _ in range(5):
                assert await storage.get_trace("t1", "a" * 32) is not None
                await storage.ping()

        async with trio.open_nursery() as outer:
            outer.start_soon(sample)
            async with trio.open_nursery() as clients:
                for _ in range(20):
                    clients.start_soon(client)
            outer.cancel_scope.cancel()

        stats = storage.pool_stats()
        assert max(in_use) == 4
        assert stats.wait_count > 0 and stats.wait_duration_s > 0
        assert stats.in_use == 0 and stats.idle == stats.open_connections
        on_server = await admin(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app
        )
        assert stats.open_connections == on_server[0][0]


async def test_connections_are_recycled_after_their_lifetime() -> None:
    app = "otelctx-lifetime"
    pids = "SELECT pid FROM pg_stat_activity WHERE application_name = $1"
    dsn = with_params(backends.PG_DSN, application_name=app)
    async with session(), opened(dsn, db_max_idle_conns=1, db_conn_max_lifetime=1.0) as storage:
        await storage.ping()
        before = {r[0] for r in await admin(pids, app)}
        await trio.sleep(1.2)
        await storage.ping()  # given back past its lifetime: closed
        await storage.ping()  # on a fresh connection
        with trio.fail_after(5):
            await poll(lambda: admin(pids, app), lambda rows: not before & {r[0] for r in rows})
        assert {r[0] for r in await admin(pids, app)}


async def test_killed_connections_are_replaced() -> None:
    app = "otelctx-killed"
    async with session(), opened(with_params(backends.PG_DSN, application_name=app)) as storage:
        await storage.ping()
        await admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            app,
        )
        await trio.sleep(0.2)
        for _ in range(3):
            try:
                await storage.ping()
            except StorageUnavailable as exc:  # at most the first use of a dead connection
                assert_safe(exc)
        await storage.write(WriteBatch(spans=[span()]))
        assert await storage.count_rows("spans") == 1


# -- writes -----------------------------------------------------------------------------------


async def test_a_write_cancelled_in_its_transaction_is_all_or_nothing() -> None:
    app = "otelctx-cancel"
    in_transaction = (
        "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND xact_start IS NOT NULL"
    )
    tables = ("spans", "logs", "traces")
    async with session(), opened(with_params(backends.PG_DSN, application_name=app)) as storage:
        batch = WriteBatch(
            spans=[span(trace=f"{i // 10:032x}", span_id=f"{i + 1:016x}") for i in range(20_000)],
            logs=[log(trace=f"{i:032x}") for i in range(5_000)],
        )
        cancel = trio.CancelScope()

        async def write() -> None:
            with cancel:
                await storage.write(batch)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(write)
            await poll(lambda: admin(in_transaction, app), bool, interval=0.005)
            cancel.cancel()
        counts = [await storage.count_rows(t) for t in tables]
        assert counts in ([0, 0, 0], [20_000, 5_000, 2_000])  # rolled back, or commit was sent
        assert storage.pool_stats().in_use == 0
        result = await storage.write(batch)
        assert result.spans_inserted + result.spans_duplicate == 20_000
        logs = 5_000 if counts[1] == 0 else 10_000
        assert [await storage.count_rows(t) for t in tables] == [20_000, logs, 2_000]


@pytest.mark.parametrize("k", [1, 10])  # rows built inline, and in a worker thread
async def test_partly_duplicate_batches_summarise_only_new_spans(k: int) -> None:
    async with session(), opened() as storage:
        first = [span(span_id=f"{i + 1:016x}", parent="f" * 16) for i in range(10 * k)]
        await storage.write(WriteBatch(spans=first))
        new = [span(span_id=f"{i + 10_000:016x}", parent="f" * 16, status=StatusCode.ERROR)
               for i in range(5 * k)]  # fmt: skip
        result = await storage.write(WriteBatch(spans=[*first[: 4 * k], *new, new[0]]))
        assert (result.spans_inserted, result.spans_duplicate) == (5 * k, 4 * k + 1)
        detail = await storage.get_trace("t1", "a" * 32)
        assert detail is not None
        assert (detail.summary.span_count, detail.summary.error_count) == (15 * k, 5 * k)
        assert detail.summary.status_code is StatusCode.ERROR


@pytest.mark.parametrize("n", [1, 100])  # rows built inline, and in a worker thread
async def test_text_with_nul_is_stored_with_a_replacement_character(n: int) -> None:
    async with session(), opened() as storage:
        spans = [span(name="GET /a\x00b")]
        spans += [span(span_id=f"{i + 2:016x}", parent="f" * 16) for i in range(n - 1)]
        result = await storage.write(WriteBatch(spans=spans, logs=[log(body="x\x00y")]))
        assert result.spans_inserted == n
        detail = await storage.get_trace("t1", "a" * 32)
        assert detail is not None
        assert detail.spans[0].name == "GET /a\ufffdb"
        assert detail.summary.root_operation == "GET /a\ufffdb"
        assert detail.summary.span_count == n
        assert detail.logs[0].body == "x\ufffdy"


async def test_unknown_tables_are_refused() -> None:
    async with session(), opened() as storage:
        with pytest.raises(ValueError):
            await storage.count_rows("schema_version")


async def test_vacuum_analyze() -> None:
    async with session(), opened() as storage:
        await storage.write(WriteBatch(spans=[span()]))
        await storage.vacuum_analyze()
