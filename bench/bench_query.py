"""Query latency on a SQLite database of a million spans, through the Storage API.

Fills a fresh SQLite file (in a temporary directory unless ``--db`` names one that is
kept and reused) with ``--spans`` spans written by ``Storage.write`` in batches: about 50
services, traces of 5-20 spans spread over the last 2 hours, 5% of spans in error, a log
per 5 spans. Then times each query ``--runs`` times and prints the median and the worst:

- get_trace by id (a different trace each run);
- search_traces by one service over the last hour (limit 20, with the total);
- search_logs by a word of the log bodies (trigram index), with the total;
- dashboard plus p99 over the last hour;
- service_map over the last hour (exact up to 20,000 spans in the window, an even
  sample of about that many above it: see ``plans.SERVICE_MAP_SPAN_CAP``).

Besides the wall-clock median and worst, it prints the median CPU time of the process:
on a machine shared with other work that is the steadier figure.

    .venv/bin/python bench/bench_query.py [--spans 1000000] [--runs 7] [--db path.db]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import trio

from otelctx.model import LogRecord, Scope, SpanKind, SpanRecord, StatusCode
from otelctx.storage.base import Storage, WriteBatch
from otelctx.storage.queries import LogQuery, TraceQuery, TraceSort
from otelctx.storage.sqlite import open_sqlite

TENANT = "default"
HOUR = 3600 * 10**9
SERVICES = [f"svc-{i:02d}" for i in range(50)]
OPERATIONS = ["GET /api/items", "POST /api/orders", "SELECT orders", "publish", "charge",
              "render", "auth.check", "cache.get"]  # fmt: skip
MESSAGES = [
    "request completed in {n} ms", "cache miss for key user:{n}", "retrying after timeout",
    "connection refused by db-{n}", "payment declined for order {n}", "user {n} logged in",
    "slow query took {n} ms", "queue depth {n}",
]  # fmt: skip
BATCH_SPANS = 5000


def traces(total_spans: int, now: int, rnd: random.Random) -> Iterator[list[SpanRecord]]:
    """Traces of 5-20 spans, each span's parent an earlier span of its trace, starting
    over the 2 hours before ``now`` in time order (as spans reach a collector: a trace's
    spans arrive together, shortly after they ran)."""
    resources = {s: {"service.name": s, "host.name": f"node-{i % 7}"}
                 for i, s in enumerate(SERVICES)}  # fmt: skip
    scope = Scope("bench", "1")
    made = 0
    while made < total_spans:
        n = min(rnd.randint(5, 20), total_spans - made)
        trace_id = f"{rnd.getrandbits(128):032x}"
        # ~12.5 spans a trace: spread the expected number of traces over 2 hours
        start = now - 2 * HOUR + min(2 * HOUR - 1, made * 2 * HOUR // total_spans)
        start += rnd.randrange(10**9)
        spans: list[SpanRecord] = []
        for j in range(n):
            parent = spans[rnd.randrange(j)] if j else None
            begin = start if parent is None else parent.start_time_unix_nano + rnd.randint(0, 10**6)
            service = rnd.choice(SERVICES)
            status = StatusCode.ERROR if rnd.random() < 0.05 else StatusCode.UNSET
            spans.append(SpanRecord(
                tenant_id=TENANT, trace_id=trace_id, span_id=f"{j + 1:016x}",
                parent_span_id="" if parent is None else parent.span_id, service_name=service,
                name=rnd.choice(OPERATIONS), kind=SpanKind.SERVER, start_time_unix_nano=begin,
                end_time_unix_nano=begin + int(rnd.lognormvariate(16, 1.2)), status_code=status,
                status_message="boom" if status is StatusCode.ERROR else "", trace_state="",
                attributes={"http.method": "GET", "http.status_code": 500 if status else 200,
                            "user.id": rnd.randrange(10_000), "cache.hit": rnd.random() < 0.5},
                resource=resources[service], scope=scope, events=(), links=(),
            ))  # fmt: skip
        made += n
        yield spans


def log_for(s: SpanRecord, rnd: random.Random) -> LogRecord:
    error = s.status_code is StatusCode.ERROR
    return LogRecord(
        tenant_id=TENANT, service_name=s.service_name, time_unix_nano=s.start_time_unix_nano,
        observed_time_unix_nano=s.start_time_unix_nano, severity_number=17 if error else 9,
        severity_text="ERROR" if error else "INFO",
        body=rnd.choice(MESSAGES).format(n=rnd.randrange(100_000)), attributes={},
        resource=s.resource, scope=s.scope, trace_id=s.trace_id, span_id=s.span_id, flags=0,
    )  # fmt: skip


async def fill(storage: Storage, total_spans: int, now: int) -> list[str]:
    rnd = random.Random(42)
    spans: list[SpanRecord] = []
    logs: list[LogRecord] = []
    trace_ids: list[str] = []
    written = 0
    t0 = time.monotonic()
    for trace in traces(total_spans, now, rnd):
        trace_ids.append(trace[0].trace_id)
        spans += trace
        logs += [log_for(s, rnd) for s in trace[::5]]
        if len(spans) >= BATCH_SPANS:
            await storage.write(WriteBatch(spans=spans, logs=logs))
            written += len(spans)
            spans, logs = [], []
            if written % 100_000 < BATCH_SPANS:
                print(f"  {written:,} spans written", flush=True)
    if spans:
        await storage.write(WriteBatch(spans=spans, logs=logs))
    print(f"\r  {total_spans:,} spans written in {time.monotonic() - t0:.0f} s")
    return trace_ids


async def timed(
    runs: int, call: Callable[[int], Awaitable[Any]]
) -> tuple[float, float, float, Any]:
    """Median and worst wall milliseconds of ``runs`` calls (after one warm-up call), and
    the median CPU milliseconds of this process (all threads: SQLite works in a worker
    thread), which other load on a shared machine does not inflate."""
    result = await call(-1)
    walls, cpus = [], []
    for i in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        result = await call(i)
        walls.append((time.perf_counter() - t0) * 1000)
        cpus.append((time.process_time() - c0) * 1000)
    return statistics.median(walls), max(walls), statistics.median(cpus), result


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(args.db) if args.db else Path(tmp) / "bench.db"
        reuse = path.exists()
        async with open_sqlite(str(path)) as storage:
            if reuse:
                print(f"reusing {path}")
                found = await storage.search_traces(TraceQuery(tenant_id=TENANT, limit=1000))
                trace_ids = [r.summary.trace_id for r in found.items]
                newest = await storage.latency_points(TENANT, 0, 2**62, (), 1)
                now = newest[0].time_ns + 1 if newest else time.time_ns()
            else:
                now = time.time_ns()
                print(f"filling {path} with {args.spans:,} spans")
                trace_ids = await fill(storage, args.spans, now)
            stats = await storage.stats(TENANT)
            print(f"  {stats.spans:,} spans, {stats.traces:,} traces, {stats.logs:,} logs, "
                  f"{stats.db_size_bytes / 2**20:,.0f} MiB")  # fmt: skip
            rnd = random.Random(7)
            hour = (now - HOUR, now + 1)
            q_traces = TraceQuery(tenant_id=TENANT, services=("svc-07",), start_ns=hour[0],
                                  end_ns=hour[1], limit=20)  # fmt: skip
            q_logs = LogQuery(tenant_id=TENANT, search="timeout", limit=50)
            q_slowest = TraceQuery(tenant_id=TENANT, sort=TraceSort.DURATION, limit=20)
            q_slow_hour = TraceQuery(tenant_id=TENANT, min_duration_ns=400_000_000,
                                     start_ns=hour[0], end_ns=hour[1], limit=20)  # fmt: skip

            async def dashboard(_: int) -> Any:
                d = await storage.dashboard(TENANT, *hour, ())
                p = await storage.p99_duration(TENANT, *hour, row_cap=200_000)
                return d.total_traces, p.method

            cases: list[tuple[str, float, Callable[[int], Awaitable[Any]]]] = [
                ("get_trace by id", 10,
                 lambda i: storage.get_trace(TENANT, rnd.choice(trace_ids))),
                ("search_traces service + 1 h, limit 20", 300,
                 lambda i: storage.search_traces(q_traces)),
                ("search_traces slowest 20, all time", 300,
                 lambda i: storage.search_traces(q_slowest)),
                ("search_traces >= 400 ms + 1 h, limit 20", 300,
                 lambda i: storage.search_traces(q_slow_hour)),
                ("search_logs 'timeout', limit 50", 300, lambda i: storage.search_logs(q_logs)),
                ("dashboard + p99, 1 h", 300, dashboard),
                ("service_map, 1 h", 300, lambda i: storage.service_map(TENANT, *hour)),
            ]  # fmt: skip
            print(f"\n{'query':40} {'median ms':>10} {'worst ms':>9} {'cpu ms':>7} "
                  f"{'target':>7}  result")  # fmt: skip
            for name, target, call in cases:
                median, worst, cpu, result = await timed(args.runs, call)
                shown = describe(result)
                mark = "ok" if median < target else "MISSED"
                print(f"{name:40} {median:10.1f} {worst:9.1f} {cpu:7.1f} {target:>5.0f}ms  "
                      f"{mark} {shown}")  # fmt: skip


def describe(result: Any) -> str:
    if hasattr(result, "total"):
        return f"total={result.total:,} items={len(result.items)}"
    if hasattr(result, "edges"):
        return (f"nodes={len(result.nodes)} edges={len(result.edges)} "
                f"sample_rate={result.sample_rate:.3f}")  # fmt: skip
    if hasattr(result, "spans"):
        return f"spans={len(result.spans)}"
    return str(result)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--db", help="keep the database here (reused if it exists)")
    trio.run(main, parser.parse_args())
