"""The storage contract, run against every backend available.

Each backend gets a fresh database per test. Rules checked: a write is atomic and
readable afterwards with every field intact; spans are idempotent on (tenant, trace,
span); the trace summary does not depend on the order or the batching in which spans
arrive; every read is scoped to one tenant.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from otelctx.config import Settings
from otelctx.model import (
    LogRecord,
    MetricPoint,
    MetricType,
    Scope,
    SpanEvent,
    SpanKind,
    SpanLink,
    SpanRecord,
    StatusCode,
)
from otelctx.storage import open_storage
from otelctx.storage.base import Storage, StorageError, StorageUnavailable, WriteBatch
from tests import backends

T0 = 1_795_000_000_000_000_000


@asynccontextmanager
async def open_backend(driver: str, tmp_path: Path) -> AsyncIterator[Storage]:
    """A fresh, empty database of ``driver`` (inside a trio_asyncio loop)."""
    async with trio_asyncio.open_loop():
        if driver == "sqlite":
            config = Settings(db_dsn=str(tmp_path / f"contract-{uuid.uuid4().hex}.db"))
        else:
            await backends.reset(driver)
            config = Settings(db_driver=driver, db_dsn=backends.dsn_for(driver),
                                db_max_open_conns=4, db_connect_timeout=5)  # fmt: skip
        async with open_storage(config) as s:
            yield s


@pytest.fixture(params=backends.BACKENDS)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Storage]:
    backends.require(request.param)
    async with open_backend(request.param, tmp_path) as s:
        yield s


def span(
    trace: str = "a" * 32,
    span_id: str = "1" * 16,
    parent: str = "",
    *,
    tenant: str = "t1",
    service: str = "checkout",
    name: str = "GET /cart",
    start: int = T0,
    duration: int = 5_000_000,
    status: StatusCode = StatusCode.UNSET,
) -> SpanRecord:
    return SpanRecord(
        tenant_id=tenant, trace_id=trace, span_id=span_id, parent_span_id=parent,
        service_name=service, name=name, kind=SpanKind.SERVER, start_time_unix_nano=start,
        end_time_unix_nano=start + duration, status_code=status,
        status_message="boom" if status is StatusCode.ERROR else "", trace_state="k=v",
        attributes={"http.method": "GET", "n": 3, "f": 1.5, "ok": True, "l": ["a", 1]},
        resource={"service.name": service, "host": {"name": "h1"}},
        scope=Scope("lib", "1.0", {"s": 1}),
        events=(SpanEvent(start + 1, "exception", {"exception.message": "x"}),),
        links=(SpanLink("b" * 32, "2" * 16, "", {"l": 1}),),
    )  # fmt: skip


def log(tenant: str = "t1", trace: str = "a" * 32, body: object = "hello") -> LogRecord:
    return LogRecord(
        tenant_id=tenant, service_name="checkout", time_unix_nano=T0 + 7,
        observed_time_unix_nano=T0 + 9, severity_number=17, severity_text="ERROR", body=body,
        attributes={"k": "v"}, resource={"service.name": "checkout"}, scope=Scope("l", "2", {}),
        trace_id=trace, span_id="1" * 16, flags=1,
    )  # fmt: skip


def point(tenant: str = "t1", kind: MetricType = MetricType.HISTOGRAM) -> MetricPoint:
    return MetricPoint(
        tenant_id=tenant, service_name="checkout", name="http.server.duration",
        description="d", unit="ms", metric_type=kind, time_unix_nano=T0,
        start_time_unix_nano=T0 - 10, attributes={"route": "/"}, resource={}, scope=Scope(),
        value=None, count=3, sum=12.5, min=1.0, max=9.0,
        data={"bucket_counts": [1, 2], "explicit_bounds": [5.0]}, aggregation_temporality=2,
    )  # fmt: skip


async def test_round_trip_keeps_every_field(storage: Storage) -> None:
    root = span(status=StatusCode.OK)
    child = span(span_id="2" * 16, parent="1" * 16, service="payments", name="charge",
                 start=T0 + 1_000, duration=1_000_000, status=StatusCode.ERROR)  # fmt: skip
    result = await storage.write(
        WriteBatch(spans=[root, child], logs=[log(), log(body={"a": [1, 2]})], points=[point()])
    )
    assert (result.spans_inserted, result.spans_duplicate) == (2, 0)
    detail = await storage.get_trace("t1", "a" * 32)
    assert detail is not None
    assert detail.spans == [root, child]
    assert [r.body for r in detail.logs] == ["hello", {"a": [1, 2]}]
    assert detail.logs[0] == log()
    s = detail.summary
    assert (s.root_service, s.root_operation) == ("checkout", "GET /cart")
    assert (s.span_count, s.error_count, s.status_code) == (2, 1, StatusCode.ERROR)
    assert s.duration_ns == 5_000_000
    assert detail.services == ["checkout", "payments"]
    assert await storage.count_rows("metric_points") == 1


async def test_spans_are_idempotent(storage: Storage) -> None:
    batch = WriteBatch(spans=[span(), span(span_id="2" * 16, parent="1" * 16)])
    await storage.write(batch)
    again = await storage.write(batch)
    assert (again.spans_inserted, again.spans_duplicate) == (0, 2)
    # the same span twice inside one batch is stored once, too
    twice = await storage.write(WriteBatch(spans=[span(span_id="3" * 16)] * 2))
    assert (twice.spans_inserted, twice.spans_duplicate) == (1, 1)
    detail = await storage.get_trace("t1", "a" * 32)
    assert detail is not None
    assert detail.summary.span_count == 3
    assert await storage.count_rows("spans") == 3


async def test_duplicates_scattered_in_a_large_batch_are_counted_once(storage: Storage) -> None:
    # Every third span of a 1,200-span batch (more than one insert chunk) is already
    # stored, one is there twice: only the new ones count, in the trace summaries too.
    def nth(i: int) -> SpanRecord:
        return span(trace=f"{i // 4:032x}", span_id=f"{i + 1:016x}")

    await storage.write(WriteBatch(spans=[nth(i) for i in range(0, 1200, 3)]))
    batch = [nth(i) for i in range(1200)] + [nth(1)]
    result = await storage.write(WriteBatch(spans=batch))
    assert (result.spans_inserted, result.spans_duplicate) == (800, 401)
    assert await storage.count_rows("spans") == 1200
    for trace in (0, 1, 150, 299):
        detail = await storage.get_trace("t1", f"{trace:032x}")
        assert detail is not None and detail.summary.span_count == 4, trace


async def test_reads_are_scoped_to_a_tenant(storage: Storage) -> None:
    await storage.write(WriteBatch(spans=[span(tenant="t1")], logs=[log("t1")]))
    await storage.write(WriteBatch(spans=[span(tenant="t2", service="other")], logs=[log("t2")]))
    one = await storage.get_trace("t1", "a" * 32)
    two = await storage.get_trace("t2", "a" * 32)
    assert one is not None and two is not None
    assert [s.service_name for s in one.spans] == ["checkout"]
    assert [s.service_name for s in two.spans] == ["other"]
    assert len(one.logs) == len(two.logs) == 1
    assert await storage.get_trace("t3", "a" * 32) is None
    assert await storage.count_rows("spans", "t1") == 1


async def test_a_failed_write_stores_nothing(storage: Storage) -> None:
    good = span(span_id="5" * 16)
    unstorable = dataclasses.replace(span(span_id="6" * 16), start_time_unix_nano=2**64)
    with pytest.raises(StorageError):
        await storage.write(WriteBatch(spans=[good, unstorable], logs=[log()]))
    assert await storage.count_rows("spans") == 0
    assert await storage.count_rows("logs") == 0
    assert await storage.count_rows("traces") == 0
    await storage.write(WriteBatch(spans=[good]))
    assert await storage.count_rows("spans") == 1


_TRACE_SPANS = st.lists(
    st.tuples(
        st.integers(0, 10_000),  # start offset
        st.integers(0, 5_000),  # duration
        st.sampled_from(list(StatusCode)),
        st.booleans(),  # has a parent
    ),
    min_size=1,
    max_size=12,
)


@pytest.mark.parametrize("driver", backends.BACKENDS)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spec=_TRACE_SPANS, seed=st.integers(0, 2**32), cuts=st.integers(1, 4))
async def test_summary_does_not_depend_on_arrival_order(
    driver: str,
    tmp_path: Path,
    spec: list[tuple[int, int, StatusCode, bool]],
    seed: int,
    cuts: int,
) -> None:
    backends.require(driver)
    spans = [
        span(trace="c" * 32, span_id=f"{i + 1:016x}", parent="" if not p else "f" * 16,
             service=f"svc{i % 3}", name=f"op{i}", start=T0 + off, duration=dur, status=st_)
        for i, (off, dur, st_, p) in enumerate(spec)
    ]  # fmt: skip
    shuffled = spans[:]
    random.Random(seed).shuffle(shuffled)
    size = max(1, len(shuffled) // cuts)
    # hypothesis reuses tmp_path across examples: open_backend gives a fresh database
    async with open_backend(driver, tmp_path) as s:
        for i in range(0, len(shuffled), size):
            await s.write(WriteBatch(spans=shuffled[i : i + size]))
        detail = await s.get_trace("t1", "c" * 32)
    assert detail is not None
    got = detail.summary
    entries = [x for x in spans if not x.parent_span_id]
    root = min(entries or spans, key=lambda x: (x.start_time_unix_nano, 0))
    assert got.span_count == len(spans)
    assert got.error_count == sum(x.status_code is StatusCode.ERROR for x in spans)
    assert got.status_code == max(x.status_code for x in spans)
    assert got.start_time_unix_nano == min(x.start_time_unix_nano for x in spans)
    assert got.end_time_unix_nano == max(x.end_time_unix_nano for x in spans)
    assert got.start_time_unix_nano <= root.start_time_unix_nano
    roots_at_min = {x.name for x in (entries or spans)
                    if x.start_time_unix_nano == root.start_time_unix_nano}  # fmt: skip
    assert got.root_operation in roots_at_min


MS = 1_000_000


def one_span_trace(i: int, duration_ms: int, *, tenant: str = "t1", start: int = T0) -> SpanRecord:
    return span(trace=f"{i:032x}", span_id="1" * 16, tenant=tenant, start=start + i,
                duration=duration_ms * MS)  # fmt: skip


async def test_p99_is_the_exact_nearest_rank(storage: Storage) -> None:
    # 1..1000 ms in a shuffled order: nearest rank ceil(0.99 * 1000) = 990th -> 990 ms
    durations = list(range(1, 1001))
    random.Random(7).shuffle(durations)
    await storage.write(WriteBatch(spans=[one_span_trace(i, d) for i, d in enumerate(durations)]))
    # another tenant's slow traces and this tenant's traces outside the window don't count
    await storage.write(WriteBatch(spans=[one_span_trace(5000 + i, 10**6, tenant="t2")
                                          for i in range(50)]))  # fmt: skip
    await storage.write(WriteBatch(spans=[one_span_trace(9000 + i, 10**6, start=T0 - 10**12)
                                          for i in range(50)]))  # fmt: skip
    got = await storage.p99_duration("t1", T0, T0 + 10**9, row_cap=200_000)
    assert got.value_ns == 990 * MS
    assert got.rows == 1000
    assert got.method in {"exact", "percentile_disc", "offset"}
    empty = await storage.p99_duration("t3", T0, T0 + 10**9, row_cap=200_000)
    assert (empty.value_ns, empty.rows) == (None, 0)
    single = await storage.p99_duration("t2", T0, T0 + 10**9, row_cap=200_000)
    assert single.value_ns == 10**6 * MS


async def test_p99_over_the_row_cap_does_not_read_low(storage: Storage) -> None:
    await storage.write(WriteBatch(spans=[one_span_trace(i, i + 1) for i in range(2000)]))
    got = await storage.p99_duration("t1", T0, T0 + 10**9, row_cap=500)
    assert got.rows == 2000
    # exact is 1980 ms; a sample of ~500 must land near it, never among the small values
    assert got.value_ns is not None and 1900 * MS <= got.value_ns <= 2000 * MS
    if storage.driver == "sqlite":
        assert got.method == "sample"


async def test_purge_deletes_older_rows_in_batches_and_keeps_the_rest(storage: Storage) -> None:
    old = [one_span_trace(i, 1, start=T0 - 10**12) for i in range(25)]
    boundary = one_span_trace(100, 1, start=T0 - 100)  # starts at T0, the cutoff: kept
    new = [one_span_trace(200 + i, 1) for i in range(5)]
    old_log = dataclasses.replace(log(), time_unix_nano=T0 - 10**12)
    old_point = dataclasses.replace(point(), time_unix_nano=T0 - 10**12)
    await storage.write(WriteBatch(spans=[*old, boundary, *new], logs=[old_log, log()],
                                   points=[old_point, point()]))  # fmt: skip
    cutoff = T0  # strictly older rows go
    assert await storage.count_older("spans", cutoff) == 25
    assert await storage.count_older("logs", cutoff) == 1
    deleted = []
    while (n := await storage.purge_batch("spans", cutoff, 10)) > 0:
        assert n <= 10
        deleted.append(n)
    assert sum(deleted) == 25 and len(deleted) == 3
    assert await storage.purge_batch("traces", cutoff, 1000) == 25
    assert await storage.purge_batch("logs", cutoff, 1000) == 1
    assert await storage.purge_batch("metric_points", cutoff, 1000) == 1
    assert await storage.count_rows("spans") == 6
    assert await storage.count_rows("traces") == 6
    assert await storage.get_trace("t1", f"{100:032x}") is not None
    with pytest.raises(ValueError):
        await storage.purge_batch("spans; DROP TABLE spans", cutoff, 10)


async def test_sqlite_ping_does_not_wait_for_a_long_read(tmp_path: Path) -> None:
    # /ready and the health gate ping while an API query holds the reader: the ping
    # answers at once instead of making the database look down.
    from otelctx.storage import plans
    from otelctx.storage.sql_queries import Sql
    from otelctx.storage.sqlite import open_sqlite

    slow = Sql("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 8000000)"
               " SELECT count(*) FROM n")  # fmt: skip  (a few seconds of work)

    def plan() -> plans.Plan[int]:
        rows = yield slow
        return int(rows[0][0])

    async with open_sqlite(str(tmp_path / "db.sqlite")) as storage, trio.open_nursery() as n:
        reading, read_done = trio.Event(), trio.Event()

        async def long_read() -> None:
            reading.set()
            assert await storage.read_plan("slow", plan()) == 8_000_000
            read_done.set()

        n.start_soon(long_read)
        await reading.wait()
        await trio.sleep(0.05)  # the read is running on the reader connection
        with trio.fail_after(30):
            await storage.ping()
        assert not read_done.is_set(), "the ping waited for the long read to finish"


async def test_sqlite_checkpoints_the_wal_beside_the_writer(tmp_path: Path) -> None:
    # Commits leave their pages in the WAL; the checkpoint loop, not the writer, copies
    # them into the database file. Reading the file alone (immutable=1 ignores the WAL)
    # shows the spans once a round has run, well before SQLite's own backstop.
    import sqlite3

    from otelctx.storage.sqlite import open_sqlite

    path = tmp_path / "db.sqlite"

    def in_the_file() -> int:
        uri = path.resolve().as_uri() + "?immutable=1"
        conn = sqlite3.connect(uri, uri=True)
        try:
            return int(conn.execute("SELECT count(*) FROM spans").fetchone()[0])
        except sqlite3.OperationalError:  # not even the schema is in the file yet
            return 0
        finally:
            conn.close()

    async def until_in_the_file(n: int) -> None:
        with trio.fail_after(10):
            for _ in range(1000):
                if in_the_file() >= n:
                    return
                await trio.sleep(0.1)

    async with open_sqlite(str(path)) as storage:
        await storage.write(WriteBatch(spans=[one_span_trace(i, 5) for i in range(200)]))
        assert (path.parent / "db.sqlite-wal").stat().st_size > 0
        await until_in_the_file(200)
        # the next commit goes on while the loop keeps checkpointing
        await storage.write(WriteBatch(spans=[one_span_trace(i, 5) for i in range(200, 300)]))
        await until_in_the_file(300)


async def test_sqlite_busy_timeout_is_how_long_a_locked_commit_waits(tmp_path: Path) -> None:
    # SQLITE_BUSY_TIMEOUT: a commit blocked by another process's lock gives up after it
    # (StorageUnavailable, so the writer sends the batch to the DLQ), not after 5 s.
    import sqlite3

    settings = Settings(db_dsn=str(tmp_path / "db.sqlite"), sqlite_busy_timeout=0.5)
    async with open_storage(settings) as storage:
        lock = sqlite3.connect(settings.db_dsn)
        try:
            lock.execute("BEGIN EXCLUSIVE")
            t0 = trio.current_time()
            with pytest.raises(StorageUnavailable, match="locked"):
                await storage.write(WriteBatch(spans=[one_span_trace(1, 5)]))
            waited = trio.current_time() - t0
            assert 0.4 <= waited < 3, waited
            lock.rollback()
            await storage.write(WriteBatch(spans=[one_span_trace(1, 5)]))
        finally:
            lock.close()
        assert await storage.count_rows("spans") == 1
