"""MySQL/MariaDB backend behaviour beyond the shared storage contract.

Rules: a real MariaDB (``tests/backends.py`` says where; skipped elsewhere, failed in
CI when unreachable), tables dropped before each test, every test inside its own
``trio_asyncio.open_loop()`` and under an absolute ``fail_after``. Error messages are
checked for what an operator sees: one line, ``mysql:`` first, never the password.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import trio
import trio.lowlevel
import trio_asyncio
from hypothesis import given
from hypothesis import strategies as st

from otelctx.config import Settings
from otelctx.model import MetricType, StatusCode
from otelctx.storage.base import SchemaError, StorageError, StorageUnavailable, WriteBatch
from otelctx.storage.mysql import MySQLStorage, open_mysql, parse_dsn, render
from otelctx.storage.mysql.schema import SCHEMA_VERSION
from tests import backends
from tests.integration.test_storage_contract import T0, log, point, span

URL = urlsplit(backends.MYSQL_DSN)
HOST, PORT, DB = URL.hostname or "127.0.0.1", URL.port or 3306, URL.path.lstrip("/")
# A user whose password holds every character a DSN parser can trip on.
USER, PASSWORD = "otelctx_test", "p@ss:w/rd#?&1"


def settings(dsn: str = backends.MYSQL_DSN, **overrides: Any) -> Settings:
    base = Settings(db_driver="mysql", db_dsn=dsn, db_max_open_conns=4, db_max_idle_conns=2,
                    db_connect_timeout=5)  # fmt: skip
    return dataclasses.replace(base, **overrides)


@asynccontextmanager
async def opened(dsn: str = backends.MYSQL_DSN, *, migrate: bool = True, **overrides: Any
                 ) -> AsyncIterator[MySQLStorage]:  # fmt: skip
    async with open_mysql(settings(dsn, **overrides), migrate=migrate) as storage:
        yield storage


async def root_sql(*statements: str) -> list[Any]:
    """Run ``statements`` as the test server's root user; the last one's rows."""
    import asyncmy

    async def run() -> list[Any]:
        conn = await asyncmy.connect(
            host=HOST, port=PORT, user=URL.username or "root", password=URL.password or "",
            database=DB, autocommit=True,
        )  # fmt: skip
        try:
            async with conn.cursor() as cur:
                result: list[Any] = []
                for sql in statements:
                    await cur.execute(sql)
                    result = list(await cur.fetchall())
                return result
        finally:
            conn.close()

    return await trio_asyncio.aio_as_trio(run)()  # type: ignore[no-any-return]


def assert_safe(exc: BaseException, *secrets: str) -> None:
    text = str(exc)
    assert text.startswith("mysql: ")
    assert "\n" not in text
    for secret in secrets:
        assert secret not in text


@asynccontextmanager
async def session() -> AsyncIterator[None]:
    """A trio_asyncio loop, an empty test database and a deadline for the test."""
    backends.require("mysql")
    async with trio_asyncio.open_loop():
        await backends.reset("mysql")
        with trio.fail_after(60):
            yield


async def make_user() -> None:
    escaped = PASSWORD.replace("'", "''")
    await root_sql(
        f"CREATE USER IF NOT EXISTS '{USER}'@'%' IDENTIFIED BY '{escaped}'",
        f"ALTER USER '{USER}'@'%' IDENTIFIED BY '{escaped}'",
        f"GRANT ALL PRIVILEGES ON `{DB}`.* TO '{USER}'@'%'",
    )


# -- DSNs and connection errors ---------------------------------------------------------------


async def test_both_dsn_forms_connect() -> None:
    async with session():
        await make_user()
        url = f"mysql://{USER}:{quote(PASSWORD, safe='')}@{HOST}:{PORT}/{DB}?charset=utf8mb4"
        go = f"{USER}:{PASSWORD}@tcp({HOST}:{PORT})/{DB}?parseTime=true&timeout=5s"
        for dsn in (url, url.replace("mysql://", "mariadb://"), go):
            async with opened(dsn) as storage:
                await storage.ping()
                assert storage.driver == "mysql"
                assert await storage.count_rows("spans") == 0


async def test_wrong_password_is_fatal_and_not_shown() -> None:
    async with session():
        await make_user()
        for dsn in (f"mysql://{USER}:Wr0ng-s3cret@{HOST}:{PORT}/{DB}",
                    f"{USER}:Wr0ng-s3cret@tcp({HOST}:{PORT})/{DB}"):  # fmt: skip
            with pytest.raises(StorageError) as info:
                async with opened(dsn):
                    pass
            assert not isinstance(info.value, StorageUnavailable)
            assert "Access denied" in str(info.value)
            assert "REDACTED" in str(info.value)
            assert_safe(info.value, "Wr0ng-s3cret")


async def test_unknown_database_is_fatal_and_password_not_shown() -> None:
    async with session():
        await make_user()
        for dsn in (f"{USER}:{PASSWORD}@tcp({HOST}:{PORT})/otelctx_no_such_db",  # 1044
                    f"{URL.scheme}://{URL.netloc}/otelctx_no_such_db"):  # root: 1049  # fmt: skip
            with pytest.raises(StorageError) as info:
                async with opened(dsn):
                    pass
            assert not isinstance(info.value, StorageUnavailable)
            assert "otelctx_no_such_db" in str(info.value)
            assert_safe(info.value, PASSWORD, "w/rd")


@pytest.mark.parametrize("idle", [0, 2])
async def test_unreachable_server_is_unavailable(idle: int) -> None:
    async with session():
        # idle 0: the pool opens no connection up front; the schema check finds out
        with pytest.raises(StorageUnavailable) as info:
            async with opened(
                "mysql://root:Unre4chable-pw@127.0.0.1:1/test", db_max_idle_conns=idle
            ):
                pass
        assert "127.0.0.1:1" in str(info.value)
        assert_safe(info.value, "Unre4chable-pw")


def test_dsn_forms_parse() -> None:
    p = parse_dsn(
        "u:p@ss:w/rd@tcp([::1]:3307)/otel?timeout=2500ms&tls=skip-verify&loc=UTC&charset=utf8mb4"
        "&readTimeout=1m30s&frobnicate=1"
    )
    assert (p.user, p.password, p.host, p.port, p.database) == ("u", "p@ss:w/rd", "::1", 3307,
                                                                "otel")  # fmt: skip
    assert (p.connect_timeout_s, p.read_timeout_s) == (2.5, 90.0)
    assert (p.tls, p.ignored) == ("skip-verify", ("frobnicate",))
    p = parse_dsn("root@unix(/run/mysqld/mysqld.sock)/otel")
    assert (p.unix_socket, p.password) == ("/run/mysqld/mysqld.sock", "")
    p = parse_dsn("/otel")
    assert (p.host, p.port, p.user) == ("127.0.0.1", 3306, "")
    p = parse_dsn("mariadb://u:p%40ss@db.example:3310/otel?ssl-mode=VERIFY_IDENTITY")
    assert (p.host, p.port, p.password, p.tls) == ("db.example", 3310, "p@ss", "verify")
    assert "p@ss" not in repr(p)


@pytest.mark.parametrize(
    "dsn",
    [
        "postgres://u:Hidden-pw@h/db",
        "mysql://u:Hidden-pw@h:99999/db",
        "mysql://u:Hid/den-pw@h/db",
        "mysql://u:Hidden-pw",
        "u:Hidden-pw/tcp(h)/db",
        "u:Hidden-pw@tcp(h:port)/db",
        "mysql://u:Hidden-pw@h/",
        "u:Hidden-pw@tcp(h:3306/db",
        "u:Hidden-pw@udp(h:3306)/db",
        "u:Hidden-pw@tcp(h:3306)/db?tls=maybe",
        "u:Hidden-pw@tcp(h)/db?timeout=soon",
    ],
)
def test_malformed_dsn_is_one_line_without_password(dsn: str) -> None:
    with pytest.raises(StorageError) as info:
        parse_dsn(dsn)
    assert not isinstance(info.value, StorageUnavailable)
    assert_safe(info.value, "Hid", "den-pw")


# -- schema -----------------------------------------------------------------------------------


async def test_migrate_false_on_an_empty_database_refuses() -> None:
    async with session():
        with pytest.raises(SchemaError) as info:
            async with opened(migrate=False):
                pass
        assert str(info.value) == (
            f"mysql: schema is version 0, this otelctx needs {SCHEMA_VERSION}: "
            "run `otelctx migrate` or set DB_AUTOMIGRATE=true"
        )
        async with opened(migrate=True):
            pass
        async with opened(migrate=False) as storage:  # current now
            await storage.ping()


async def test_a_newer_schema_is_refused() -> None:
    async with session():
        async with opened():
            pass
        await root_sql(f"INSERT INTO schema_version (version) VALUES ({SCHEMA_VERSION + 1})")
        for migrate in (True, False):
            with pytest.raises(SchemaError) as info:
                async with opened(migrate=migrate):
                    pass
            assert f"version {SCHEMA_VERSION + 1}, newer than this otelctx knows" in str(info.value)


async def test_two_instances_migrate_at_once() -> None:
    async with session():

        async def start() -> None:
            async with opened() as storage:
                await storage.write(
                    WriteBatch(spans=[span(span_id=f"{id(storage) % 10**16:016x}")])
                )

        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(start)
        versions = await root_sql("SELECT version FROM schema_version ORDER BY version")
        assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]  # each applied once
        indexes = await root_sql(
            "SELECT COUNT(DISTINCT INDEX_NAME) FROM information_schema.STATISTICS"
            f" WHERE TABLE_SCHEMA = '{DB}' AND TABLE_NAME = 'logs'"
        )
        assert indexes == [(5,)]  # PRIMARY and the four secondary indexes, once each


# -- pool -------------------------------------------------------------------------------------


async def test_pool_stats_are_the_pools_figures_under_load() -> None:
    async with session(), opened(db_max_open_conns=4, db_max_idle_conns=1) as storage:
        pool = storage._backend.pool  # the asyncmy pool, to compare against
        seen_in_use: list[int] = []
        done = trio.Event()

        async def sample() -> None:
            while not done.is_set():
                stats = storage.pool_stats()  # no checkpoint between the two reads
                assert (stats.max_open, stats.open_connections, stats.idle) == (
                    pool.maxsize, pool.size, pool.freesize)  # fmt: skip
                assert stats.in_use == pool.size - pool.freesize
                seen_in_use.append(stats.in_use)
                await trio.lowlevel.checkpoint()

        async def pings() -> None:
            async with trio.open_nursery() as inner:
                for _ in range(20):
                    inner.start_soon(storage.ping)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(sample)
            for _ in range(5):
                await pings()
            done.set()
        stats = storage.pool_stats()
        assert stats.wait_count > 0 and stats.wait_duration_s > 0
        assert max(seen_in_use) <= 4 and max(seen_in_use) > 1
        assert (stats.max_open, stats.in_use) == (4, 0)
        assert stats.open_connections == stats.idle <= 4


async def test_killed_connections_are_replaced() -> None:
    """What a server restart does to idle pooled connections."""
    async with session(), opened(db_max_idle_conns=2) as storage:
        pool = storage._backend.pool
        ids = [conn.thread_id() for conn in list(pool._free)]
        assert ids
        await root_sql(*[f"KILL CONNECTION {i}" for i in ids])
        await trio.sleep(0.2)
        await storage.ping()
        assert await storage.count_rows("spans") == 0


async def test_a_cancelled_write_is_all_or_nothing() -> None:
    async with session(), opened() as storage:
        spans = [span(trace=f"{i:032x}", span_id=f"{i + 1:016x}") for i in range(3000)]
        with trio.move_on_after(0.02) as scope:
            await storage.write(WriteBatch(spans=spans, logs=[log()] * 500))
        stored = await storage.count_rows("spans")
        assert (scope.cancelled_caught, stored) in ((True, 0), (False, 3000), (True, 3000))
        assert await storage.count_rows("logs") == (500 if stored else 0)
        assert storage.pool_stats().in_use == 0
        again = await storage.write(WriteBatch(spans=spans))
        assert again.spans_inserted + again.spans_duplicate == 3000
        assert await storage.count_rows("traces") == 3000


# -- writes -----------------------------------------------------------------------------------


async def test_multibyte_text_round_trips() -> None:
    async with session():
        service = "caffè-服务-😀"
        s = dataclasses.replace(
            span(service=service, name="GET /ünïcode/€/𝄞"),
            attributes={"emoji": "🚀🔥", "cjk": "日本語", "k😀": ["€", 1]},
            resource={"service.name": service},
        )
        async with opened() as storage:
            await storage.write(WriteBatch(spans=[s], logs=[log(body="😀 body ☕")]))
            detail = await storage.get_trace("t1", s.trace_id)
        assert detail is not None
        assert detail.spans == [s]
        assert detail.summary.root_service == service
        assert detail.logs[0].body == "😀 body ☕"


async def test_partly_duplicate_batches_summarise_only_new_spans() -> None:
    async with session():
        a, b, c, d = (span(span_id=f"{i:016x}", start=T0 + i, status=StatusCode.ERROR)
                      for i in range(1, 5))  # fmt: skip
        async with opened() as storage:
            await storage.write(WriteBatch(spans=[a, b]))
            result = await storage.write(WriteBatch(spans=[b, c, c, a, d]))
            assert (result.spans_inserted, result.spans_duplicate) == (2, 3)
            detail = await storage.get_trace("t1", a.trace_id)
            assert detail is not None
            assert (detail.summary.span_count, detail.summary.error_count) == (4, 4)
            assert [x.span_id for x in detail.spans] == [a.span_id, b.span_id, c.span_id, d.span_id]


async def test_values_that_do_not_fit_fail_the_write_as_an_error() -> None:
    async with session(), opened() as storage:
        with pytest.raises(StorageError) as info:
            await storage.write(
                WriteBatch(spans=[span(), span(span_id="2" * 16, service="s" * 300)])
            )
        assert not isinstance(info.value, StorageUnavailable)
        assert_safe(info.value)
        assert await storage.count_rows("spans") == 0
        assert await storage.count_rows("traces") == 0


async def test_non_finite_metric_values_are_stored_as_null() -> None:
    async with session():
        gauge = dataclasses.replace(point(kind=MetricType.GAUGE), value=math.nan, sum=math.inf,
                                    min=-math.inf, max=None)  # fmt: skip
        async with opened() as storage:
            result = await storage.write(WriteBatch(points=[gauge, point()]))
            assert result.points_inserted == 2
        stored = await root_sql("SELECT value, `sum`, `min`, `max` FROM metric_points ORDER BY id")
        assert stored == [(None, None, None, None), (None, 12.5, 1.0, 9.0)]


async def test_optimize_tables() -> None:
    async with session(), opened() as storage:
        await storage.write(WriteBatch(spans=[span()], logs=[log()], points=[point()]))
        await storage.optimize_tables()
        counts = [await storage.count_rows(t) for t in ("spans", "traces", "logs", "metric_points")]
        assert counts == [1, 1, 1, 1]


async def test_trace_duration_column_follows_start_and_end() -> None:
    # get_trace derives the duration from start/end; the API filters on the column
    batches = [[span(span_id="1" * 16, start=T0 + 100, duration=10)],
               [span(span_id="2" * 16, start=T0, duration=50)],
               [span(span_id="3" * 16, start=T0 + 500, duration=1000)]]  # fmt: skip
    async with session():
        async with opened() as storage:
            for batch in batches:
                await storage.write(WriteBatch(spans=batch))
        stored = await root_sql("SELECT start_time, end_time, duration_ns FROM traces")
        assert stored == [(T0, T0 + 1500, 1500)]


async def test_concurrent_writers_store_and_count_each_span_once() -> None:
    spans = [span(trace=f"{i % 7:032x}", span_id=f"{i + 1:016x}") for i in range(600)]
    inserted = 0

    async def writer(seed: int) -> None:
        nonlocal inserted
        mine = spans[:]
        random.Random(seed).shuffle(mine)
        for _ in range(20):
            try:
                result = await storage.write(WriteBatch(spans=mine))
                inserted += result.spans_inserted
                return
            except StorageUnavailable:  # a deadlock (1213): the writer retries the batch
                await trio.sleep(0.01)
        raise AssertionError("no write succeeded")

    async with session(), opened(db_max_open_conns=6) as storage:
        async with trio.open_nursery() as nursery:
            for seed in range(6):
                nursery.start_soon(writer, seed)
        assert inserted == 600
        assert await storage.count_rows("spans") == 600
        counts = await root_sql("SELECT SUM(span_count) FROM traces")
        assert int(counts[0][0]) == 600


async def test_tenants_and_ids_compare_exactly() -> None:
    # a case-insensitive collation would hand tenant "acme" the spans of "Acme"
    async with session(), opened() as storage:
        await storage.write(WriteBatch(spans=[span(tenant="Acme"), span(tenant="Acme ")]))
        assert await storage.get_trace("acme", "a" * 32) is None
        assert await storage.count_rows("spans", "Acme") == 1
        detail = await storage.get_trace("Acme", "a" * 32)
        assert detail is not None and detail.spans[0].tenant_id == "Acme"


async def test_keys_equal_only_to_a_pad_space_collation_fail_once() -> None:
    # MySQL 5.7 has no NO PAD binary collation: "Acme" and "Acme " are one key there
    async with session(), opened() as storage:
        await root_sql("ALTER TABLE spans CONVERT TO CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
        with pytest.raises(StorageError) as info:
            await storage.write(WriteBatch(spans=[span(tenant="Acme"), span(tenant="Acme ")]))
        assert not isinstance(info.value, StorageUnavailable)
        assert "trailing spaces" in str(info.value)
        assert await storage.count_rows("spans") == 0


# Every character that SQL string escaping, %-formatting or a charset can get wrong.
NASTY = ("it's", 'say "hi"', "back\\slash", "ends in \\", "\\'", "\\\\''", "nul\x00byte",
         "100% ?", "%s %(x)s ?? %%", "line\nbreak\r\n", "ctrl-z\x1a", "tab\tbell\x07",
         "😀🚀 emoji", "𝄞 4-byte", "日本語", "é\\'ü", "'); DROP TABLE spans; --",
         "\u2028\ufeff")  # fmt: skip
TRICKY_FLOATS = (1e308, -1e308, 1.7976931348623157e308, -0.0, 0.0, 5e-324, -1e-310,
                 2.2250738585072014e-308, 1e-300, 0.1, 1 / 3, 123456789.123456789)  # fmt: skip


async def test_nasty_text_and_floats_round_trip_exactly() -> None:
    text = "".join(NASTY)
    attrs: dict[str, Any] = {k: k for k in NASTY}
    attrs |= {"all": text, "floats": list(TRICKY_FLOATS), "pad": "x" * 300}
    tenant = "t'\\%?😀\"𝄞"  # tenants, services and names reach the upsert and the key lookup

    def nasty_span(i: int, tenant: str = tenant) -> Any:
        s = span(trace=f"{i % 5 + 1:032x}", span_id=f"{i + 1:016x}", tenant=tenant,
                 service=NASTY[i % len(NASTY)], name=text, status=StatusCode.ERROR)  # fmt: skip
        return dataclasses.replace(
            s, status_message=text, trace_state=NASTY[-i % len(NASTY)], attributes=attrs,
            resource={"service.name": s.service_name, text: text},
        )  # fmt: skip

    spans = [nasty_span(i) for i in range(300)]
    bodies: list[object] = [*NASTY, text, {"b": text, "f": list(TRICKY_FLOATS)}]
    logs = [dataclasses.replace(log(tenant, f"{1:032x}", b), severity_text=NASTY[i % len(NASTY)],
                                attributes=attrs)
            for i, b in enumerate(bodies)]  # fmt: skip
    points = [dataclasses.replace(point(tenant, MetricType.GAUGE), name=NASTY[i % len(NASTY)],
                                  description=text, unit=NASTY[-i], value=v, sum=v, min=-v,
                                  max=None, attributes=attrs)
              for i, v in enumerate(TRICKY_FLOATS)]  # fmt: skip
    nan = dataclasses.replace(point(tenant, MetricType.GAUGE), value=math.nan, sum=math.inf,
                              min=-math.inf, max=-math.nan)  # fmt: skip
    async with session(), opened() as storage:
        storage._backend._statement_bytes = 64 * 1024  # several statements per table
        result = await storage.write(
            WriteBatch(spans=spans[:200], logs=logs, points=[*points, nan])
        )
        assert (result.spans_inserted, result.logs_inserted, result.points_inserted) == (
            200, len(logs), len(points) + 1)  # fmt: skip
        # partly duplicate, with a copy of one span under a tenant that differs by a quote
        again = [*spans[150:], nasty_span(0, tenant + "'")]
        result = await storage.write(WriteBatch(spans=again))
        assert (result.spans_inserted, result.spans_duplicate) == (101, 50)
        for trace in range(1, 6):
            detail = await storage.get_trace(tenant, f"{trace:032x}")
            assert detail is not None
            assert detail.spans == [s for s in spans if s.trace_id == f"{trace:032x}"]
            assert (detail.summary.span_count, detail.summary.error_count) == (60, 60)
            assert detail.summary.root_service == NASTY[trace - 1]
            assert detail.summary.root_operation == text
        detail = await storage.get_trace(tenant, f"{1:032x}")
        assert detail is not None and detail.logs == logs
        assert await storage.count_rows("spans", tenant + "'") == 1
        stored = await root_sql(
            "SELECT name, description, unit, value, `sum`, `min`, `max` FROM metric_points"
            " ORDER BY id"
        )
    expected = [(p.name, p.description, p.unit, p.value, p.sum, p.min, p.max) for p in points]
    assert stored[:-1] == expected  # MariaDB keeps no negative zero: -0.0 == 0.0 passes
    assert stored[-1][3:] == (None, None, None, None)


def _asyncmy_connection() -> Any:
    """An unconnected asyncmy connection: what it escapes with before any server says
    NO_BACKSLASH_ESCAPES (the backend's sessions never do)."""
    from asyncmy.connection import Connection

    return Connection(host=HOST, charset="utf8mb4")


_VALUES = st.one_of(
    st.text(), st.sampled_from(NASTY), st.integers(), st.booleans(), st.none(), st.binary(),
    st.floats(allow_nan=False, allow_infinity=False),
)  # fmt: skip


@given(st.lists(_VALUES, max_size=20))
def test_rendered_values_are_what_asyncmy_would_send(row: list[Any]) -> None:
    conn = _asyncmy_connection()
    expected = "(" + ",".join(conn.literal(v) for v in row) + ")"
    assert render.values(row) == expected.encode(conn._encoding, "surrogateescape")


def test_rendering_escapes_like_asyncmy() -> None:
    conn = _asyncmy_connection()
    for text in (*NASTY, "".join(NASTY), "\\0", "'\\'", "\udcff lone surrogate"):
        assert render.literal(text) == conn.literal(text)
    for number in (*TRICKY_FLOATS, 2**63, -(2**64), True, False):
        assert render.literal(number) == conn.literal(number)


async def test_a_session_without_backslash_escapes_gets_no_rendered_sql() -> None:
    async with session(), opened(db_max_open_conns=1, db_max_idle_conns=1) as storage:
        conn = storage._backend.pool._free[0]  # the one connection the write will get

        async def no_backslash_escapes() -> None:
            async with conn.cursor() as cur:
                await cur.execute("SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_BACKSLASH_ESCAPES'")

        await trio_asyncio.aio_as_trio(no_backslash_escapes)()
        with pytest.raises(StorageUnavailable) as info:  # the writer retries
            await storage.write(WriteBatch(spans=[span(name="back\\slash")]))
        assert "NO_BACKSLASH_ESCAPES" in str(info.value)
        assert_safe(info.value)
        assert await storage.count_rows("spans") == 0
        assert storage.pool_stats().in_use == 0
        await storage.write(WriteBatch(spans=[span(name="back\\slash")]))  # a new connection
        detail = await storage.get_trace("t1", "a" * 32)
        assert detail is not None and detail.spans[0].name == "back\\slash"


async def test_a_write_cancelled_between_its_hops_is_all_or_nothing() -> None:
    # a partly duplicate batch takes several thread hops and crossings; cancel at each
    spans = [span(trace=f"{i:032x}", span_id=f"{i + 1:016x}") for i in range(2000)]
    async with session(), opened() as storage:
        await storage.write(WriteBatch(spans=spans[::2]))
        for deadline in (0, 0.003, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.13, 0.16, 0.2, 0.25, 9):
            with trio.move_on_after(deadline):
                await storage.write(WriteBatch(spans=spans, logs=[log()]))
            assert storage.pool_stats().in_use == 0
            stored, logs = await storage.count_rows("spans"), await storage.count_rows("logs")
            assert (stored, logs) in ((1000, 0), (2000, 1))
            if stored == 2000:
                break
        assert stored == 2000
        again = await storage.write(WriteBatch(spans=spans))
        assert again.spans_inserted + again.spans_duplicate == 2000
        counts = await root_sql("SELECT SUM(span_count) FROM traces")
        assert int(counts[0][0]) == 2000
