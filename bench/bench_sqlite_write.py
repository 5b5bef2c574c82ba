"""SQLite write cost per span, by statement: the writer alone, no server, no contention.

    .venv/bin/python bench/bench_sqlite_write.py [--spans 300000] [--commit 1000]
        [--pragma "PRAGMA wal_autocheckpoint=0"] [--drop-index idx_traces_tenant_duration_class]
        [--wal-pages]

Builds load-test-shaped spans (``loadtest``'s 200 services: 5 operations, 5% errors,
every 10th trace a parent with 1-3 children), decodes them as the server does, then
writes them into a fresh file through ``SqliteStorage``'s own write path in commits of
``--commit`` / 2 to 1.5 x ``--commit`` spans (group commits vary in size), timing every
statement. ``--pragma`` runs on the writer connection first; ``--drop-index`` drops an
index first (an experiment: the queries that need it get slower).

No checkpoint loop runs here (nothing yields to Trio between commits), so the only
checkpoints are SQLite's own, in the commits: ``--pragma "PRAGMA wal_autocheckpoint=1000"``
(SQLite's default) is the writer before checkpoints moved beside it, ``--pragma "PRAGMA
wal_autocheckpoint=0"`` the writer's share after (the defaults keep the 128 MiB backstop).

``--wal-pages`` turns checkpoints off and also prints the WAL pages written per span over
the second half of the run (a fuller database, as in a long run): what each commit costs
in page writes, the deterministic figure where CPU times are noisy. The WAL then grows to
about 1.3 pages (5 KiB) per span in the temporary directory.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trio

from loadtest.build import RequestBuilder
from loadtest.shape import TraceShaper
from otelctx.model import SpanRecord
from otelctx.otlp import Encoding, IngestPolicy, decode_traces
from otelctx.storage.base import WriteBatch
from otelctx.storage.sqlite import open_sqlite


def make_spans(n: int) -> list[SpanRecord]:
    builder = RequestBuilder()
    shapers = [TraceShaper(i, 200, b"bench0", 1) for i in range(200)]
    now = time.time_ns()
    out: list[SpanRecord] = []
    k = 0
    while len(out) < n:
        planned = []
        while len(planned) < 50:
            planned += shapers[k % 200].next_trace(now + k * 1_000_000)
        body = builder.traces(planned).body
        out += decode_traces(body, Encoding.PROTOBUF, IngestPolicy(tenant="default")).records
        k += 1
    return out[:n]


class Timed:
    """The writer connection, timing each statement by its first words."""

    def __init__(self, conn: sqlite3.Connection, spent: Counter[str]) -> None:
        self.conn = conn
        self.spent = spent

    @property
    def in_transaction(self) -> bool:
        return self.conn.in_transaction

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        t0 = time.perf_counter()
        cursor = self.conn.execute(sql, *args)
        self.spent[" ".join(sql.split()[:3])] += time.perf_counter() - t0
        return cursor


def _size(path: str) -> int:
    """A file's size (the bench writes synchronously in its Trio task anyway)."""
    return os.path.getsize(path)


async def run(args: argparse.Namespace, spans: list[SpanRecord], path: Path) -> None:
    spent: Counter[str] = Counter()
    async with open_sqlite(str(path)) as storage:
        writer = storage._writer
        for pragma in args.pragma:
            writer.execute(pragma).fetchall()
        for index in args.drop_index:
            writer.execute(f"DROP INDEX {index}")
        if args.wal_pages:
            writer.execute("PRAGMA wal_autocheckpoint=0").fetchall()
        page_size = writer.execute("PRAGMA page_size").fetchone()[0]
        wal = f"{path}-wal"
        storage._writer = Timed(writer, spent)  # type: ignore[assignment]
        rnd = random.Random(5)
        pos = 0
        half: tuple[int, int] | None = None
        wall0, cpu0 = time.perf_counter(), time.process_time()
        while pos < len(spans):
            size = rnd.randint(args.commit // 2, args.commit * 3 // 2)
            storage._write_sync(WriteBatch(spans=spans[pos : pos + size]))
            pos += size
            if half is None and pos >= len(spans) // 2:
                half = pos, _size(wal)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        storage._writer = writer
        frames = 0.0
        if half is not None and pos > half[0]:
            frames = (_size(wal) - half[1]) / (page_size + 24) / (pos - half[0])
    n = len(spans)
    label = " ".join(args.pragma + [f"without {i}" for i in args.drop_index]) or "defaults"
    print(f"{label}: {n / wall:,.0f} spans/s; per span {wall / n * 1e6:.1f} us wall, "
          f"{cpu / n * 1e6:.1f} us CPU")  # fmt: skip
    for what, seconds in spent.most_common(4):
        print(f"  {seconds / n * 1e6:6.1f} us  {what}")
    if args.wal_pages:  # a frame is a page and its 24-byte header
        print(f"  {frames:6.2f} WAL pages written per span (second half)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spans", type=int, default=300_000)
    ap.add_argument("--commit", type=int, default=1000, help="mean spans per commit")
    ap.add_argument("--pragma", action="append", default=[])
    ap.add_argument("--drop-index", action="append", default=[])
    ap.add_argument("--wal-pages", action="store_true", help="no checkpoints; count WAL pages")
    args = ap.parse_args()
    spans = make_spans(args.spans)
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        trio.run(run, args, spans, Path(tmp) / "bench.db")


if __name__ == "__main__":
    main()
