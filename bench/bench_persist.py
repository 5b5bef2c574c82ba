"""What schema version 3 costs and gives: the spans' start-time index, the graph's
rebuild read, the DLQ replay key.

For each backend asked for, on a fresh database, through the Storage API:

1. write ``--spans`` spans (bench_query's traces: ~50 services, 5-20 spans a trace, 5%
   errors) in batches of 5,000, once with the schema as it is and once with the spans'
   start-time index dropped: the index's ingest cost (spans/s, wall clock and process CPU);
2. read them all back as the graph's rebuild does (``graph_persistence().spans_since``,
   pages of 5,000 from the start): spans/s;
3. write ``--replays`` small DLQ-sized batches (50 spans, 20 logs) with and without a
   replay key: the key's cost per batch.

SQLite always (a temporary file); PostgreSQL and MySQL only with ``--pg-dsn`` /
``--mysql-dsn``, whose otelctx tables are DROPPED first: point them at a scratch
database.

    .venv/bin/python bench/bench_persist.py [--spans 200000] [--replays 200]
        [--pg-dsn postgresql://...] [--mysql-dsn mysql://...]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import trio
import trio_asyncio
from bench_query import log_for, traces

from otelctx.config import Settings
from otelctx.graph.persist import Mark
from otelctx.model import SpanRecord
from otelctx.storage import open_storage
from otelctx.storage.base import Storage, WriteBatch
from otelctx.storage.sql_queries import Change, Sql

BATCH = 5000
PAGE = 5000
TABLES = ("spans", "traces", "logs", "logs_fts", "metric_points", "investigations",
          "graph_snapshots", "drain_templates", "dlq_replays", "schema_version")  # fmt: skip
START_INDEX = {"sqlite": "idx_spans_start", "postgres": "idx_spans_start_id",
               "mysql": "idx_spans_start"}  # fmt: skip


def batches(total: int, now: int) -> list[list[SpanRecord]]:
    out: list[list[SpanRecord]] = []
    current: list[SpanRecord] = []
    for trace in traces(total, now, random.Random(42)):
        current += trace
        if len(current) >= BATCH:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return out


async def drop_tables(driver: str, dsn: str) -> None:
    """A fresh database: otelctx's tables dropped (SQLite: the file removed)."""
    if driver == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            await trio.Path(dsn + suffix).unlink(missing_ok=True)
        return
    if driver == "postgres":
        import asyncpg

        async def drop() -> None:
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute(f"DROP TABLE IF EXISTS {', '.join(TABLES)} CASCADE")
            finally:
                await conn.close()
    else:
        import asyncmy

        from otelctx.storage.mysql import _connect_kwargs, parse_dsn

        kwargs = _connect_kwargs(parse_dsn(dsn), Settings(db_driver="mysql", db_dsn=dsn))

        async def drop() -> None:
            conn = await asyncmy.connect(**kwargs)
            try:
                async with conn.cursor() as cur:
                    await cur.execute(f"DROP TABLE IF EXISTS {', '.join(TABLES[:3] + TABLES[4:])}")
            finally:
                conn.close()

    await trio_asyncio.aio_as_trio(drop)()


@asynccontextmanager
async def opened(driver: str, dsn: str) -> AsyncIterator[Storage]:
    settings = Settings(db_driver=driver, db_dsn=dsn, db_max_open_conns=8, db_connect_timeout=5)
    async with open_storage(settings, migrate=True) as storage:
        yield storage


def _statement(text: str) -> Generator[Sql, Any, None]:
    yield Change(text)


async def drop_start_index(storage: Storage, driver: str) -> None:
    name = START_INDEX[driver]
    text = f"DROP INDEX {name} ON spans" if driver == "mysql" else f"DROP INDEX {name}"
    await storage.write_plan("drop index", _statement(text))  # type: ignore[attr-defined]


async def timed_writes(
    storage: Storage, work: list[WriteBatch], key_prefix: str | None = None
) -> tuple[float, float]:
    t0, c0 = time.perf_counter(), time.process_time()
    for i, batch in enumerate(work):
        key = None if key_prefix is None else f"{key_prefix}{i:060d}"
        await storage.write(batch, replay_key=key)
    return time.perf_counter() - t0, time.process_time() - c0


async def bench_driver(driver: str, dsn: str, spans: int, replays: int) -> None:
    now = time.time_ns()
    work = [WriteBatch(spans=b) for b in batches(spans, now)]
    n = sum(len(b.spans) for b in work)
    for with_index in (False, True):
        await drop_tables(driver, dsn)
        async with opened(driver, dsn) as storage:
            if not with_index:
                await drop_start_index(storage, driver)
            wall, cpu = await timed_writes(storage, work)
            label = "with" if with_index else "without"
            print(f"{driver:8} write {n} spans {label:7} the start-time index: "
                  f"{n / wall:9,.0f} spans/s  (cpu {cpu:5.1f} s, wall {wall:5.1f} s)",
                  flush=True)  # fmt: skip
            if with_index:
                await rebuild_read(storage, driver, n)
                await replay_keys(storage, driver, replays, now)


async def rebuild_read(storage: Storage, driver: str, n: int) -> None:
    p = storage.graph_persistence()
    mark, read = Mark(0, 0), 0
    t0 = time.perf_counter()
    while True:
        page = await p.spans_since(mark, PAGE)
        read += len(page.spans)
        mark = page.mark
        if len(page.spans) < PAGE:
            break
    wall = time.perf_counter() - t0
    assert read == n, (read, n)
    print(f"{driver:8} rebuild read (spans_since, pages of {PAGE}): "
          f"{read / wall:9,.0f} spans/s  ({wall:5.2f} s)", flush=True)  # fmt: skip


async def replay_keys(storage: Storage, driver: str, replays: int, now: int) -> None:
    """DLQ-sized batches (50 spans, 20 logs) not stored yet, half without a key."""
    rnd = random.Random(7)
    spans = [s for t in traces(replays * 2 * 50, now + 10**12, rnd) for s in t]
    small = [WriteBatch(spans=spans[i : i + 50], logs=[log_for(s, rnd) for s in spans[i : i + 20]])
             for i in range(0, len(spans) - 49, 50)]  # fmt: skip
    half = len(small) // 2
    plain, _ = await timed_writes(storage, small[:half])
    keyed, _ = await timed_writes(storage, small[half:], key_prefix="k")
    print(f"{driver:8} DLQ-sized batches (50 spans, 20 logs), {half} each: "
          f"{plain / half * 1e3:6.2f} ms a batch without a replay key, "
          f"{keyed / half * 1e3:6.2f} ms with one", flush=True)  # fmt: skip


async def main(args: argparse.Namespace) -> None:
    async with trio_asyncio.open_loop():
        with tempfile.TemporaryDirectory() as tmp:
            targets = [("sqlite", str(Path(tmp) / "bench.db"))]
            if args.pg_dsn:
                targets.append(("postgres", args.pg_dsn))
            if args.mysql_dsn:
                targets.append(("mysql", args.mysql_dsn))
            for driver, dsn in targets:
                await bench_driver(driver, dsn, args.spans, args.replays)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--spans", type=int, default=200_000)
    ap.add_argument("--replays", type=int, default=200)
    ap.add_argument("--pg-dsn")
    ap.add_argument("--mysql-dsn")
    trio.run(main, ap.parse_args())
